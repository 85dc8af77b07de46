"""A 40-digit reference for the first spike of one neuron (mpmath), for the fuzz tests.

Independent of ttfs_lab: the drive v(t) = sum_{t_i < t} w_i kappa(t - t_i) is summed in
mpmath from the SPEC's kernel, so no intermediate overflows or cancels at any weight or
time. Between two inputs v has at most one stationary point (a sum of two exponentials, or
(a t + b) e^{-t/tau}); the reference finds it by bisection on v', splits the interval into
monotone pieces and bisects for the first upward crossing of c.
"""
from __future__ import annotations

import math

import mpmath

DIGITS = 40
TAIL = 80  # search this many max(tau) past the last input: v decays like e^{-t/tau} there


def _kernels(tau_m, tau_s):
    tm, ts = mpmath.mpf(tau_m), mpmath.mpf(tau_s)
    if tau_m == tau_s:
        return (lambda s: s / ts * mpmath.exp(-s / ts)), (lambda s: (1 - s / ts) * mpmath.exp(-s / ts) / ts)
    k = ts / (tm - ts)
    return (lambda s: k * (mpmath.exp(-s / tm) - mpmath.exp(-s / ts)),
            lambda s: k * (-mpmath.exp(-s / tm) / tm + mpmath.exp(-s / ts) / ts))


def _bisect(f, lo, hi, iterations=200):
    """Root of f on [lo, hi] with f(lo) < 0 <= f(hi)."""
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return hi


def first_spike(times, weights, tau_m, tau_s, c):
    """(T, margin): the first t with v(t) >= c (math.inf if none) and min over intervals of
    |max v - c| / c, the distance from a tangential (ill-conditioned) case."""
    with mpmath.workdps(DIGITS):
        kappa, dkappa = _kernels(tau_m, tau_s)
        pairs = sorted((mpmath.mpf(t), mpmath.mpf(w)) for t, w in zip(times, weights) if math.isfinite(t))
        c = mpmath.mpf(c)
        margin = math.inf
        for k, (lo, _) in enumerate(pairs):
            causal = pairs[: k + 1]
            hi = pairs[k + 1][0] if k + 1 < len(pairs) else lo + TAIL * max(tau_m, tau_s)
            if hi <= lo:
                continue

            def v(t, causal=causal):
                return mpmath.fsum(w * kappa(t - ti) for ti, w in causal)

            def dv(t, causal=causal):
                return mpmath.fsum(w * dkappa(t - ti) for ti, w in causal)

            knots = [lo]
            a, b = dv(lo + (hi - lo) * mpmath.mpf(10) ** -30), dv(hi)
            if (a > 0) != (b > 0):
                knots.append(_bisect(lambda t: dv(t) if a < 0 else -dv(t), lo, hi))
            knots.append(hi)
            peak = max(v(t) for t in knots)
            margin = min(margin, float(abs(peak - c) / c))
            for left, right in zip(knots[:-1], knots[1:]):
                if v(left) < c <= v(right):
                    return float(_bisect(lambda t: v(t) - c, left, right)), margin
        return math.inf, margin
