"""The torch spike-time path, fast: the reference's formulas with fewer and smaller passes.

ttfs_lab.spike_times._solve_chunk is the readable reference (one torch op per formula of
ttfs_lab.prefix_sums). This module computes the same quantities in the same floating-point
order for NeuronParams layers, on any torch device, and is what the torch backend runs:

  1. sort the whole batch once; inputs at +inf sort last and contribute nothing (their basis
     terms are 0 and no interval of theirs may fire), so every batch chunk is cut to the
     largest number of finite inputs of its samples, and samples are taken in the order of
     that number (16x16 MNIST: ~42 % of the 257 inputs, and chunks of alike samples pad
     little);
  2. P_k, Q_k as in the reference (cumsum(w_sorted * basis) for tau_m = tau_s, otherwise the
     doubling scan that references each interval's sums to its start);
  3. the firing test of every interval [t_(k), t_(k+1)),
        tau_m = tau_s = tau:  P_k > 0  and  e^{-s/tau} (P_k s/tau - Q_k) >= c,
                              s = clamp(tau (1 + Q_k/P_k), t_(k), t_(k+1)),
     in the layout [interval, sample, neuron] with in-place float arithmetic only: the test
     becomes 0/1 floats (sign(peak - c) + 1, clipped) and the first interval that fires is
     n - max_k(fires_k (n - k)). On CPU torch's comparisons into bool tensors, max over a bool
     axis and torch.where cost 0.3-3 ns an element, products and sums ~0.07 ns
     (benchmarks/bench_core.py, 256-246-10 MNIST forward: 4.0 k -> 7.2 k samples/s on 1 thread,
     5.8 k -> 12.1 k on 2);
     other time constants use the reference's functions on the cut tensors;
  4. the firing interval is solved with ttfs_lab.solvers for the whole batch at once, as in
     the reference.

Backward (implicit_gradients): inputs at +inf in every sample have kappa = 0 at every spike,
so they are cut before the [b, N, M] kernel tensors are built, and those tensors come from
causal_kernels (one exp for kappa and kappa', the causal mask as 0/1 floats).

Cost: O(B * n_finite * M) time, chunked to keep the [b, n, M] buffers in cache.
use_reference() switches the torch backend back to the reference (benchmarks compare both).
"""
from __future__ import annotations

import torch

from .kernel import kernel_pair
from .params import NeuronParams
from .prefix_sums import basis, interval_sums, stationary_point, summed_input, summed_input_slope
from .solvers import solve_in_interval
from .switch import Switch
from .validation import span_message

# Elements of one [chunk, n, M] buffer (float32: 2 MB, half of it per thread on 2 threads):
# 1 << 17 .. 1 << 20 measured 10.4 / 12.3 / 12.6 / 11.2 k samples/s (256-246-10 forward, 2 threads).
CHUNK_ELEMENTS = 1 << 19

_enabled = Switch(True)


def use_reference(reference: bool = True):
    """Run the torch backend through the reference (spike_times._solve_chunk) instead of this
    module; a plain call or a context manager (restores the previous choice)."""
    return _enabled.set(not reference)


def enabled() -> bool:
    return _enabled.value


