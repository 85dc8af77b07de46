"""Hardware profiles (a named set of distortions) and the emulator that runs a network under one.

A layer's forward pass on a distorted substrate, in the order a spike experiences it:

    received  = the previous layer's emitted spikes after transmission (input noise, loss)
    inputs    = received + the bias spike
    weights   = the weights as stored (quantized, clipped)
    c_bm      = c * fixed-pattern factor_m * trial factor_bm        (thresholds)
    tau_m,m   = tau_m * factor_m,  tau_s,m = tau_s * factor'_m     (time constants)
    T         = first crossing of sum_i w_im kappa_m(T - t_i) = c_bm   (+inf for dead neurons)
    emitted   = T with output jitter

Where all neurons share their parameters the core's first_spike_times solves the layer (fast,
exact); otherwise ttfs_lab.hardware.per_neuron does (same algorithm, parameters per neuron).
"""
from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass

import torch

from ..network import append_bias_spike
from ..params import NeuronParams
from ..spike_times import first_spike_times
from .distortions import (
    Distortion, InputNoise, NeuronDeviation, OutputJitter, SpikeLoss, ThresholdMismatch, ThresholdNoise,
    TimeConstantMismatch, WeightClipping, WeightQuantization,
)
from .delays import delayed_per_neuron_times, layer_delays, realised_delays, stored_delays
from .per_neuron import per_neuron_spike_times

# The paper's mapping of model weights to BrainScaleS-2 hardware weights: hw = round(30 w),
# clipped to the 6-bit range +-63.
HW_PER_WEIGHT = 30.0
HW_MAX = 63


@dataclass(frozen=True)
class HardwareModel:
    """A hardware profile: distortions applied in the forward pass, with a name.

    >>> HardwareModel("mine", (ThresholdNoise(0.05),)).distortions[0].strength
    0.05
    """

    name: str = "ideal"
    distortions: tuple = ()
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "distortions", tuple(self.distortions))
        for d in self.distortions:
            if not isinstance(d, Distortion):
                raise ValueError(f"HardwareModel.distortions must hold Distortion objects, got {d!r}")

    def with_seed(self, seed: int) -> "HardwareModel":
        """The same profile on another chip: every random distortion gets this seed."""
        return dataclasses.replace(self, distortions=tuple(
            dataclasses.replace(d, seed=int(seed)) if hasattr(d, "seed") else d for d in self.distortions
        ))

    def without_weight_distortions(self) -> "HardwareModel":
        """The analog part only (a chip that maps weights itself drops quantization/clipping)."""
        kept = tuple(d for d in self.distortions if not isinstance(d, (WeightQuantization, WeightClipping)))
        return dataclasses.replace(self, distortions=kept)

    @property
    def is_ideal(self) -> bool:
        return all(_is_identity(d) for d in self.distortions)


def _is_identity(d) -> bool:
    return (isinstance(d, WeightClipping) and math.isinf(d.limit)) or (not isinstance(d, WeightClipping) and d.strength == 0)


_WEIGHTS_6BIT = (WeightQuantization(1.0 / HW_PER_WEIGHT), WeightClipping(HW_MAX / HW_PER_WEIGHT))

PROFILES = {
    "ideal": HardwareModel("ideal", (), "the ideal model: no distortion at all"),
    "bss2": HardwareModel(
        "BrainScaleS-2 (calibrated)",
        _WEIGHTS_6BIT + (
            ThresholdMismatch(0.08), TimeConstantMismatch(0.03), ThresholdNoise(0.04), OutputJitter(0.01),
        ),
        "BrainScaleS-2 after calibration (Göltz et al. 2021): 6-bit weights (step 1/30, +-2.1), fixed-pattern threshold 8 %, "
        "time constants 3 %, trial-to-trial threshold noise 4 %, output jitter 0.01 tau_s",
    ),
    "uncalibrated": HardwareModel(
        "BrainScaleS-2 (uncalibrated)",
        _WEIGHTS_6BIT + (
            ThresholdMismatch(0.3), TimeConstantMismatch(0.2), ThresholdNoise(0.04), OutputJitter(0.01),
        ),
        "as bss2 but without calibration: fixed-pattern threshold 30 %, time constants 20 %",
    ),
    "noisy": HardwareModel(
        "BrainScaleS-2 (noisy)",
        _WEIGHTS_6BIT + (
            ThresholdMismatch(0.08), TimeConstantMismatch(0.03), ThresholdNoise(0.1), OutputJitter(0.05),
            InputNoise(0.1), SpikeLoss(0.01),
        ),
        "calibrated fixed pattern, but 2.5x the trial-to-trial threshold noise, 5x the jitter, "
        "input noise 0.1 tau_s and 1 % lost spikes",
    ),
}
_ALIASES = {"brainscales-2 (calibrated)": "bss2", "brainscales-2": "bss2", "brainscales2": "bss2"}


