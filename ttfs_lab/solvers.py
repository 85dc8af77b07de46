"""Spike time inside the interval that fires, one solver per time-constant regime.

Times here are in the prefix sums' reference (ttfs_lab.prefix_sums: the sample's first input for
tau_m = tau_s, the interval's start otherwise); p, q are the prefix sums of
ttfs_lab.prefix_sums for the causal set, lo/hi the interval [t_(k), t_(k+1)) and c the threshold.
"""
from __future__ import annotations

import torch

from .kernel import rate_difference
from .lambertw import lambertw0
from .params import NeuronParams
from .prefix_sums import summed_input, summed_input_slope


def solve_equal(p, q, c, params: NeuronParams):
    """tau_m = tau_s = tau:  T = tau (Q/P - W_0(-(c/P) e^{Q/P})).

    From e^{-T/tau} (P T/tau - Q) = c; W_0 (not W_-1) picks the rising, i.e. first, crossing.
    The argument is >= -1/e exactly when the peak P e^{-t*/tau} reaches c.
    """
    ratio = q / p
    z = torch.clamp(-(c / p) * torch.exp(ratio), min=-1.0 / torch.e)
    return params.tau_m * (ratio - lambertw0(z))


def solve_double(p, q, c, params: NeuronParams):
    """tau_m = 2 tau_s: with x = e^{-t/tau_m}, f = A_m x - A_s x^2 = c, so

        T = tau_m ln(2 A_s / (A_m + sqrt(A_m^2 - 4 A_s c))),   A_s = P, A_m = P + g Q.

    The '+' root is the one where f rises; a crossing needs A_s, A_m > 0, so no cancellation.
    """
    a_s, a_m = p, p + rate_difference(params) * q
    d = torch.clamp(a_m * a_m - 4.0 * a_s * c, min=0.0)
    return params.tau_m * torch.log(2.0 * a_s / (a_m + torch.sqrt(d)))


def solve_bracketed(p, q, c, lo, hi, params: NeuronParams, max_iterations: int = 100):
    """Any tau_m/tau_s: safeguarded Newton on f(t) = c inside [lo, hi], f(lo) < c <= f(hi).

    A Newton step that leaves the current bracket is replaced by bisection, so the
    iteration always converges; Newton makes it fast (quadratic) near the root.
    """
    t = 0.5 * (lo + hi)
    tol = 4 * torch.finfo(t.dtype).eps
    for _ in range(max_iterations):
        f = summed_input(p, q, t, params) - c
        slope = summed_input_slope(p, q, t, params)
        lo = torch.where(f < 0, t, lo)
        hi = torch.where(f < 0, hi, t)
        newton = t - f / torch.where(slope > 0, slope, torch.ones_like(slope))
        use_newton = (slope > 0) & (newton > lo) & (newton < hi)
        t_next = torch.where(use_newton, newton, 0.5 * (lo + hi))
        step = (t_next - t).abs()
        t = t_next
        if bool((step <= tol * (1.0 + t.abs())).all()):
            break
    return t


def solve_in_interval(p, q, c, lo, hi, candidate, peak, fires, params):
    """The spike time in the interval [lo, hi) that fires, by the regime's solver, clamped into
    that interval (round-off can move a root a hair outside it; the interval is exact).

    candidate, peak: the interval's maximum candidate and f there (only the root finder needs
    them: the peak ends the bracket f(lo) < c <= f(hi) if it reaches c, else the candidate was a
    minimum and starts it). Entries where not ``fires`` must hold harmless values (p = q = 1);
    their result is meaningless and for the caller to discard.
    """
    if params.regime == "equal":
        t = solve_equal(p, q, c, params)
    elif params.regime == "double":
        t = solve_double(p, q, c, params)
    else:
        one = torch.ones_like(p)
        lo_b = torch.where(peak >= c, lo, candidate)
        hi_b = torch.where(peak >= c, candidate, hi)
        lo_b, hi_b = torch.where(fires, lo_b, one * 0), torch.where(fires, hi_b, one)
        t = solve_bracketed(p, q, c, lo_b, hi_b, params)
    return torch.minimum(torch.maximum(t, lo), hi)
