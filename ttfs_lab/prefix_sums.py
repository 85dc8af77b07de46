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
"""
from __future__ import annotations

import math

import torch

from .kernel import rate_difference
from .params import NeuronParams


def basis(rel_times: torch.Tensor, params: NeuronParams):
    """Per-input terms whose weighted prefix sums are P and Q (zero for inputs at +inf)."""
    finite = torch.isfinite(rel_times)
    r = torch.where(finite, rel_times, torch.zeros_like(rel_times))
    if params.regime == "equal":
        e = torch.exp(r / params.tau_m)
        p, q = e, (r / params.tau_m) * e
    else:
        g = rate_difference(params)
        p = torch.exp(r / params.tau_s)
        q = p * torch.expm1(-g * r) / g
    zero = torch.zeros_like(r)
    return torch.where(finite, p, zero), torch.where(finite, q, zero)


def summed_input(p, q, t, params: NeuronParams):
    """f(t) = sum_C w_i kappa(t - t_i) from the prefix sums; 0 at t = +inf."""
    finite = torch.isfinite(t)
    t = torch.where(finite, t, torch.zeros_like(t))
    if params.regime == "equal":
        tau = params.tau_m
        value = torch.exp(-t / tau) * (p * t / tau - q)
    else:
        g = rate_difference(params)
        value = torch.exp(-t / params.tau_s) * (p * torch.expm1(g * t) / g + q * torch.exp(g * t)) / params.tau_m
    return torch.where(finite, value, torch.zeros_like(value))


def summed_input_slope(p, q, t, params: NeuronParams):
    """df/dt, which at the spike time is u-dot(T) = sum_C w_i kappa'(T - t_i)."""
    if params.regime == "equal":
        tau = params.tau_m
        return torch.exp(-t / tau) * (p - p * t / tau + q) / tau
    g = rate_difference(params)
    gt = g * t
    return torch.exp(-t / params.tau_s) / params.tau_m * (
        p * (torch.exp(gt) - torch.expm1(gt) / (g * params.tau_s)) - q * torch.exp(gt) / params.tau_m
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
    g = rate_difference(params)
    nonzero = p != 0
    x = g * q / torch.where(nonzero, p, torch.ones_like(p))
    exists = nonzero & (x > -1) & torch.isfinite(x)
    x = torch.where(exists, x, torch.zeros_like(x))
    return (-math.log1p(-g * params.tau_s) - torch.log1p(x)) / g, exists


def max_exponent(dtype: torch.dtype) -> float:
    """Largest exponent whose exp() stays comfortably finite in this dtype."""
    return 0.5 * math.log(torch.finfo(dtype).max)
