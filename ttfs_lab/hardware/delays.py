"""Learned delays on the emulated chip: delay lines with a resolution, a range and a fixed pattern.

The real BrainScaleS-2 has no programmable per-synapse delay; this emulation *assumes* one
delay line per synapse (or per input, for axonal delays), built like the chip's other
configurable analog parameters, and gives delays the treatment weights get:

    resolution  DELAY_STEP = 0.05 tau_s (0.3 us of hardware time at tau = 6 us)
    range       6 bits: 0 ... 63 steps = 0 ... 3.15 tau_s (DELAY_MAX); longer delays clip
    stored      D = clip(round(d / DELAY_STEP), 0, 63) * DELAY_STEP
    fixed pattern  every delay line realises D (1 + DELAY_SPREAD z) + DELAY_OFFSET |z'|,
                z, z' ~ N(0, 1) drawn once per chip and line (DELAY_SPREAD = 5 %,
                DELAY_OFFSET = 0.01 tau_s), constant for the chip's lifetime

so a chip runs with delays it does not report. In the loop, as for weights, the backward pass
uses the *stored* delays D (what was written) at the measured times, and the gradient reaches
the float delays straight through the rounding; after every update the float delays are
clipped to [0, DELAY_MAX].
"""
from __future__ import annotations

import math
import zlib

import torch

from ..delays.core import arrival_times, delay_implicit_gradients
from ..kernel import kernel_derivative
from ..prefix_sums import PerNeuron
from ..spike_times import _batch_chunks, _solve_chunk

DELAY_STEP = 0.05
DELAY_BITS = 6
DELAY_MAX = (2 ** DELAY_BITS - 1) * DELAY_STEP
DELAY_SPREAD = 0.05
DELAY_OFFSET = 0.01


def stored_delays(delays: torch.Tensor) -> torch.Tensor:
    """What the chip's delay register holds: rounded to DELAY_STEP, clipped to [0, DELAY_MAX]."""
    return torch.clamp(torch.round(delays.detach() / DELAY_STEP), 0, 2 ** DELAY_BITS - 1) * DELAY_STEP


def realised_delays(stored: torch.Tensor, chip_seed: int, layer: int) -> torch.Tensor:
    """The delays a chip's lines actually produce for ``stored`` (its fixed pattern)."""
    gen = torch.Generator().manual_seed(zlib.crc32(f"delay-lines:{chip_seed}:{layer}".encode()))
    gain = torch.randn(stored.shape, generator=gen, dtype=stored.dtype) * DELAY_SPREAD
    offset = torch.randn(stored.shape, generator=gen, dtype=stored.dtype).abs() * DELAY_OFFSET
    return torch.clamp(stored * (1 + gain) + offset, min=0.0)


def layer_delays(network, layer: int):
    """(kind, float delays) of a network's layer, or (None, None) without delays."""
    module = network.layers[layer]
    return getattr(module, "kind", None), getattr(module, "delay", None)


@torch.no_grad()
def delayed_per_neuron_times(x, weight, delays, kind, tau_m, tau_s, c) -> torch.Tensor:
    """Spike times [B, M] of a chip layer with per-neuron tau_m, tau_s [M], c [B, M] and delays
    (synaptic [N, M] or axonal [N]); x [B, N] includes the bias spike. Torch path of the core
    (ttfs_lab.spike_times._solve_chunk on per-neuron arrival times)."""
    n_out = weight.shape[1]
    tau_m = torch.as_tensor(tau_m, dtype=weight.dtype).expand(n_out).contiguous()
    tau_s = torch.as_tensor(tau_s, dtype=weight.dtype).expand(n_out).contiguous()
    c = torch.as_tensor(c, dtype=weight.dtype).expand(x.shape[0], n_out).contiguous()
    full = delays if kind == "synaptic" else delays[:, None].expand(weight.shape)
    params = PerNeuron(tau_m, tau_s)
    times = torch.full(c.shape, math.inf, dtype=weight.dtype)
    for rows in _batch_chunks(*x.shape, n_out):
        arrival = arrival_times(x[rows], full)
        # per-neuron sums are referenced to each interval's start: no span limit (ttfs_lab.prefix_sums)
        times[rows] = _solve_chunk(arrival, weight, params, c[rows], math.inf)[0]
    return times


class MeasuredDelayedLayer(torch.autograd.Function):
    """In the loop with delays: the measured times forward; backward = the ideal model's
    gradients (weights, delays, inputs) at the measured times with the stored weights and delays."""

    @staticmethod
    def forward(ctx, input_times, weight, delay, measured, stored_weight, stored_delay, params, min_slope):
        ctx.params, ctx.min_slope = params, min_slope
        ctx.save_for_backward(input_times, stored_weight, stored_delay, measured)
        return measured.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, w, d, measured = ctx.saved_tensors
        params = ctx.params
        full = d if d.dim() == 2 else d[:, None].expand(w.shape).contiguous()
        lag = measured[:, None, :] - arrival_times(x, full)
        slope = torch.einsum("bnm,nm->bm", kernel_derivative(lag, params), w)
        slope = torch.clamp(slope, min=ctx.min_slope * params.c)
        with_d = ctx.needs_input_grad[2]
        grad_t, grad_w, grad_d = delay_implicit_gradients(
            x, w, full.contiguous(), measured, slope, grad, params,
            needs=(ctx.needs_input_grad[0], ctx.needs_input_grad[1], with_d),
        )
        if grad_d is not None and d.dim() == 1:
            grad_d = grad_d.sum(dim=1)
        return grad_t, grad_w, grad_d, None, None, None, None, None
