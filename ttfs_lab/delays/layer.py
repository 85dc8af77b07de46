"""Torch modules with learnable delays, and the rule that keeps delays >= 0.

A DelayedTTFSLayer is a TTFSLayer plus a ``delay`` Parameter:

    synaptic: delay [n_in + 1, n_out], one per synapse (bias row last, like the weights:
              a delayed bias spike is a per-neuron bias time)
    axonal:   delay [n_in + 1], one per input

**Keeping delays >= 0: projection.** After every optimizer step the delays are clipped,
d <- max(d, 0) (``project_delays``). Unlike a parametrisation (d = softplus(r), d = r^2) a
delay of exactly 0 stays reachable and keeps its exact gradient (r^2 has gradient 0 at r = 0,
so delays started at zero would never move), and the optimizer's step is in delay units.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..network import TTFSLayer, TTFSNetwork, append_bias_spike
from ..params import NeuronParams
from .core import axonal_spike_times, synaptic_spike_times

KINDS = ("synaptic", "axonal")


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"delay kind must be one of {KINDS}, got {kind!r}")
    return kind


class DelayedTTFSLayer(TTFSLayer):
    """TTFSLayer whose inputs arrive after learnable delays (units of tau_s, >= 0)."""

    def __init__(self, n_in, n_out, params=NeuronParams(), bias_time=0.9, init=(1.5, 0.8), dtype=torch.float64,
                 generator=None, kind="synaptic", delays=None):
        super().__init__(n_in, n_out, params, bias_time, init, dtype, generator)
        self.kind = _check_kind(kind)
        shape = (n_in + 1, n_out) if kind == "synaptic" else (n_in + 1,)
        value = torch.zeros(shape, dtype=dtype) if delays is None else torch.as_tensor(delays, dtype=dtype).clone()
        if tuple(value.shape) != shape:
            raise ValueError(f"{kind} delays of a {n_in} -> {n_out} layer have shape {list(shape)}, got {list(value.shape)}")
        self.delay = nn.Parameter(value)

    def forward(self, input_times):
        if input_times.dim() != 2 or input_times.shape[1] != self.n_in:
            raise ValueError(
                f"layer expects input times of shape [batch, {self.n_in}], got {tuple(input_times.shape)}"
            )
        x = append_bias_spike(input_times.to(self.weight.dtype), self.bias_time)
        spike_times = synaptic_spike_times if self.kind == "synaptic" else axonal_spike_times
        return spike_times(x, self.weight, self.delay, self.params)

    @torch.no_grad()
    def project_delays(self):
        """d <- max(d, 0): the >= 0 rule (module docstring)."""
        self.delay.clamp_(min=0.0)

    def extra_repr(self):
        return f"{super().extra_repr()}, {self.kind} delays"


class DelayedTTFSNetwork(TTFSNetwork):
    """TTFSNetwork whose layers learn delays as well as weights.

    The weights start exactly as TTFSNetwork's with the same seed (so a run with and without
    delays differs only by the delays); delays start uniform in ``delay_init`` = (low, high),
    drawn from their own generator (seed + 1000).

    >>> net = DelayedTTFSNetwork((4, 120, 3), seed=0, delay_init=(0.0, 0.1))
    >>> net(torch.rand(2, 4) + 0.15).shape
    torch.Size([2, 3])
    """

    def __init__(self, sizes: Sequence[int] = (4, 120, 3), params=NeuronParams(), bias_time=0.9,
                 dtype=torch.float64, seed=None, init=None, kind="synaptic", delay_init=(0.0, 0.0)):
        super().__init__(sizes, params, bias_time, dtype, seed, init)
        low, high = (float(v) for v in delay_init)
        if not 0.0 <= low <= high < float("inf"):
            raise ValueError(f"delay_init must be (low, high) with 0 <= low <= high, got {delay_init!r}")
        generator = torch.Generator().manual_seed((seed if seed is not None else 0) + 1000)
        layers = []
        for layer in self.layers:
            delayed = DelayedTTFSLayer(layer.n_in, layer.n_out, params, bias_time, dtype=dtype, kind=kind)
            with torch.no_grad():
                delayed.weight.copy_(layer.weight)
                delayed.delay.copy_(low + (high - low) * torch.rand(delayed.delay.shape, generator=generator, dtype=dtype))
            layers.append(delayed)
        self.layers = nn.ModuleList(layers)
        self.kind = kind

    @classmethod
    def from_weights_and_delays(cls, weights, delays, kind="synaptic", params=NeuronParams(), bias_time=0.9,
                                dtype=torch.float64) -> "DelayedTTFSNetwork":
        """Network with given weights [n_in + 1, n_out] and delays per layer (checked >= 0)."""
        from .core import check_delays

        plain = TTFSNetwork.from_weights(weights, params, bias_time, dtype)
        if len(delays) != len(plain.layers):
            raise ValueError(f"need one delay tensor per layer ({len(plain.layers)}), got {len(delays)}")
        net = cls(plain.sizes, params, bias_time, dtype, seed=0, kind=_check_kind(kind))
        with torch.no_grad():
            for i, (layer, source, d) in enumerate(zip(net.layers, plain.layers, delays)):
                d = check_delays(d, layer.delay.shape, dtype, f"delays of layer {i}")
                layer.weight.copy_(source.weight)
                layer.delay.copy_(d)
        return net

    def delays(self) -> list[torch.Tensor]:
        """Detached copies of the delay tensors."""
        return [layer.delay.detach().clone() for layer in self.layers]

    def project_delays(self):
        for layer in self.layers:
            layer.project_delays()


def network_for(config) -> TTFSNetwork:
    """The network a TrainConfig asks for: delayed when ``config.delays`` names a kind."""
    dtype = {"float64": torch.float64, "float32": torch.float32}[config.dtype]
    common = dict(params=config.neuron, bias_time=config.bias_time, dtype=dtype, seed=config.seed, init=config.init)
    if config.delays == "none":
        return TTFSNetwork(config.sizes, **common)
    return DelayedTTFSNetwork(config.sizes, kind=config.delays, delay_init=config.delay_init, **common)


def parameter_groups(network, lr: float, delay_lr: float | None):
    """Optimizer groups: weights at ``lr``, delays at ``delay_lr`` (None: the same lr)."""
    delays = [p for name, p in network.named_parameters() if name.endswith("delay")]
    weights = [p for name, p in network.named_parameters() if not name.endswith("delay")]
    if not delays:
        return [{"params": weights, "lr": lr}]
    return [{"params": weights, "lr": lr}, {"params": delays, "lr": lr if delay_lr is None else delay_lr}]
