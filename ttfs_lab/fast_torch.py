"""The torch spike-time path, fast: the reference's formulas with fewer and smaller passes.

ttfs_lab.spike_times._solve_chunk is the readable reference (one torch op per formula of
ttfs_lab.prefix_sums). This module computes the same quantities in the same floating-point
order for NeuronParams layers, on any torch device, and is what the torch backend runs:

  1. sort the whole batch once; inputs at +inf sort last and contribute nothing (their basis
     terms are 0 and no interval of theirs may fire), so every batch chunk is cut to the
     largest number of finite inputs of its samples (16x16 MNIST: ~42 % of the 257);
  2. P_k, Q_k as in the reference (cumsum(w_sorted * basis) for tau_m = tau_s, otherwise the
     doubling scan that references each interval's sums to its start);
  3. the firing test of every interval [t_(k), t_(k+1)),
        tau_m = tau_s = tau:  P_k > 0  and  e^{-s/tau} (P_k s/tau - Q_k) >= c,
                              s = clamp(tau (1 + Q_k/P_k), t_(k), t_(k+1)),
     is written with in-place ops (one buffer reused, no torch.where copies); other time
     constants use the reference's functions on the cut tensors;
  4. the first interval that fires is found by max over a bool dim and solved there with
     ttfs_lab.solvers, as in the reference.

Backward (implicit_gradients): inputs at +inf in every sample of a chunk have kappa = 0 at
every spike, so they are cut the same way before the [b, N, M] kernel tensors are built.

Cost: O(B * n_finite * M) time, chunked to keep the [b, n, M] buffers in cache.
use_reference() switches the torch backend back to the reference (benchmarks compare both).
"""
from __future__ import annotations

import torch

from .params import NeuronParams
from .prefix_sums import basis, interval_sums, stationary_point, summed_input, summed_input_slope
from .solvers import solve_in_interval
from .switch import Switch
from .validation import span_message

# Elements of one [chunk, n, M] buffer (float32: 1 MB), so the passes run from the L2 cache.
CHUNK_ELEMENTS = 1 << 18

_enabled = Switch(True)


def use_reference(reference: bool = True):
    """Run the torch backend through the reference (spike_times._solve_chunk) instead of this
    module; a plain call or a context manager (restores the previous choice)."""
    return _enabled.set(not reference)


def enabled() -> bool:
    return _enabled.value


def chunks(n_batch: int, n_in: int, n_out: int, elements: int = CHUNK_ELEMENTS):
    step = max(1, elements // max(1, n_in * n_out))
    return [slice(i, min(i + step, n_batch)) for i in range(0, n_batch, step)]


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
    # one host sync per call for the cut lengths (not one per chunk)
    n_finite = finite.sum(dim=1).tolist()
    # the firing interval's P, Q, ends (and for root finding its candidate and peak) per
    # (sample, neuron): found chunk by chunk, solved for the whole batch at once
    # the firing interval's P, Q, ends, the ends' reference (for root finding also its candidate
    # and peak) per (sample, neuron): found chunk by chunk, solved for the whole batch at once
    picked = torch.ones((7, n_batch, n_out), dtype=weights.dtype, device=weights.device)
    picked[6] = 0.0
    fires = torch.zeros((n_batch, n_out), dtype=torch.bool, device=weights.device)
    for rows in chunks(n_batch, max(1, max(n_finite)), n_out):
        n = max(n_finite[rows])
        if n > 0:  # else no sample of this chunk has an input: all silent
            fires[rows] = _first_firing_interval(rel[rows, :n], order[rows, :n], weights, params, picked[:, rows])
    p_k, q_k, lo_k, hi_k, cand_k, peak_k, ref_k = picked
    t = solve_in_interval(p_k, q_k, params.c, lo_k, hi_k, cand_k, peak_k, fires, params)
    slope = summed_input_slope(p_k, q_k, t, params)
    return torch.where(fires, (t + ref_k) + origin, times), torch.where(fires, slope, torch.zeros_like(slope))


def _first_firing_interval(rel, order, weights, params: NeuronParams, out):
    """The reference's steps 2-3 on sorted, cut, shifted inputs rel [b, n]: writes P, Q, the
    interval's ends, candidate, peak and the ends' reference (0, or t_(k) for tau_m != tau_s) of
    the first interval that fires into out [7, b, M] (left as they are where silent) and
    returns fires [b, M]."""
    c = params.c
    finite = torch.isfinite(rel)
    w_sorted = weights[order]  # [b, n, M]
    nxt = torch.cat([rel[:, 1:], torch.full_like(rel[:, :1], float("inf"))], dim=1)
    ref = None
    if params.regime == "equal":
        p_terms, q_terms = basis(rel, params)  # [b, n]
        p = torch.cumsum(w_sorted * p_terms[:, :, None], dim=1)
        q = torch.cumsum(w_sorted.mul_(q_terms[:, :, None]), dim=1)
        lo, hi = rel[:, :, None], nxt[:, :, None]
    else:  # sums referenced to each interval's start (ttfs_lab.prefix_sums.interval_sums)
        p, q = interval_sums(rel, w_sorted, params)
        lo = torch.zeros_like(rel)[:, :, None]
        hi = torch.where(finite, nxt - rel, torch.full_like(rel, float("inf")))[:, :, None]
        ref = rel[:, :, None]
    del w_sorted

    if params.regime == "equal":
        tau = params.tau_m
        # candidate s = clamp(tau (1 + Q/P), lo, hi); where P <= 0 it is garbage (nan/inf),
        # but those intervals are ruled out by P > 0 below (the reference's has_star).
        # x * 1 and x / 1 are exact, so tau = 1 skips those passes without changing a bit.
        s = torch.div(q, p).add_(1.0)
        if tau != 1.0:
            s.mul_(tau)
        s = torch.clamp(s, min=lo, max=hi, out=s)
        # peak = e^{-s/tau} (P s/tau - Q)   (the reference's summed_input, same roundings)
        peak = torch.mul(p, s)
        if tau != 1.0:
            peak.div_(tau)
        peak.sub_(q).mul_(s.neg_().exp_() if tau == 1.0 else s.div_(-tau).exp_())
        # Past the last input (lo = +inf) s = +inf and peak = 0 * inf = nan, which fails the
        # test: no need for the reference's "& finite" there.
        crosses = peak >= c
        crosses &= p > 0
        candidate = peak = None
    else:
        t_star, has_star = stationary_point(p, q, params)
        candidate = torch.where(has_star, torch.minimum(torch.maximum(t_star, lo), hi), lo)
        peak = summed_input(p, q, candidate, params)
        crosses = (torch.maximum(peak, summed_input(p, q, hi.expand_as(p), params)) >= c) & finite[:, :, None]

    # max over a bool dim: the value is any(), the index the first True (as the reference)
    fires, k = crosses.max(dim=1, keepdim=True)
    fires = fires.squeeze(1)
    for slot, x in enumerate((p, q, lo, hi, candidate, peak, ref)):
        if x is not None:
            out[slot] = torch.where(fires, x.expand_as(p).gather(1, k).squeeze(1), out[slot])
    return fires


def causal_columns(input_times):
    """Indices of the inputs that spike in at least one sample (the others pass no gradient),
    or None if all do."""
    keep = torch.isfinite(input_times).any(dim=0)
    if bool(keep.all()):
        return None
    return keep.nonzero().squeeze(1)
