"""The potential of a causal set, written through two running sums.

Shift all times by the sample's first input t_0 (so exponentials stay small) and sort the
inputs. The summed input of the first k inputs (the causal set C_k) is then, on the interval
[t_(k), t_(k+1)), a function of two prefix sums P_k, Q_k over the sorted inputs:

    tau_m = tau_s = tau:  P = sum_C w_i e^{t_i/tau},  Q = sum_C w_i (t_i/tau) e^{t_i/tau}
                          f(t) = e^{-t/tau} (P t/tau - Q)
    otherwise:            P = sum_C w_i e^{t_i/tau_s},  Q = sum_C w_i e^{t_i/tau_m}
                          f(t) = K (Q e^{-t/tau_m} - P e^{-t/tau_s}),  K = tau_s/(tau_m - tau_s)

f = g_leak (u - e_leak) = sum_C w_i kappa(t - t_i). f has at most one stationary point t*;
on an interval its maximum lies at the clamp of t* into the interval or at an end.
"""
from __future__ import annotations

import math

import torch

from .params import NeuronParams


def basis(rel_times: torch.Tensor, params: NeuronParams):
    """Per-input terms whose weighted prefix sums are P and Q (zero for inputs at +inf)."""
    finite = torch.isfinite(rel_times)
    r = torch.where(finite, rel_times, torch.zeros_like(rel_times))
    if params.regime == "equal":
        e = torch.exp(r / params.tau_m)
        p, q = e, (r / params.tau_m) * e
    else:
        p, q = torch.exp(r / params.tau_s), torch.exp(r / params.tau_m)
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
        k = params.tau_s / (params.tau_m - params.tau_s)
        value = k * (q * torch.exp(-t / params.tau_m) - p * torch.exp(-t / params.tau_s))
    return torch.where(finite, value, torch.zeros_like(value))


def summed_input_slope(p, q, t, params: NeuronParams):
    """df/dt, which at the spike time is u-dot(T) = sum_C w_i kappa'(T - t_i)."""
    if params.regime == "equal":
        tau = params.tau_m
        return torch.exp(-t / tau) * (p - p * t / tau + q) / tau
    k = params.tau_s / (params.tau_m - params.tau_s)
    return k * (p * torch.exp(-t / params.tau_s) / params.tau_s - q * torch.exp(-t / params.tau_m) / params.tau_m)


def stationary_point(p, q, params: NeuronParams):
    """(t*, exists) with f'(t*) = 0. For tau_m = tau_s only a maximum (P > 0) is returned;
    a minimum there never hides a crossing (see the module docstring of spike_times)."""
    if params.regime == "equal":
        exists = p > 0
        safe_p = torch.where(exists, p, torch.ones_like(p))
        return params.tau_m * (1.0 + q / safe_p), exists
    # P/tau_s e^{-t/tau_s} = Q/tau_m e^{-t/tau_m}  <=>  t (1/tau_m - 1/tau_s) = ln(Q tau_s / (P tau_m))
    ratio = q * params.tau_s / (p * params.tau_m)
    exists = (ratio > 0) & torch.isfinite(ratio)
    safe = torch.where(exists, ratio, torch.ones_like(ratio))
    return torch.log(safe) / (1.0 / params.tau_m - 1.0 / params.tau_s), exists


def max_exponent(dtype: torch.dtype) -> float:
    """Largest exponent whose exp() stays comfortably finite in this dtype."""
    return 0.5 * math.log(torch.finfo(dtype).max)
