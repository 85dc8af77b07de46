"""The potential of a causal set, written through two running sums.

Shift all times by the sample's first input t_0 (so exponentials stay small) and sort the
inputs. The summed input of the first k inputs (the causal set C_k) is then, on the interval
[t_(k), t_(k+1)), a function of two prefix sums P_k, Q_k over the sorted inputs:

    tau_m = tau_s = tau:  P = sum_C w_i e^{t_i/tau},  Q = sum_C w_i (t_i/tau) e^{t_i/tau}
                          f(t) = e^{-t/tau} (P t/tau - Q)
    otherwise, with g = 1/tau_s - 1/tau_m (see ttfs_lab.kernel):
                          P = sum_C w_i e^{t_i/tau_s},  Q = sum_C w_i e^{t_i/tau_s} expm1(-g t_i) / g
                          f(t) = e^{-t/tau_s} (P expm1(g t)/g + Q e^{g t}) / tau_m

The second pair is the textbook K (A_m e^{-t/tau_m} - A_s e^{-t/tau_s}) with A_s = P and
A_m = P + g Q, rearranged so nothing cancels when tau_m is close to tau_s; as g -> 0 it
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


def _expm1_over(g, x):
    """expm1(g x) / g; its limit x where g = 0 (only per-neuron g can be 0 here)."""
    if not isinstance(g, torch.Tensor):
        return torch.expm1(g * x) / g
    zero = g == 0
    return torch.where(zero, x, torch.expm1(g * x) / torch.where(zero, torch.ones_like(g), g))


def _log1p_over(g, x):
    """log1p(g x) / g; its limit x where g = 0."""
    if not isinstance(g, torch.Tensor):
        return torch.log1p(g * x) / g if isinstance(x, torch.Tensor) else math.log1p(g * x) / g
    zero = g == 0
    return torch.where(zero, x, torch.log1p(g * x) / torch.where(zero, torch.ones_like(g), g))


def basis(rel_times: torch.Tensor, params: NeuronParams):
    """Per-input terms whose weighted prefix sums are P and Q (zero for inputs at +inf):
    [B, N], or [B, N, M] for PerNeuron params or for arrival times per neuron [B, N, M]."""
    finite = torch.isfinite(rel_times)
    r = torch.where(finite, rel_times, torch.zeros_like(rel_times))
    if isinstance(params, PerNeuron) and r.dim() == 2:  # [B, N] shared by the M neurons
        finite, r = finite[..., None], r[..., None]
    if params.regime == "equal":
        e = torch.exp(r / params.tau_m)
        p, q = e, (r / params.tau_m) * e
    else:
        p = torch.exp(r / params.tau_s)
        q = -p * _expm1_over(-_rate(params), r)
    zero = torch.zeros_like(p)
    return torch.where(finite, p, zero), torch.where(finite, q, zero)


def summed_input(p, q, t, params: NeuronParams):
    """f(t) = sum_C w_i kappa(t - t_i) from the prefix sums; 0 at t = +inf."""
    finite = torch.isfinite(t)
    t = torch.where(finite, t, torch.zeros_like(t))
    if params.regime == "equal":
        tau = params.tau_m
        value = torch.exp(-t / tau) * (p * t / tau - q)
    else:
        g = _rate(params)
        value = torch.exp(-t / params.tau_s) * (p * _expm1_over(g, t) + q * torch.exp(g * t)) / params.tau_m
    return torch.where(finite, value, torch.zeros_like(value))


def summed_input_slope(p, q, t, params: NeuronParams):
    """df/dt, which at the spike time is u-dot(T) = sum_C w_i kappa'(T - t_i)."""
    if params.regime == "equal":
        tau = params.tau_m
        return torch.exp(-t / tau) * (p - p * t / tau + q) / tau
    g = _rate(params)
    e_gt = torch.exp(g * t)
    return torch.exp(-t / params.tau_s) / params.tau_m * (
        p * (e_gt - _expm1_over(g, t) / params.tau_s) - q * e_gt / params.tau_m
    )


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