def profile(name) -> HardwareModel:
    """A preset by key ("ideal", "bss2", "uncalibrated", "noisy") or by its display name."""
    if isinstance(name, HardwareModel):
        return name
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    for k, p in PROFILES.items():
        if p.name.lower() == key:
            key = k
    if key not in PROFILES:
        raise ValueError(f"unknown hardware profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[key]


def stored_weights(weights, distortions) -> list[torch.Tensor]:
    """The weights as a substrate stores them (static weight distortions applied in order)."""
    out = []
    for layer, w in enumerate(weights):
        w = w.detach()
        for d in distortions:
            w = d.weights(w, layer)
        out.append(w)
    return out


def neuron_deviation(distortions, layer: int, n: int, dtype) -> NeuronDeviation:
    """The layer's fixed pattern, drawn in float64 and then rounded to ``dtype``: torch's
    random draws in float32 are other numbers (not the float64 ones rounded), so a float32
    network (a view's faster copy) would otherwise run on another chip."""
    deviation = NeuronDeviation.nominal(n, torch.float64)
    for d in distortions:
        part = d.fixed_pattern(layer, n, torch.float64)
        if part is not None:
            deviation = deviation.combine(part)
    if dtype == torch.float64:
        return deviation
    return NeuronDeviation(deviation.threshold.to(dtype), deviation.tau_m.to(dtype), deviation.tau_s.to(dtype),
                           deviation.alive)


def distorted_layer(input_times, weight, params: NeuronParams, bias_time: float, layer: int,
                    distortions, rngs, deviation: NeuronDeviation | None = None, delays=None,
                    delay_kind=None) -> torch.Tensor:
    """One layer's emitted spike times [B, M] under the distortions (module docstring).

    ``weight`` [N + 1, M] is used as given (apply weight distortions before); ``rngs`` holds
    one trial generator per distortion; ``deviation`` the layer's fixed pattern (computed
    from the distortions if None); ``delays`` the delays the chip's delay lines realise
    (ttfs_lab.hardware.delays), of ``delay_kind`` "synaptic" or "axonal", or None.
    """
    n_out = weight.shape[1]
    received = input_times
    for d, rng in zip(distortions, rngs):
        received = d.received(received, layer, rng)
    x = append_bias_spike(received, bias_time)
    if deviation is None:
        deviation = neuron_deviation(distortions, layer, n_out, weight.dtype)
    trial = None
    for d, rng in zip(distortions, rngs):
        factor = d.threshold_trial((x.shape[0], n_out), rng, weight.dtype)
        if factor is not None:
            trial = factor if trial is None else trial * factor
    with torch.no_grad():
        if delays is not None:
            c = params.c * deviation.threshold[None, :] * (trial if trial is not None else 1.0)
            times = delayed_per_neuron_times(x, weight, delays, delay_kind, params.tau_m * deviation.tau_m,
                                             params.tau_s * deviation.tau_s, c)
        elif trial is None and not deviation.heterogeneous_tau and bool((deviation.threshold == 1).all()):
            times = first_spike_times(x, weight, params)
        else:
            c = params.c * deviation.threshold[None, :]
            if trial is not None:
                c = c * trial
            times = per_neuron_spike_times(x, weight, params.tau_m * deviation.tau_m, params.tau_s * deviation.tau_s, c)
    times = torch.where(deviation.alive[None, :], times, torch.full_like(times, math.inf))
    for d, rng in zip(distortions, rngs):
        times = d.emitted(times, rng)
    return times


class Emulator:
    """Runs networks on a substrate described by a HardwareModel; measures spike times.

    Usable as a Trainer substrate for evaluation (forward only; for training wrap it in
    ttfs_lab.hardware.InTheLoop). Fixed-pattern deviations are constant for the emulator's
    lifetime (and equal for equal seeds); trial-to-trial noise is redrawn on every run.

    >>> emu = Emulator("bss2", seed=3)                                       # doctest: +SKIP
    >>> times = emu.spike_times(network, x)    # [x, hidden, output], measured
    """

    def __init__(self, model="ideal", seed: int | None = None):
        model = profile(model)
        self.model = model.with_seed(seed) if seed is not None else model
        self.seed = seed
        self._rngs = [
            torch.Generator().manual_seed(zlib.crc32(f"trial:{d.name}:{getattr(d, 'seed', 0)}:{i}".encode()))
            for i, d in enumerate(self.model.distortions)
        ]
        self._deviations = {}
        self.runs = 0  # samples run so far

    @property
    def distortions(self):
        return self.model.distortions

    def deviation(self, layer: int, n: int, dtype=torch.float64) -> NeuronDeviation:
        """The fixed pattern of a layer's neurons on this emulator (cached: it never changes)."""
        key = (layer, n, dtype)
        if key not in self._deviations:
            self._deviations[key] = neuron_deviation(self.distortions, layer, n, dtype)
        return self._deviations[key]

    def stored_weights(self, network) -> list[torch.Tensor]:
        """Model-unit weights as the substrate holds them."""
        return stored_weights(network.weights(), self.distortions)

    def weight_limits(self, network) -> list[float]:
        """Largest representable |w| per layer (inf if unlimited)."""
        limits = [d.limit for d in self.distortions if isinstance(d, WeightClipping)]
        return [min(limits, default=math.inf)] * len(network.layers)

    @torch.no_grad()
    def run(self, network, input_times, weights=None) -> list[torch.Tensor]:
        """Measured [input, hidden..., output] spike times (input as sent, others as emitted)."""
        weights = self.stored_weights(network) if weights is None else weights
        x = torch.as_tensor(input_times, dtype=network.dtype)
        if x.dim() != 2 or x.shape[1] != network.sizes[0]:
            raise ValueError(f"input times must have shape [batch, {network.sizes[0]}], got {tuple(x.shape)}")
        times = [x]
        for layer, w in enumerate(weights):
            deviation = self.deviation(layer, w.shape[1], w.dtype)
            kind, delay = layer_delays(network, layer)
            realised = None if delay is None else realised_delays(stored_delays(delay), self.seed or 0, layer)
            times.append(distorted_layer(times[-1], w, network.params, network.bias_time, layer,
                                         self.distortions, self._rngs, deviation, realised, kind))
        self.runs += x.shape[0]
        return times

    # Trainer substrate interface (evaluation / deployment; no gradients).
    def spike_times(self, network, input_times):
        return self.run(network, input_times)

    def after_update(self, network):
        pass

    def __repr__(self):
        return f"Emulator({self.model.name!r}, seed={self.seed})"
