"""First-spike times of a layer whose neurons do not share their parameters.

The core's ``first_spike_times`` takes one NeuronParams for the whole layer. On an analog
chip every neuron circuit has its own time constants and threshold (fixed-pattern
mismatch), and the threshold even changes from run to run (trial-to-trial noise). Here

    sum_{i: t_i < T} w_im kappa_m(T - t_i) = c_bm

is solved with tau_m, tau_s per neuron m and c per sample b and neuron m.

Why not rescale? A threshold alone could be folded into the weights (dividing f = c_m by
c_m / c is exact), but that needs per-sample weights once the threshold is redrawn every
run, and time constants cannot be folded at all when tau_m and tau_s deviate differently
(the ratio tau_m / tau_s, hence the kernel's shape, changes). Calling the core once per
neuron would be exact too, but cannot vary c per sample either.

Algorithm: the core's (ttfs_lab.spike_times), with neuron-dependent bases. Sort the inputs,
shift them to start at 0, and build prefix sums P_k, Q_k; the summed input of the first k
inputs on [t_(k), t_(k+1)) is

    tau_m != tau_s:  f(t) = K (Q e^{-t/tau_m} - P e^{-t/tau_s}),  K = tau_s / (tau_m - tau_s),
                     P = sum w_i e^{t_i/tau_s},  Q = sum w_i e^{t_i/tau_m}
    tau_m  = tau_s:  f(t) = e^{-t/tau} (P t/tau - Q),
                     P = sum w_i e^{t_i/tau},    Q = sum w_i (t_i/tau) e^{t_i/tau}

Because the bases depend on the neuron's tau, the prefix sums are [B, N, M] instead of
[B, N]. f has at most one stationary point, so each interval's maximum is at the clamp of
that point or at the interval's end; the spike lies in the first interval whose maximum
reaches c, and there it is found by safeguarded Newton (bisection when Newton leaves the
bracket), for every regime alike. No gradients: a chip only measures.
"""
from __future__ import annotations

import math

import torch

from ..params import _SAME_TAU_RTOL

# Elements of one [chunk, N, M] intermediate (bounds memory at tens of MB per tensor).
_CHUNK_ELEMENTS = 1 << 20
_MAX_ITERATIONS = 100


