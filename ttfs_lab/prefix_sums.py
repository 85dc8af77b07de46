"""The potential of a causal set, written through two running sums.

Sort a sample's inputs and shift them so that the first is at 0 (r_0 = 0 <= r_1 <= ...). The
summed input of the first k+1 inputs (the causal set C_k) is then, on the interval
[r_k, r_(k+1)), a function of two prefix sums P_k, Q_k over the sorted inputs.

tau_m = tau_s = tau (referenced to the first input):

    P = sum_C w_i e^{r_i/tau},  Q = sum_C w_i (r_i/tau) e^{r_i/tau},   f(t) = e^{-t/tau} (P t/tau - Q)

Otherwise, with g = 1/tau_s - 1/tau_m (see ttfs_lab.kernel), referenced to the interval's own
start rho = r_k, time x = t - rho:

    P = sum_C w_i e^{-(rho - r_i)/tau_s},   Q = sum_C w_i D(rho - r_i) = tau_m f(rho),
    f(rho + x) = (P D(x) + Q e^{-x/tau_m}) / tau_m,
    D(x) = e^{-x/tau_s} expm1(g x) / g = e^{-x/tau_max} (-expm1(-|g| x)) / |g|  (= tau_m kappa(x)).

Why two references: in the first-input reference the second pair's terms are of size
e^{S/tau_s} against a result of size e^{S/tau_m} (S the span), so they cancel by e^{S |g|}: past
S |g| ~ 36 (float64) round-off alone reached the threshold. Referenced to rho every term is
at most |w_i| (D <= tau_max), whatever the span. For tau_m = tau_s the first-input form only
loses a factor S/tau (P t/tau - Q = sum w_i e^{r_i/tau} (t - r_i)/tau), so it stays; its
exponentials bound the span it can take (ttfs_lab.spike_times._span_limit).

Moving the reference by delta >= 0 ("transport", no new input: D(x + delta) splits the same way):

    P' = e^{-delta/tau_s} P,   Q' = e^{-delta/tau_m} Q + D(delta) P,

so the sums of every interval come from a doubling scan (interval_sums): log2(n) steps that
each add the sums of the window before, transported; every factor is in [0, 1] resp. [0, tau_max].
With the first input's reference (rho = 0, D(-r) for D(rho - r)) this is the textbook
K (A_m e^{-t/tau_m} - A_s e^{-t/tau_s}) with A_s = P and A_m = P + g Q, rearranged so nothing
cancels when tau_m is close to tau_s; as g -> 0, D(x) -> x e^{-x/tau} and the second form
becomes the first (Q -> -tau b).

f = g_leak (u - e_leak) = sum_C w_i kappa(t - t_i). f has at most one stationary point t*;
on an interval its maximum lies at the clamp of t* into the interval or at an end.

Per-neuron parameters (an analog chip: every neuron circuit has its own tau_m, tau_s): pass a
PerNeuron instead of a NeuronParams. Every neuron then uses the second form with its own g
([M] tensors broadcast over the last axis, so P and Q become [B, N, M]); a neuron with
tau_m = tau_s has g = 0 and takes the limits expm1(g x)/g -> x, log1p(g x)/g -> x of the same
formulas (Q = -tau b there), so one layer may mix all regimes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .kernel import rate_difference
from .params import _SAME_TAU_RTOL, NeuronParams


@dataclass(frozen=True)
class PerNeuron:
    """Time constants per neuron: tau_m, tau_s are [M] tensors (> 0, not checked here).

    Stands in for a NeuronParams in this module and in ttfs_lab.solvers.solve_bracketed
    (regime "general": the root finder serves every ratio). g = 1/tau_s - 1/tau_m per neuron,
    exactly 0 where tau_m = tau_s within NeuronParams' tolerance (those neurons take the limits).
    """

    tau_m: torch.Tensor
    tau_s: torch.Tensor
    g: torch.Tensor = field(init=False, repr=False)
    regime = "general"

    def __post_init__(self):
        same = torch.isclose(self.tau_m, self.tau_s, rtol=_SAME_TAU_RTOL, atol=0.0)
        # tau_m = tau_s within the tolerance: one tau (tau_s) throughout, as the native kernel
        object.__setattr__(self, "tau_m", torch.where(same, self.tau_s, self.tau_m))
        g = (self.tau_m - self.tau_s) / (self.tau_s * self.tau_m)
        object.__setattr__(self, "g", g)


def _rate(params):
    return params.g if isinstance(params, PerNeuron) else rate_difference(params)


def _log1p_over(g, x):
    """log1p(g x) / g; its limit x where g = 0."""
    if not isinstance(g, torch.Tensor):
        return torch.log1p(g * x) / g if isinstance(x, torch.Tensor) else math.log1p(g * x) / g
    zero = g == 0
    return torch.where(zero, x, torch.log1p(g * x) / torch.where(zero, torch.ones_like(g), g))


def basis(rel_times: torch.Tensor, params: NeuronParams):
    """tau_m = tau_s: per-input terms e^{r/tau}, (r/tau) e^{r/tau} whose weighted prefix sums are
    P and Q (zero for inputs at +inf): [B, N], or [B, N, M] for arrival times per neuron."""
    finite = torch.isfinite(rel_times)
    r = torch.where(finite, rel_times, torch.zeros_like(rel_times))
    e = torch.exp(r / params.tau_m)
    p, q = e, (r / params.tau_m) * e
    zero = torch.zeros_like(p)
    return torch.where(finite, p, zero), torch.where(finite, q, zero)


def decay_difference(x, params):
    """D(x) = e^{-x/tau_s} expm1(g x) / g = tau_m kappa(x) for x >= 0 (0 at x = +inf), as
    e^{-x/tau_max} (-expm1(-|g| x)) / |g|: both factors in [0, 1] resp. [0, 1/|g|], so it neither
    overflows nor cancels at any x (the first form is inf * 0 once g x passes ~88 in float32)."""
    finite = torch.isfinite(x)
    x = torch.where(finite, x, torch.zeros_like(x))
    g = _rate(params)
    if isinstance(g, torch.Tensor):
        tau_max = torch.maximum(params.tau_m, params.tau_s)
        rate = g.abs()
        zero = rate == 0
        spread = torch.where(zero, x, -torch.expm1(-rate * x) / torch.where(zero, torch.ones_like(rate), rate))
    else:
        tau_max, rate = max(params.tau_m, params.tau_s), abs(g)
        spread = -torch.expm1(-rate * x) / rate
    value = torch.exp(-x / tau_max) * spread
    return torch.where(finite, value, torch.zeros_like(value))


def transport(delta, params):
    """(e^{-delta/tau_s}, e^{-delta/tau_m}, D(delta)): moving the reference of (P, Q) by delta >= 0
    gives P' = a P, Q' = b Q + d P (module docstring); all 0 at delta = +inf."""
    return torch.exp(-delta / params.tau_s), torch.exp(-delta / params.tau_m), decay_difference(delta, params)


def interval_sums(rel: torch.Tensor, w_sorted: torch.Tensor, params):
    """P_k, Q_k [b, n, M] of every interval, referenced to its own start r_k (tau_m != tau_s or
    PerNeuron; module docstring), from sorted times rel [b, n] or [b, n, M] (+inf last) and
    the weights in that order w_sorted [b, n, M].

    Doubling scan: after the step with offset h, entry k holds the inputs k-2h+1..k, so
    ceil(log2 n) steps. Entries at +inf keep weight 0 and are never read by a finite one."""
    finite = torch.isfinite(rel)
    if rel.dim() == 2:
        rel, finite = rel[:, :, None], finite[:, :, None]
    p = torch.where(finite, w_sorted, torch.zeros_like(w_sorted))
    q = torch.zeros_like(p)
    n, offset = p.shape[1], 1
    while offset < n:
        delta = rel[:, offset:] - rel[:, :-offset]
        delta = torch.where(finite[:, offset:], delta, torch.full_like(delta, float("inf")))  # inf - inf
        a, b, d = transport(delta, params)
        p_before, q_before = p[:, :-offset], q[:, :-offset]
        q = torch.cat([q[:, :offset], q[:, offset:] + b * q_before + d * p_before], dim=1)
        p = torch.cat([p[:, :offset], p[:, offset:] + a * p_before], dim=1)
        offset *= 2
    return p, q


def summed_input(p, q, t, params: NeuronParams):
    """f(t) = sum_C w_i kappa(t - t_i) from the prefix sums (t in their reference); 0 at t = +inf."""
    if params.regime != "equal":
        # t = +inf: D and the exponential are both 0
        return (p * decay_difference(t, params) + q * torch.exp(-t / params.tau_m)) / params.tau_m
    finite = torch.isfinite(t)
    t = torch.where(finite, t, torch.zeros_like(t))
    tau = params.tau_m
    value = torch.exp(-t / tau) * (p * t / tau - q)
    return torch.where(finite, value, torch.zeros_like(value))


def summed_input_slope(p, q, t, params: NeuronParams):
    """df/dt, which at the spike time is u-dot(T) = sum_C w_i kappa'(T - t_i)."""
    if params.regime == "equal":
        tau = params.tau_m
        return torch.exp(-t / tau) * (p - p * t / tau + q) / tau
    # D'(x) = e^{-x/tau_m} - D(x) / tau_s
    e_m = torch.exp(-t / params.tau_m)
    return (p * (e_m - decay_difference(t, params) / params.tau_s) - q * e_m / params.tau_m) / params.tau_m


