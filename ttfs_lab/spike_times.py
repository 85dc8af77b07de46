"""First-spike times of a layer of LIF neurons, with exact gradients.

Forward (per sample and neuron, all vectorised):
  1. sort the inputs by time and shift them so the first input is at 0;
  2. build prefix sums P_k, Q_k over the sorted inputs (ttfs_lab.prefix_sums): the summed
     input of the causal set {first k inputs} on [t_(k), t_(k+1)), referenced to the first
     input (tau_m = tau_s: a cumsum) or to t_(k) itself (other ratios: a doubling scan, so
     that long spans neither overflow nor cancel);
  3. the spike lies in the first interval where that function reaches c. It has at most one
     stationary point t*, so its maximum on the interval is at clamp(t*, t_(k), t_(k+1)) or at
     the right end: two evaluations per interval, no solving;
  4. solve only in that interval (ttfs_lab.solvers).
Cost O(B * N * M) time and memory, processed in batch chunks to bound memory.
per_neuron_spike_times runs the same steps with tau_m, tau_s and c per neuron (an analog chip):
the prefix sums are then per neuron, and step 4 is the root finder for every neuron.

Backward (SPEC §1, implicit function theorem at f(T) = c):

    dT/dw_i = -kappa(T - t_i) / u'(T),     dT/dt_i = w_i kappa'(T - t_i) / u'(T),
    u'(T) = sum_C w_j kappa'(T - t_j),

non-zero only for inputs before T; a silent neuron (T = +inf) passes no gradient.

Backends: this file is the readable torch reference. On CPU float32/float64 the same
computation runs by default in compiled kernels (ttfs_lab.native, src/ttfs_native.c) that
walk the sorted inputs per (sample, neuron) without the [B, N, M] intermediates.
Choose with TTFS_LAB_BACKEND=torch|native|auto or set_backend() (also a context manager).
The torch backend runs the same formulas through ttfs_lab.fast_torch (fewer, smaller passes;
any device); ttfs_lab.fast_torch.use_reference() runs the readable version in this file.
"""
from __future__ import annotations

import math

import torch

from . import fast_torch, native
from .kernel import kernel_derivative, kernel_pair
from .params import NeuronParams
from .prefix_sums import (PerNeuron, basis, interval_sums, stationary_point, summed_input,
                          summed_input_slope)
from .solvers import solve_in_interval
from .validation import check_layer_inputs, overflow_span_limit, span_message

# Elements of a [chunk, N, M] intermediate: a few MB per tensor, so that the ~30 elementwise
# passes over them run from cache (2.3x faster than 1 << 21 for a 257 -> 246 layer).
_CHUNK_ELEMENTS = 1 << 18
# At a tangential threshold crossing u'(T) -> 0 and dT/dw -> infinity. We cap the gradient
# by flooring u'(T) at this fraction of c (per unit time); such crossings are knife-edge.
_MIN_SLOPE = 1e-6

set_backend = native.set_backend
get_backend = native.get_backend


def first_spike_times(input_times, weights, params: NeuronParams = NeuronParams()) -> torch.Tensor:
    """First spike time of every neuron, differentiable with respect to both arguments.

    Args:
        input_times: [B, N] input spike times in units of tau_s; +inf means no spike.
        weights: [N, M] synaptic weights (any sign).
        params: neuron parameters; tau_m/tau_s selects the solver (Lambert W for equal time
            constants, a closed form for tau_m = 2 tau_s, root finding otherwise).
    Returns:
        [B, M] spike times; +inf where a neuron stays silent.
    """
    if not isinstance(params, NeuronParams):
        raise ValueError(f"params must be a NeuronParams, got {type(params).__name__}")
    with native.serial_glue(input_times, weights):
        input_times, weights = check_layer_inputs(input_times, weights)
        return _SpikeTimes.apply(input_times, weights, params)


class _SpikeTimes(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_times, weights, params):
        times, slope = spike_times_and_slopes(input_times, weights, params)
        ctx.params = params
        ctx.save_for_backward(input_times, weights, times, slope)
        return times

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_times):
        input_times, weights, times, slope = ctx.saved_tensors
        with native.serial_glue(input_times, weights):
            grad_t, grad_w = implicit_gradients(
                input_times, weights, times, slope, grad_times, ctx.params,
                need_times=ctx.needs_input_grad[0], need_weights=ctx.needs_input_grad[1],
            )
        return grad_t, grad_w, None