def per_neuron_spike_times(input_times, weights, tau_m, tau_s, c) -> torch.Tensor:
    """First spike time of every neuron, each with its own parameters.

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
    dtype = weights.dtype
    input_times = input_times.to(dtype)
    n_batch, n_in = input_times.shape
    n_out = weights.shape[1]
    tau_m = torch.as_tensor(tau_m, dtype=dtype).expand(n_out)
    tau_s = torch.as_tensor(tau_s, dtype=dtype).expand(n_out)
    c = torch.as_tensor(c, dtype=dtype).expand(n_batch, n_out)
    if torch.isnan(input_times).any() or (input_times == -math.inf).any():
        raise ValueError("input_times must be finite or +inf (no spike)")
    if not torch.isfinite(weights).all():
        raise ValueError("weights must be finite")
    for name, value in (("tau_m", tau_m), ("tau_s", tau_s), ("c", c)):
        if not (torch.isfinite(value).all() and (value > 0).all()):
            raise ValueError(f"{name} must be finite and positive for every neuron")
    times = torch.full((n_batch, n_out), math.inf, dtype=dtype)
    step = max(1, _CHUNK_ELEMENTS // max(1, n_in * n_out))
    with torch.no_grad():
        for start in range(0, n_batch, step):
            rows = slice(start, min(start + step, n_batch))
            times[rows] = _solve_chunk(input_times[rows], weights, tau_m, tau_s, c[rows])
    return times


class _Neurons:
    """Per-neuron constants, shaped to broadcast against [b, (N,) M] tensors."""

    def __init__(self, tau_m, tau_s, same=None, k=None):
        self.tau_m, self.tau_s = tau_m, tau_s
        self.same = torch.isclose(tau_m, tau_s, rtol=_SAME_TAU_RTOL, atol=0.0) if same is None else same
        # K is only used where the time constants differ; 1 elsewhere keeps it finite.
        one = torch.ones_like(tau_m)
        self.k = torch.where(self.same, one, tau_s / torch.where(self.same, one, tau_m - tau_s)) if k is None else k

    def select(self, index) -> "_Neurons":
        """The neurons at ``index`` (of flattened, already broadcast constants)."""
        return _Neurons(self.tau_m[index], self.tau_s[index], self.same[index], self.k[index])

    def f(self, p, q, t):
        """Summed input f(t) of a causal set; 0 at t = +inf."""
        finite = torch.isfinite(t)
        t = torch.where(finite, t, torch.zeros_like(t))
        em, es = torch.exp(-t / self.tau_m), torch.exp(-t / self.tau_s)
        value = torch.where(self.same, em * (p * t / self.tau_m - q), self.k * (q * em - p * es))
        return torch.where(finite, value, torch.zeros_like(value))

    def slope(self, p, q, t):
        """df/dt."""
        return self.f_and_slope(p, q, t)[1]

    def f_and_slope(self, p, q, t):
        """(f(t), df/dt) for finite t, sharing the exponentials."""
        em, es = torch.exp(-t / self.tau_m), torch.exp(-t / self.tau_s)
        ratio = t / self.tau_m
        f = torch.where(self.same, em * (p * ratio - q), self.k * (q * em - p * es))
        equal = em * (p - p * ratio + q) / self.tau_m
        general = self.k * (p * es / self.tau_s - q * em / self.tau_m)
        return f, torch.where(self.same, equal, general)

    def stationary_point(self, p, q):
        """(t*, exists); for tau_m = tau_s only the maximum (P > 0), as in the core."""
        one = torch.ones_like(p)
        equal_exists = p > 0
        equal_t = self.tau_m * (1.0 + q / torch.where(equal_exists, p, one))
        ratio = q * self.tau_s / (p * self.tau_m)
        general_exists = (ratio > 0) & torch.isfinite(ratio)
        rate = torch.where(self.same, one, 1.0 / self.tau_m - 1.0 / self.tau_s)
        general_t = torch.log(torch.where(general_exists, ratio, one)) / rate
        return torch.where(self.same, equal_t, general_t), torch.where(self.same, equal_exists, general_exists)


def _solve_chunk(input_times, weights, tau_m, tau_s, c):
    neurons = _Neurons(tau_m, tau_s)
    sorted_times, order = torch.sort(input_times, dim=1)
    finite = torch.isfinite(sorted_times)
    origin = torch.where(finite[:, :1], sorted_times[:, :1], torch.zeros_like(sorted_times[:, :1]))
    rel = sorted_times - origin
    span = float(torch.where(finite, rel, torch.zeros_like(rel)).max()) if rel.numel() else 0.0
    limit = 0.5 * math.log(torch.finfo(rel.dtype).max) * float(torch.minimum(tau_m, tau_s).min())
    if span > limit:
        raise ValueError(f"input spike times of one sample span {span:.4g} time units; at most {limit:.4g} are supported")

    r = torch.where(finite, rel, torch.zeros_like(rel))[:, :, None]  # [b, N, 1]
    e_s, e_m = torch.exp(r / tau_s), torch.exp(r / tau_m)  # [b, N, M]
    p_terms = e_s  # equals e^{t/tau} where tau_m = tau_s
    q_terms = torch.where(neurons.same, (r / tau_m) * e_m, e_m)
    live = finite[:, :, None]
    w_sorted = weights[order]  # [b, N, M]
    p = torch.cumsum(torch.where(live, w_sorted * p_terms, torch.zeros_like(p_terms)), dim=1)
    q = torch.cumsum(torch.where(live, w_sorted * q_terms, torch.zeros_like(q_terms)), dim=1)

    lo = rel[:, :, None].expand_as(p)
    hi = torch.cat([rel[:, 1:], torch.full_like(rel[:, :1], math.inf)], dim=1)[:, :, None].expand_as(p)
    t_star, has_star = neurons.stationary_point(p, q)
    candidate = torch.where(has_star, torch.minimum(torch.maximum(t_star, lo), hi), lo)
    peak = neurons.f(p, q, candidate)
    # f(t_(k)) < c always (it is where the previous interval ended, or 0), so the maximum of
    # f on the interval is the larger of f(candidate) and f(t_(k+1)).
    crosses = (torch.maximum(peak, neurons.f(p, q, hi)) >= c[:, None, :]) & live

    fires = crosses.any(dim=1)
    k = crosses.to(torch.uint8).argmax(dim=1, keepdim=True)
    pick = lambda x: x.gather(1, k).squeeze(1)  # noqa: E731
    p_k, q_k, lo_k, hi_k, cand_k, peak_k = (pick(x) for x in (p, q, lo, hi, candidate, peak))
    # Bracket f(lo) < c <= f(hi): the candidate ends it if it reaches c (a maximum), otherwise
    # it was a minimum and starts it.
    lo_b = torch.where(peak_k >= c, lo_k, cand_k)
    hi_b = torch.where(peak_k >= c, cand_k, hi_k)
    t = torch.full_like(p_k, math.inf)
    shape = p_k.shape
    firing = _Neurons(*(x.expand(shape)[fires] for x in (tau_m, tau_s, neurons.same, neurons.k)))
    root = _newton_bisection(firing, p_k[fires], q_k[fires], c[fires], lo_b[fires], hi_b[fires])
    # Round-off can move the root a hair outside its interval; the interval is exact.
    t[fires] = torch.minimum(torch.maximum(root, lo_k[fires]), hi_k[fires]) + origin.expand(shape)[fires]
    return t


def _newton_bisection(neurons, p, q, c, lo, hi):
    """Root of f(t) = c in [lo, hi] with f(lo) < c <= f(hi) (1-D tensors, one per neuron
    and sample); Newton when it stays inside the bracket, bisection otherwise.

    Starts from the secant point of the bracket (a few Newton steps from the root) and
    iterates only on the elements that have not converged yet; near-tangential crossings may
    need up to bisection's ~50 steps.
    """
    f_lo, f_hi = neurons.f(p, q, lo), neurons.f(p, q, hi)
    gap = f_hi - f_lo
    secant = lo + (c - f_lo) * (hi - lo) / torch.where(gap > 0, gap, torch.ones_like(gap))
    t = torch.where((gap > 0) & (secant >= lo) & (secant <= hi), secant, 0.5 * (lo + hi))
    result = t.clone()
    active = torch.arange(t.numel())
    # f is a difference of nearly equal terms (K = tau_s / (tau_m - tau_s) is large for
    # similar time constants), so residuals bottom out around 1e-14 and the last Newton steps
    # jitter there; a step below 1e-12 tau_s is converged for any measurement we emulate.
    tol = 1e-12 if t.dtype == torch.float64 else 1e-5
    sub, pa, qa, ca = neurons, p, q, c
    for _ in range(_MAX_ITERATIONS):
        if active.numel() == 0:
            break
        value, slope = sub.f_and_slope(pa, qa, t)
        residual = value - ca
        lo = torch.where(residual < 0, t, lo)
        hi = torch.where(residual < 0, hi, t)
        newton = t - residual / torch.where(slope > 0, slope, torch.ones_like(slope))
        use_newton = (slope > 0) & (newton >= lo) & (newton <= hi)
        t_next = torch.where(use_newton, newton, 0.5 * (lo + hi))
        scale = tol * (1.0 + t_next.abs())
        done = ((t_next - t).abs() <= scale) | ((hi - lo) <= scale) | (residual == 0)
        result[active] = torch.where(residual == 0, t, t_next)
        keep = ~done
        if not bool(keep.all()):
            index = keep.nonzero().squeeze(1)
            active, t_next, lo, hi = active[index], t_next[index], lo[index], hi[index]
            sub, pa, qa, ca = sub.select(index), pa[index], qa[index], ca[index]
        t = t_next
    return result
