"""First-spike times with transmission delays, and their exact gradients.

Two kinds of delay, both >= 0 and in units of tau_s:

- **synaptic** d_ij (one per synapse, [N, M] like the weights): input i reaches neuron j at
  t_i + d_ij, so every neuron sees its own arrival order. This is the general case and the
  one DelGrad (Göltz et al. 2024) trains; it can line up inputs for one neuron while keeping
  them apart for another.
- **axonal** d_i (one per presynaptic neuron, [N]): input i reaches every neuron at t_i + d_i.
  It is a shift of the input times, so the undelayed layer with its exact dT/dt_i serves as
  is, in both backends; cheaper, and it teaches the same point (coincidence) for one neuron.

Model (SPEC §1 with shifted inputs): with arrival times s_ij = t_i + d_ij,

    sum_{i: s_ij < T_j} w_ij kappa(T_j - s_ij) = c,

and the implicit function theorem at the spike gives, with u'(T_j) = sum_C w_ij kappa'(T_j - s_ij),

    dT_j/dw_ij = -kappa(T_j - s_ij) / u'(T_j)
    dT_j/dd_ij =  w_ij kappa'(T_j - s_ij) / u'(T_j)         (= the share of input i in dT_j/dt_i)
    dT_j/dt_i  =  dT_j/dd_ij                                 (summed over j for t_i)

for causal inputs only (s_ij < T_j); a silent neuron (T = +inf) passes no gradient. The
forward pass is the core's algorithm (ttfs_lab.spike_times) run on per-neuron arrival times
[B, N, M]: each (sample, neuron) sorts its own arrivals, builds prefix sums and solves in the
first interval that reaches c. Backends as for the undelayed layer (ttfs_lab.native): the
compiled kernels of src/ttfs_delays.inc (ttfs_lab.delays.native) walk each (sample, neuron)
without [B, N, M] intermediates; the torch path here is the readable reference. With all delays exactly zero the undelayed code path runs, so
results are bit for bit those of first_spike_times.
"""
from __future__ import annotations

import math

import torch

from .. import native
from . import native as compiled
from ..kernel import kernel, kernel_derivative
from ..params import NeuronParams
from ..spike_times import (
    _MIN_SLOPE, _batch_chunks, _solve_chunk, _span_limit, first_spike_times, implicit_gradients,
    spike_times_and_slopes,
)
from ..validation import check_layer_inputs, span_message