def implicit_gradients(input_times, weights, times, slope, grad_times, params, need_times=True, need_weights=True):
    """Chain rule through T(w, t) by the implicit-function formulas (module docstring).

    ``times`` need not come from this model: hardware-in-the-loop training passes the times a
    chip measured and gets the ideal model's gradients evaluated there (SPEC §4).
    Returns (grad wrt input_times or None, grad wrt weights or None).
    """
    if native.applies(input_times, weights, times, slope, grad_times):
        return native.backward(
            input_times, weights, times, slope, grad_times, params, _MIN_SLOPE,
            # the limit only picks the kernels' safe path for far spikes: exponentials' own
            need_times, need_weights, min(_span_limit(weights, params), native.span_limit(weights.dtype, params)),
        )
    if fast_torch.enabled():
        # inputs silent in every sample pass no gradient: leave them out of the [b, N, M] work
        columns = fast_torch.causal_columns(input_times)
        if columns is not None:
            grad_t_cut, grad_w_cut = implicit_gradients(
                input_times[:, columns], weights[columns], times, slope, grad_times, params,
                need_times, need_weights)
            grad_t = grad_w = None
            if need_times:
                grad_t = torch.zeros_like(input_times)
                grad_t[:, columns] = grad_t_cut
            if need_weights:
                grad_w = torch.zeros_like(weights)
                grad_w[columns] = grad_w_cut
            return grad_t, grad_w
    spiking = torch.isfinite(times)
    # Silent neurons and zero incoming gradients contribute nothing (and no NaN).
    slope = torch.clamp(slope, min=_MIN_SLOPE * params.c)
    h = torch.where(spiking, grad_times / slope, torch.zeros_like(slope))
    grad_w = torch.zeros_like(weights) if need_weights else None
    grad_t = torch.zeros_like(input_times) if need_times else None
    kernels = fast_torch.causal_kernels if fast_torch.enabled() else kernel_pair
    for rows in _batch_chunks(*input_times.shape, weights.shape[1]):
        lag = times[rows, None, :] - input_times[rows, :, None]  # [b, N, M]; <= 0 or nan: not causal
        kappa, slope_kernel = kernels(lag, params, grad_w is not None, grad_t is not None)
        if grad_w is not None:
            grad_w -= torch.einsum("bnm,bm->nm", kappa, h[rows])
        if grad_t is not None:
            grad_t[rows] = torch.einsum("bnm,nm,bm->bn", slope_kernel, weights, h[rows])
    return grad_t, grad_w


def slope_at(input_times, weights, times, params):
    """u'(T) = sum_{t_i < T} w_i kappa'(T - t_i) at given times T [B, M] (0 where T = inf)."""
    slope = torch.zeros_like(times)
    for rows in _batch_chunks(*input_times.shape, weights.shape[1]):
        lag = times[rows, None, :] - input_times[rows, :, None]
        slope[rows] = torch.einsum("bnm,nm->bm", kernel_derivative(lag, params), weights)
    return slope