@torch.no_grad()
def spike_times_and_slopes(input_times, weights, params: NeuronParams, span_limit: float):
    """Spike times [B, M] (+inf where silent) and slopes u'(T) [B, M] (0 where silent)."""
    n_batch, n_in = input_times.shape
    n_out = weights.shape[1]
    times = torch.full((n_batch, n_out), float("inf"), dtype=weights.dtype, device=weights.device)
    if n_in == 0 or times.numel() == 0:
        return times, torch.zeros_like(times)
    sorted_times, order = torch.sort(input_times, dim=1)
    finite = torch.isfinite(sorted_times)
    origin = torch.where(finite[:, :1], sorted_times[:, :1], torch.zeros_like(sorted_times[:, :1]))
    rel = sorted_times - origin  # +inf stays +inf
    span = float(torch.where(finite, rel, torch.zeros_like(rel)).max())
    if span > span_limit:
        raise ValueError(span_message(span, rel.dtype, span_limit))
    # Chunks of samples with about as many finite inputs: a chunk is cut to its largest count,
    # so mixing long and short samples pads the short ones (16x16 MNIST, chunks of ~10 in
    # batch order: ~30 % padded intervals). Each sample's result does not depend on its chunk.
    n_finite = finite.sum(dim=1)
    by_count = torch.argsort(n_finite, descending=True, stable=True)
    counts = n_finite[by_count].tolist()  # one host sync per call (not one per chunk)
    rel, order = rel[by_count], order[by_count]
    # the firing interval's P, Q, ends, the ends' reference (for root finding also its candidate
    # and peak) per (sample, neuron): found chunk by chunk, solved for the whole batch at once
    picked = torch.ones((7, n_batch, n_out), dtype=weights.dtype, device=weights.device)
    picked[6] = 0.0
    fires = torch.zeros((n_batch, n_out), dtype=torch.bool, device=weights.device)
    first = _first_firing_equal if params.regime == "equal" else _first_firing_interval
    start = 0
    while start < n_batch and counts[start] > 0:  # samples without inputs: all silent
        n = counts[start]
        rows = slice(start, min(n_batch, start + max(1, CHUNK_ELEMENTS // (n * n_out))))
        fires[rows] = first(rel[rows, :n], order[rows, :n], weights, params, picked[:, rows])
        start = rows.stop
    silent = ~fires  # harmless values there for the solvers (p = q = 1, as initialised)
    picked[:6].masked_fill_(silent, 1.0)
    picked[6].masked_fill_(silent, 0.0)
    p_k, q_k, lo_k, hi_k, cand_k, peak_k, ref_k = picked
    t = solve_in_interval(p_k, q_k, params.c, lo_k, hi_k, cand_k, peak_k, fires, params)
    slope = summed_input_slope(p_k, q_k, t, params)
    back = torch.empty_like(by_count)
    back[by_count] = torch.arange(n_batch, device=back.device)
    times = torch.where(fires, (t + ref_k) + origin[by_count], times)[back]
    return times, torch.where(fires, slope, torch.zeros_like(slope))[back]


def _first_firing_equal(rel, order, weights, params: NeuronParams, out):
    """_first_firing_interval for tau_m = tau_s, in the layout [n, b, M] (interval, sample,
    neuron: the scan and the search over intervals run along the outermost axis) and with the
    firing test in float arithmetic: on CPU, torch's comparisons into bool tensors, max over a
    bool axis and torch.where take 0.3-3 ns an element, multiplications and sums ~0.07.
    Same values, same roundings as the reference (tests/test_fast_torch.py: bit for bit)."""
    n_batch, n = rel.shape
    n_out = weights.shape[1]
    rel = rel.t().contiguous()  # [n, b]
    w_sorted = weights.index_select(0, order.t().reshape(-1)).view(n, n_batch, n_out)
    p_terms, q_terms = basis(rel, params)
    p = torch.cumsum(w_sorted * p_terms[:, :, None], dim=0)
    q = torch.cumsum(w_sorted.mul_(q_terms[:, :, None]), dim=0)
    del w_sorted
    lo = rel[:, :, None]
    hi = torch.cat([rel[1:], torch.full_like(rel[:1], float("inf"))], dim=0)[:, :, None]

    # candidate s = clamp(tau (1 + Q/P), lo, hi) (max then min: clamp's bits, NaN included);
    # where P <= 0 it is garbage, ruled out below. x * 1 and x / 1 are exact, so tau = 1
    # skips those passes without changing a bit.
    tau = params.tau_m
    s = torch.div(q, p).add_(1.0)
    if tau != 1.0:
        s.mul_(tau)
    torch.maximum(s, lo, out=s)
    torch.minimum(s, hi, out=s)
    # peak = e^{-s/tau} (P s/tau - Q)   (the reference's summed_input, same roundings)
    peak = torch.mul(p, s)
    if tau != 1.0:
        peak.div_(tau)
    peak.sub_(q).mul_(s.neg_().exp_() if tau == 1.0 else s.div_(-tau).exp_())
    del s
    # fires in interval k  <=>  peak >= c  and  P > 0, as 0/1 floats: sign(peak - c) + 1 is 0
    # below c and 1 or 2 from c on (a - b is 0 only where a = b). A NaN peak (past the last
    # input: 0 * inf) fails the test; torch.sign(NaN) is 0, so NaN is made negative first.
    crosses = peak.sub_(params.c).nan_to_num_(nan=-1.0).sign_().add_(1.0).clamp_max_(1.0)
    crosses.mul_(torch.sign(p).clamp_min_(0.0))
    # the first interval that fires: max over k of crosses_k (n - k) is n - k_first (0: none)
    countdown = torch.arange(n, 0, -1, dtype=crosses.dtype, device=crosses.device)[:, None, None]
    last = crosses.mul_(countdown).amax(dim=0)  # [b, M]
    fires = last > 0
    k = (n - last).clamp_max_(n - 1).long()[None]
    for slot, x in enumerate((p, q, lo, hi)):  # garbage where silent: the caller resets those
        torch.gather(x.expand_as(p), 0, k, out=out[slot, None])
    return fires


def _first_firing_interval(rel, order, weights, params: NeuronParams, out):
    """The reference's steps 2-3 for tau_m != tau_s (tau_m = tau_s: _first_firing_equal) on
    sorted, cut, shifted inputs rel [b, n]: writes P, Q, the interval's ends, candidate, peak
    and the ends' reference t_(k) of the first interval that fires into out [7, b, M] (left
    as they are where silent) and returns fires [b, M]."""
    finite = torch.isfinite(rel)
    nxt = torch.cat([rel[:, 1:], torch.full_like(rel[:, :1], float("inf"))], dim=1)
    # sums referenced to each interval's start (ttfs_lab.prefix_sums.interval_sums)
    p, q = interval_sums(rel, weights[order], params)  # [b, n, M]
    lo = torch.zeros_like(rel)[:, :, None]
    hi = torch.where(finite, nxt - rel, torch.full_like(rel, float("inf")))[:, :, None]
    ref = rel[:, :, None]
    t_star, has_star = stationary_point(p, q, params)
    candidate = torch.where(has_star, torch.minimum(torch.maximum(t_star, lo), hi), lo)
    peak = summed_input(p, q, candidate, params)
    crosses = (torch.maximum(peak, summed_input(p, q, hi.expand_as(p), params)) >= params.c) & finite[:, :, None]

    # max over a bool dim: the value is any(), the index the first True (as the reference)
    fires, k = crosses.max(dim=1, keepdim=True)
    fires = fires.squeeze(1)
    for slot, x in enumerate((p, q, lo, hi, candidate, peak, ref)):
        out[slot] = torch.where(fires, x.expand_as(p).gather(1, k).squeeze(1), out[slot])
    return fires


def causal_kernels(lag, params: NeuronParams, need_kernel: bool, need_derivative: bool):
    """(kappa(lag) or None, kappa'(lag) or None) for the backward's [b, N, M] lags, the values
    of ttfs_lab.kernel bit for bit; for tau_m = tau_s with one exp for both and the causal
    mask (0 < lag < inf) as 0/1 floats instead of torch.where (3 ns an element on CPU):

        s = lag where causal, else 0;   kappa = (s/tau) e^{-s/tau},   kappa' = (1 - s/tau) e^{-s/tau} / tau
    """
    if params.regime != "equal":
        return kernel_pair(lag, params, need_kernel, need_derivative)
    tau = params.tau_m
    s = torch.nan_to_num(lag, nan=0.0, posinf=0.0, neginf=0.0).clamp_min_(0.0)
    causal = torch.sign(s)
    r = s if tau == 1.0 else s.div_(tau)  # x / 1 is exact: tau = 1 skips the pass
    decay = torch.neg(r).exp_()
    kappa = torch.mul(r, decay).mul_(causal) if need_kernel else None
    slope_kernel = None
    if need_derivative:
        slope_kernel = torch.sub(1.0, r).mul_(decay)
        if tau != 1.0:
            slope_kernel.div_(tau)
        slope_kernel.mul_(causal)
    return kappa, slope_kernel


def causal_columns(input_times):
    """Indices of the inputs that spike in at least one sample (the others pass no gradient),
    or None if all do."""
    keep = torch.isfinite(input_times).any(dim=0)
    if bool(keep.all()):
        return None
    return keep.nonzero().squeeze(1)