def check_delays(delays, shape, dtype, name="delays") -> torch.Tensor:
    """Delays as a tensor of ``dtype``; a clear error unless they have ``shape`` and are finite
    and >= 0 (a negative delay would let an effect precede its cause)."""
    delays = torch.as_tensor(delays)
    if not delays.is_floating_point():
        delays = delays.to(dtype)
    delays = delays.to(dtype)
    if tuple(delays.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {list(shape)} (like the weights it belongs to), got {list(delays.shape)}")
    d = delays.detach()
    if not bool(torch.isfinite(d).all()):
        raise ValueError(f"{name} contain NaN or inf; every delay must be finite and >= 0")
    if bool((d < 0).any()):
        raise ValueError(f"{name} must be >= 0 (a delay cannot move a spike earlier); smallest is {float(d.min()):.4g}")
    return delays


def synaptic_spike_times(input_times, weights, delays, params: NeuronParams = NeuronParams()) -> torch.Tensor:
    """First spike times [B, M] with one delay per synapse, differentiable in all three inputs.

    Args:
        input_times: [B, N] spike times (+inf = no spike).
        weights: [N, M].
        delays: [N, M], finite and >= 0: input i arrives at neuron j at t_i + delays[i, j].
        params: neuron parameters (all three tau regimes).
    """
    if not isinstance(params, NeuronParams):
        raise ValueError(f"params must be a NeuronParams, got {type(params).__name__}")
    input_times, weights = check_layer_inputs(input_times, weights)
    delays = check_delays(delays, weights.shape, weights.dtype)
    return _SynapticDelays.apply(input_times, weights, delays, params)


def axonal_spike_times(input_times, weights, delays, params: NeuronParams = NeuronParams()) -> torch.Tensor:
    """First spike times [B, M] with one delay per input (axon): input i arrives at t_i + d_i
    at every neuron. dT/dd_i = sum over samples of dT/dt_i, by autograd through the shift."""
    input_times, weights = check_layer_inputs(input_times, weights)
    delays = check_delays(delays, weights.shape[:1], weights.dtype, "axonal delays")
    return first_spike_times(input_times + delays, weights, params)


def arrival_times(input_times, delays) -> torch.Tensor:
    """s_bij = t_bi + d_ij: [B, N] times and [N, M] delays -> [B, N, M]."""
    return input_times[:, :, None] + delays[None]


def delayed_spike_times_and_slopes(input_times, weights, delays, params: NeuronParams):
    """Spike times [B, M] and u'(T) [B, M] with synaptic delays (no autograd)."""
    if not bool(delays.any()):  # all zero: today's code path, bit for bit
        return spike_times_and_slopes(input_times, weights, params)
    limit = _span_limit(weights, params)  # as the undelayed layer: exponentials and weights
    if compiled.applies(input_times, weights, delays):
        times, slopes, span = compiled.forward(input_times, weights, delays, params, limit)
        if span > limit:
            raise ValueError(span_message(span, weights.dtype, limit))
        return times, slopes
    n_batch, n_in = input_times.shape
    times = torch.full((n_batch, weights.shape[1]), math.inf, dtype=weights.dtype)
    slopes = torch.zeros_like(times)
    with torch.no_grad():
        for rows in _batch_chunks(n_batch, n_in, weights.shape[1]):
            arrival = arrival_times(input_times[rows], delays)
            times[rows], slopes[rows] = _solve_chunk(arrival, weights, params, params.c, limit)
    return times, slopes


def delay_implicit_gradients(input_times, weights, delays, times, slope, grad_times, params, needs=(True, True, True)):
    """(dL/dt [B, N], dL/dw [N, M], dL/dd [N, M]) by the formulas of the module docstring;
    an entry is None where ``needs`` says it is not wanted. ``times`` may be measured (a chip)."""
    need_t, need_w, need_d = needs
    zero_delays = not bool(delays.any())
    grad_t = grad_w = None
    if zero_delays and (need_t or need_w):  # the undelayed backward, bit for bit
        grad_t, grad_w = implicit_gradients(input_times, weights, times, slope, grad_times, params, need_t, need_w)
        need_t = need_w = False
    if (need_t or need_w or need_d) and compiled.applies(input_times, weights, delays, times, slope, grad_times):
        gx, gw, gd = compiled.backward(input_times, weights, delays, times, slope, grad_times, params, _MIN_SLOPE, need_t)
        return (gx if need_t else grad_t), (gw if need_w else grad_w), (gd if need_d else None)
    spiking = torch.isfinite(times)
    h = torch.where(spiking, grad_times / torch.clamp(slope, min=_MIN_SLOPE * params.c), torch.zeros_like(slope))
    if need_w:
        grad_w = torch.zeros_like(weights)
    if need_t:
        grad_t = torch.zeros_like(input_times)
    grad_d = torch.zeros_like(delays) if need_d else None
    if not (need_t or need_w or need_d):
        return grad_t, grad_w, grad_d
    for rows in _batch_chunks(*input_times.shape, weights.shape[1]):
        lag = times[rows, None, :] - arrival_times(input_times[rows], delays)  # <= 0 or nan: not causal
        if need_w:
            grad_w -= torch.einsum("bnm,bm->nm", kernel(lag, params), h[rows])
        if need_t or need_d:
            share = kernel_derivative(lag, params) * weights * h[rows, None, :]  # [b, N, M]
            if need_t:
                grad_t[rows] = share.sum(dim=2)
            if need_d:
                grad_d += share.sum(dim=0)
    return grad_t, grad_w, grad_d


class _SynapticDelays(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_times, weights, delays, params):
        times, slope = delayed_spike_times_and_slopes(input_times, weights, delays, params)
        ctx.params = params
        ctx.save_for_backward(input_times, weights, times, slope, delays)
        return times

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_times):
        input_times, weights, times, slope, delays = ctx.saved_tensors
        grads = delay_implicit_gradients(
            input_times, weights, delays, times, slope, grad_times, ctx.params, needs=ctx.needs_input_grad[:3]
        )
        return (*grads, None)


__all__ = [
    "arrival_times", "axonal_spike_times", "check_delays", "delay_implicit_gradients",
    "delayed_spike_times_and_slopes", "synaptic_spike_times",
]