def per_neuron_spike_times(input_times, weights, tau_m, tau_s, c) -> torch.Tensor:
    """First spike times of a layer whose neurons do not share their parameters (no autograd).

    Solves sum_{i: t_i < T} w_im kappa_m(T - t_i) = c_bm with tau_m, tau_s per neuron m (so
    the kernel's shape differs between neurons) and c per neuron, or per sample and neuron
    (threshold noise redrawn every run). An analog chip's neurons are like this (fixed-pattern
    mismatch); a chip only measures, hence no gradients. Same algorithm as first_spike_times,
    with the prefix sums per neuron (ttfs_lab.prefix_sums.PerNeuron).

    Args:
        input_times: [B, N] input spike times (+inf = no spike).
        weights: [N, M].
        tau_m, tau_s: [M] (or scalars) membrane and synaptic time constants, > 0.
        c: [B, M], [M] or scalar threshold drive g_leak (threshold - e_leak), > 0.
    Returns:
        [B, M] spike times, +inf where a neuron stays silent.
    """
    input_times = torch.as_tensor(input_times)
    weights = torch.as_tensor(weights)
    if input_times.dim() != 2 or weights.dim() != 2 or input_times.shape[1] != weights.shape[0]:
        raise ValueError(
            f"need input_times [B, N] and weights [N, M]; got {tuple(input_times.shape)} and {tuple(weights.shape)}"
        )
    input_times, weights = check_layer_inputs(input_times, weights)
    dtype = weights.dtype
    n_batch, n_out = input_times.shape[0], weights.shape[1]
    try:
        tau_m = torch.as_tensor(tau_m, dtype=dtype).expand(n_out).contiguous()
        tau_s = torch.as_tensor(tau_s, dtype=dtype).expand(n_out).contiguous()
        c = torch.as_tensor(c, dtype=dtype).expand(n_batch, n_out).contiguous()
    except RuntimeError as error:
        raise ValueError(f"tau_m, tau_s must be [M] and c [M] or [B, M] with M = {n_out}: {error}") from None
    for name, value in (("tau_m", tau_m), ("tau_s", tau_s), ("c", c)):
        if not (torch.isfinite(value).all() and (value > 0).all()):
            raise ValueError(f"{name} must be finite and positive for every neuron")
    limit = math.inf  # every neuron's sums are referenced to the interval's start (ttfs_lab.prefix_sums)
    if native.applies(input_times, weights):
        times, span = native.forward_per_neuron(input_times, weights, tau_m, tau_s, c, limit)
        if span > limit:
            raise ValueError(span_message(span, dtype, limit))
        return times
    return _per_neuron_torch(input_times, weights, PerNeuron(tau_m, tau_s), c, limit)[0]


@torch.no_grad()
def _per_neuron_torch(input_times, weights, params: PerNeuron, c, span_limit):
    """The torch path of per_neuron_spike_times: times and slopes [B, M] (c [B, M])."""
    times = torch.full(c.shape, math.inf, dtype=weights.dtype)
    slopes = torch.zeros_like(times)
    if input_times.shape[1] == 0:  # no inputs: every neuron stays silent (as native)
        return times, slopes
    for rows in _batch_chunks(*input_times.shape, weights.shape[1]):
        times[rows], slopes[rows] = _solve_chunk(input_times[rows], weights, params, c[rows], span_limit)
    return times, slopes


def spike_times_and_slopes(input_times, weights, params: NeuronParams):
    """Spike times [B, M] and the slope u'(T) of the summed input there (no autograd)."""
    if native.applies(input_times, weights):
        limit = _span_limit(weights, params)
        times, slopes, span = native.forward(input_times, weights, params, limit)
        if span > limit:
            raise ValueError(span_message(span, weights.dtype, limit))
        return times, slopes
    if fast_torch.enabled():
        return fast_torch.spike_times_and_slopes(input_times, weights, params, _span_limit(weights, params))
    n_batch, n_in = input_times.shape
    times = torch.full((n_batch, weights.shape[1]), float("inf"), dtype=weights.dtype)
    slopes = torch.zeros_like(times)
    if n_in == 0 or times.numel() == 0:  # no inputs: every neuron stays silent (as native)
        return times, slopes
    limit = _span_limit(weights, params)
    with torch.no_grad():
        for rows in _batch_chunks(n_batch, n_in, weights.shape[1]):
            times[rows], slopes[rows] = _solve_chunk(input_times[rows], weights, params, params.c, limit)
    return times, slopes


def _span_limit(weights, params: NeuronParams) -> float:
    """The span of one sample's inputs that the forward of both backends accepts.

    tau_m = tau_s: its prefix sums are referenced to the sample's first input, so their
    exponentials bound it (native.span_limit), and so do the weights they multiply
    (ttfs_lab.validation.overflow_span_limit). Other ratios reference every interval's sums to
    its own start (ttfs_lab.prefix_sums): no exponent grows with the span, so any span is fine."""
    if params.regime != "equal":
        return math.inf
    tau_min = min(params.tau_m, params.tau_s)
    return min(native.span_limit(weights.dtype, params), overflow_span_limit(weights, tau_min))