def stationary_point(p, q, params: NeuronParams):
    """(t*, exists) with f'(t*) = 0. For tau_m = tau_s only a maximum (P > 0) is returned;
    a minimum there never hides a crossing (see the module docstring of spike_times)."""
    if params.regime == "equal":
        exists = p > 0
        safe_p = torch.where(exists, p, torch.ones_like(p))
        return params.tau_m * (1.0 + q / safe_p), exists
    # f'(t*) = 0  <=>  e^{g t*} = tau_m A_s / (tau_s A_m) = tau_m / (tau_s (1 + x)),  x = g Q / P,
    # so t* = (-log1p(-g tau_s) - log1p(x)) / g: both terms stay smooth as g -> 0.
    g = _rate(params)
    nonzero = p != 0
    ratio = q / torch.where(nonzero, p, torch.ones_like(p))
    x = g * ratio
    exists = nonzero & (x > -1) & torch.isfinite(x)
    ratio = torch.where(exists, ratio, torch.zeros_like(ratio))
    return _log1p_over(-g, params.tau_s) - _log1p_over(g, ratio), exists


def max_exponent(dtype: torch.dtype) -> float:
    """Largest exponent whose exp() stays comfortably finite in this dtype."""
    return 0.5 * math.log(torch.finfo(dtype).max)
