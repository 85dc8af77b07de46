"""What an analog substrate does to a network: small, composable distortions.

Each distortion is a frozen dataclass with one ``strength`` (its physical amount, 0 = off)
and, if it is random, a ``seed``. It acts through one of five hooks of the forward pass;
every hook defaults to the identity, so a distortion only overrides what it changes:

    weights(w, layer)                 the weights as stored (static: quantization, clipping)
    fixed_pattern(layer, n)           per-neuron deviations, drawn once per chip from the seed
    received(times, layer, rng)       the spikes that arrive at a layer (input noise, loss)
    threshold_trial(shape, rng)       per-run threshold factors (trial-to-trial noise)
    emitted(times, rng)               the spike times a neuron's output shows (jitter)

Fixed-pattern draws depend only on (distortion type, seed, layer), never on the data or on
how often the chip ran: the same seed is the same chip. Trial-to-trial draws come from a
generator that the emulator advances with every run.

The one exception to "strength 0 = off" is WeightClipping, whose knob is the clipping
limit itself: it is the identity at ``limit = inf``.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import torch

# A physical threshold (or time constant) cannot cross zero; with large mismatch a normal draw
# could. Deviations are floored at this fraction of the nominal value.
_MIN_FACTOR = 0.05


@dataclass(frozen=True)
class NeuronDeviation:
    """Per-neuron multiplicative factors of a layer (1 = nominal) and which neurons work."""

    threshold: torch.Tensor
    tau_m: torch.Tensor
    tau_s: torch.Tensor
    alive: torch.Tensor

    @classmethod
    def nominal(cls, n: int, dtype=torch.float64) -> "NeuronDeviation":
        one = torch.ones(n, dtype=dtype)
        return cls(one, one.clone(), one.clone(), torch.ones(n, dtype=torch.bool))

    def combine(self, other: "NeuronDeviation") -> "NeuronDeviation":
        return NeuronDeviation(
            self.threshold * other.threshold, self.tau_m * other.tau_m, self.tau_s * other.tau_s,
            self.alive & other.alive,
        )

    @property
    def heterogeneous_tau(self) -> bool:
        return not (bool((self.tau_m == 1).all()) and bool((self.tau_s == 1).all()))


def fixed_generator(kind: str, seed: int, layer: int) -> torch.Generator:
    """Generator for the fixed pattern of one layer: a stable function of its arguments
    (crc32, not Python's salted hash, so chips are the same across processes)."""
    key = zlib.crc32(f"{kind}:{int(seed)}:{int(layer)}".encode())
    return torch.Generator().manual_seed(key)


class Distortion:
    """Base class: every hook is the identity."""

    # Drawn once per chip (True) or per run (False); the in-the-loop study uses it.
    fixed = False

    def weights(self, w: torch.Tensor, layer: int) -> torch.Tensor:
        return w

    def fixed_pattern(self, layer: int, n: int, dtype=torch.float64) -> NeuronDeviation | None:
        return None

    def received(self, times: torch.Tensor, layer: int, rng: torch.Generator) -> torch.Tensor:
        return times

    def threshold_trial(self, shape, rng: torch.Generator, dtype=torch.float64) -> torch.Tensor | None:
        return None

    def emitted(self, times: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return times

    @property
    def name(self) -> str:
        return _snake(type(self).__name__)


def _check_strength(value, name, upper=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or math.isnan(value):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}, got {value!r}")


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")


def _snake(name: str) -> str:
    return "".join("_" + ch.lower() if ch.isupper() and i else ch.lower() for i, ch in enumerate(name))


# ---------------------------------------------------------------- static: stored weights
@dataclass(frozen=True)
class WeightQuantization(Distortion):
    """Weights stored with finite resolution: w -> strength * round(w / strength).

    Physically: a synapse holds a small integer (6 bits on BrainScaleS-2: 0..63 per sign,
    the sign coming from an excitatory/inhibitory row pair) times a fixed analog gain. With
    the paper's mapping hw = round(30 w) the step is 1/30. ``strength`` is the step in
    weight units; 0 keeps full precision. ``from_bits`` builds the step from a bit count
    and a range.
    """

    strength: float = 0.0

    def __post_init__(self):
        _check_strength(self.strength, "WeightQuantization.strength (the step)")

    @classmethod
    def from_bits(cls, bits: int, limit: float) -> "WeightQuantization":
        """Step of a signed weight whose magnitude has ``bits`` bits spanning [0, limit]:
        limit / (2**bits - 1); 6 bits and limit 63/30 give the paper's 1/30."""
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValueError(f"bits must be a positive integer, got {bits!r}")
        if not limit > 0:
            raise ValueError(f"limit must be positive, got {limit!r}")
        return cls(limit / (2**bits - 1))

    def weights(self, w, layer):
        if self.strength == 0:
            return w
        return torch.round(w / self.strength) * self.strength


@dataclass(frozen=True)
class WeightClipping(Distortion):
    """Weights limited to [-limit, limit]: w -> clamp(w, -limit, limit).

    Physically: the largest synaptic current a synapse circuit can deliver (63 hardware
    units = 2.1 in model units on BrainScaleS-2 with the paper's mapping). ``limit = inf``
    is the identity.
    """

    limit: float = math.inf

    def __post_init__(self):
        if isinstance(self.limit, bool) or not isinstance(self.limit, (int, float)) or not self.limit > 0:
            raise ValueError(f"WeightClipping.limit must be positive (inf = no clipping), got {self.limit!r}")

    @property
    def strength(self) -> float:
        return self.limit

    def weights(self, w, layer):
        if math.isinf(self.limit):
            return w
        return torch.clamp(w, -self.limit, self.limit)


# ---------------------------------------------------------------- fixed pattern (per chip)
@dataclass(frozen=True)
class ThresholdMismatch(Distortion):
    """Fixed-pattern threshold deviations: c_m = c (1 + strength z_m), z_m ~ N(0, 1) drawn
    once per neuron and chip (seed).

    Physically: transistor mismatch gives every neuron circuit its own threshold (relative
    to its leak potential); calibration shrinks it (about 0.08 on BrainScaleS-2) but cannot
    remove it. Floored at 5 % of nominal so that a threshold never drops to the leak.
    """

    strength: float = 0.0
    seed: int = 0
    fixed = True

    def __post_init__(self):
        _check_strength(self.strength, "ThresholdMismatch.strength")
        _check_seed(self.seed)

    def fixed_pattern(self, layer, n, dtype=torch.float64):
        if self.strength == 0:
            return None
        z = torch.randn(n, generator=fixed_generator(self.name, self.seed, layer), dtype=dtype)
        nominal = NeuronDeviation.nominal(n, dtype)
        return NeuronDeviation(torch.clamp(1 + self.strength * z, min=_MIN_FACTOR), nominal.tau_m, nominal.tau_s, nominal.alive)


@dataclass(frozen=True)
class TimeConstantMismatch(Distortion):
    """Fixed-pattern time constants: tau_m,m = tau_m (1 + strength z_m), tau_s,m = tau_s
    (1 + strength z'_m), independent normal draws per neuron and chip.

    Physically: the membrane and synaptic time constants are set by bias currents through
    mismatched transistors; after calibration they still scatter by a few percent. Since
    tau_m and tau_s deviate independently, tau_m != tau_s for every neuron: the kernel's
    shape changes and the emulator needs the general-ratio solver (per_neuron.py).
    """

    strength: float = 0.0
    seed: int = 0
    fixed = True

    def __post_init__(self):
        _check_strength(self.strength, "TimeConstantMismatch.strength")
        _check_seed(self.seed)

    def fixed_pattern(self, layer, n, dtype=torch.float64):
        if self.strength == 0:
            return None
        z = torch.randn(2, n, generator=fixed_generator(self.name, self.seed, layer), dtype=dtype)
        factors = torch.clamp(1 + self.strength * z, min=_MIN_FACTOR)
        nominal = NeuronDeviation.nominal(n, dtype)
        return NeuronDeviation(nominal.threshold, factors[0], factors[1], nominal.alive)


@dataclass(frozen=True)
class DeadNeurons(Distortion):
    """A fraction ``strength`` of the neurons never spikes (drawn once per chip).

    Physically: defective or uncalibratable neuron circuits. Draws are nested: a neuron dead
    at strength p is dead at every strength above p (same seed).
    """

    strength: float = 0.0
    seed: int = 0
    fixed = True

    def __post_init__(self):
        _check_strength(self.strength, "DeadNeurons.strength (a fraction)", upper=1.0)
        _check_seed(self.seed)

    def fixed_pattern(self, layer, n, dtype=torch.float64):
        if self.strength == 0:
            return None
        u = torch.rand(n, generator=fixed_generator(self.name, self.seed, layer), dtype=dtype)
        nominal = NeuronDeviation.nominal(n, dtype)
        return NeuronDeviation(nominal.threshold, nominal.tau_m, nominal.tau_s, u >= self.strength)


# ---------------------------------------------------------------- trial to trial (per run)
@dataclass(frozen=True)
class ThresholdNoise(Distortion):
    """Trial-to-trial threshold noise: every run (sample) every neuron's threshold is
    multiplied by 1 + strength z, z ~ N(0, 1) redrawn each time (floored at 5 %).

    Physically: thermal and shot noise on the membrane and threshold comparator (about 0.04
    of nominal on BrainScaleS-2). Unlike fixed-pattern mismatch, training cannot absorb it.
    """

    strength: float = 0.0
    seed: int = 0

    def __post_init__(self):
        _check_strength(self.strength, "ThresholdNoise.strength")
        _check_seed(self.seed)

    def threshold_trial(self, shape, rng, dtype=torch.float64):
        if self.strength == 0:
            return None
        z = torch.randn(shape, generator=rng, dtype=dtype)
        return torch.clamp(1 + self.strength * z, min=_MIN_FACTOR)


@dataclass(frozen=True)
class OutputJitter(Distortion):
    """Every emitted spike is shifted by strength * z (in tau_s), z ~ N(0, 1) per spike and
    run; times are kept >= 0.

    Physically: timing noise of the spike readout and event routing (about 0.01 tau_s on
    BrainScaleS-2). Applies to hidden and output spikes: a jittered hidden spike is what the
    next layer receives.
    """

    strength: float = 0.0
    seed: int = 0

    def __post_init__(self):
        _check_strength(self.strength, "OutputJitter.strength")
        _check_seed(self.seed)

    def emitted(self, times, rng):
        if self.strength == 0:
            return times
        noise = torch.randn(times.shape, generator=rng, dtype=times.dtype) * self.strength
        return torch.where(torch.isfinite(times), torch.clamp(times + noise, min=0.0), times)


@dataclass(frozen=True)
class InputNoise(Distortion):
    """The data's input spikes arrive at t + strength z (in tau_s), reflected at 0 (the
    paper's |t + noise|), z ~ N(0, 1) per spike and run. Only the first layer's inputs.

    Physically: timing noise of the spike sources that feed the chip. The paper trains with
    sigma = 0.3 tau_s input noise to make networks robust.
    """

    strength: float = 0.0
    seed: int = 0

    def __post_init__(self):
        _check_strength(self.strength, "InputNoise.strength")
        _check_seed(self.seed)

    def received(self, times, layer, rng):
        if self.strength == 0 or layer != 0:
            return times
        noise = torch.randn(times.shape, generator=rng, dtype=times.dtype) * self.strength
        return torch.where(torch.isfinite(times), (times + noise).abs(), times)


@dataclass(frozen=True)
class SpikeLoss(Distortion):
    """Each spike arriving at a layer (data inputs and hidden spikes, not the bias spike) is
    dropped with probability ``strength``, independently per run.

    Physically: events lost in the event-routing fabric under load. The next layer sees no
    spike (+inf) from that source.
    """

    strength: float = 0.0
    seed: int = 0

    def __post_init__(self):
        _check_strength(self.strength, "SpikeLoss.strength (a probability)", upper=1.0)
        _check_seed(self.seed)

    def received(self, times, layer, rng):
        if self.strength == 0:
            return times
        dropped = torch.rand(times.shape, generator=rng, dtype=times.dtype) < self.strength
        return torch.where(dropped, torch.full_like(times, math.inf), times)


# name -> constructor from (strength, seed); the robustness study and the CLI use it.
DISTORTIONS = {
    "weight_quantization": lambda s, seed=0: WeightQuantization(s),
    "weight_clipping": lambda s, seed=0: WeightClipping(s if s > 0 else math.inf),
    "threshold_mismatch": lambda s, seed=0: ThresholdMismatch(s, seed),
    "time_constant_mismatch": lambda s, seed=0: TimeConstantMismatch(s, seed),
    "dead_neurons": lambda s, seed=0: DeadNeurons(s, seed),
    "threshold_noise": lambda s, seed=0: ThresholdNoise(s, seed),
    "output_jitter": lambda s, seed=0: OutputJitter(s, seed),
    "input_noise": lambda s, seed=0: InputNoise(s, seed),
    "spike_loss": lambda s, seed=0: SpikeLoss(s, seed),
}


def make(name: str, strength: float, seed: int = 0) -> Distortion:
    """Distortion by name (see DISTORTIONS), e.g. make("threshold_noise", 0.04)."""
    if name not in DISTORTIONS:
        raise ValueError(f"unknown distortion {name!r}; choose one of {', '.join(DISTORTIONS)}")
    return DISTORTIONS[name](strength, seed)


__all__ = [
    "DISTORTIONS", "DeadNeurons", "Distortion", "InputNoise", "NeuronDeviation", "OutputJitter",
    "SpikeLoss", "ThresholdMismatch", "ThresholdNoise", "TimeConstantMismatch", "WeightClipping",
    "WeightQuantization", "make",
]