def _batch_chunks(n_batch, n_in, n_out):
    step = max(1, _CHUNK_ELEMENTS // max(1, n_in * n_out))
    return [slice(i, min(i + step, n_batch)) for i in range(0, n_batch, step)]


def _solve_chunk(input_times, weights, params, c, span_limit):
    """Times and slopes [b, M] for NeuronParams (c a float) or PerNeuron params (c [b, M]).

    input_times [b, N] reach every neuron at once; [b, N, M] are arrival times per neuron
    (synaptic delays, ttfs_lab.delays): each neuron then sorts its own arrivals. Both take
    the same steps; a [b, N] input is the [b, N, 1] case broadcast over the neurons."""
    per_neuron_arrival = input_times.dim() == 3
    sorted_times, order = torch.sort(input_times, dim=1)
    finite = torch.isfinite(sorted_times)
    origin = torch.where(finite[:, :1], sorted_times[:, :1], torch.zeros_like(sorted_times[:, :1]))
    rel = sorted_times - origin  # +inf stays +inf
    span = float(torch.where(finite, rel, torch.zeros_like(rel)).max()) if rel.numel() else 0.0
    if span > span_limit:
        raise ValueError(span_message(span, rel.dtype, span_limit))

    if per_neuron_arrival:  # w_sorted[b, k, m] = weights[order[b, k, m], m]
        w_sorted = torch.gather(weights.expand(order.shape), 1, order)
    else:
        w_sorted = weights[order]  # [B, N, M]: row k holds the weights of the k-th input to arrive
    nxt = torch.cat([rel[:, 1:], torch.full_like(rel[:, :1], float("inf"))], dim=1)
    if params.regime == "equal":  # sums referenced to the first input (ttfs_lab.prefix_sums)
        p_terms, q_terms = basis(rel, params)
        if p_terms.dim() == 2:
            p_terms, q_terms = p_terms[:, :, None], q_terms[:, :, None]
        p = torch.cumsum(w_sorted * p_terms, dim=1)
        q = torch.cumsum(w_sorted * q_terms, dim=1)
        lo, hi, ref = rel, nxt, torch.zeros_like(rel)
    else:  # referenced to each interval's start r_k: [0, r_(k+1) - r_k)
        p, q = interval_sums(rel, w_sorted, params)
        gap = torch.where(finite, nxt - rel, torch.full_like(rel, float("inf")))
        lo, hi, ref = torch.zeros_like(rel), gap, rel
    if not per_neuron_arrival:
        lo, hi, ref, finite, origin = lo[:, :, None], hi[:, :, None], ref[:, :, None], finite[:, :, None], origin[:, :, None]

    t_star, has_star = stationary_point(p, q, params)
    candidate = torch.where(has_star, torch.minimum(torch.maximum(t_star, lo), hi), lo)
    peak = summed_input(p, q, candidate, params)
    if params.regime == "equal":
        # P > 0: t* is the maximum. P <= 0: f < 0 after t* and falls before it, so the
        # interval's maximum is f(t_(k)) < c. Either way one evaluation decides.
        reaches = has_star & (peak >= c)
    else:
        c_bnm = c[:, None, :] if isinstance(c, torch.Tensor) else c  # per neuron: [b, M] -> [b, 1, M]
        reaches = torch.maximum(peak, summed_input(p, q, hi.expand_as(p), params)) >= c_bnm
    crosses = reaches & finite

    # max over a bool dim: the value is any(), the index the first True (documented for ties);
    # one pass, and ~15x faster than argmax over a uint8 copy
    fires, k = crosses.max(dim=1, keepdim=True)  # [B, 1, M]: does it fire, first interval that does
    fires = fires.squeeze(1)
    pick = lambda x: x.expand_as(p).gather(1, k).squeeze(1)  # noqa: E731
    p_k, q_k, lo_k, hi_k, ref_k = pick(p), pick(q), pick(lo), pick(hi), pick(ref)
    # Make silent entries harmless for the solvers; they are replaced by +inf below.
    one = torch.ones_like(p_k)
    p_k, q_k = torch.where(fires, p_k, one), torch.where(fires, q_k, one)
    t = solve_in_interval(p_k, q_k, c, lo_k, hi_k, pick(candidate), pick(peak), fires, params)
    slope = summed_input_slope(p_k, q_k, t, params)
    inf = torch.full_like(t, float("inf"))
    return torch.where(fires, (t + ref_k) + origin.squeeze(1), inf), torch.where(fires, slope, torch.zeros_like(slope))
