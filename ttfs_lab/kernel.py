"""The post-synaptic potential kernel and the membrane potential it builds.

    kappa(s) = tau_s / (tau_m - tau_s) * (exp(-s/tau_m) - exp(-s/tau_s))    (tau_m != tau_s)
    kappa(s) = (s / tau) * exp(-s / tau)                                   (tau_m = tau_s = tau)

and kappa(s) = 0 for s <= 0 (an input has no effect before it arrives). With tau_m = tau_s
the kernel peaks at s = tau with value 1/e.

The first form cancels catastrophically as tau_m -> tau_s. With g = 1/tau_s - 1/tau_m it is
exactly

    kappa(s) = exp(-s/tau_s) * expm1(g s) / (g tau_m),

which has no cancellation and tends to the second form as g -> 0. Written as

    kappa(s) = exp(-s/tau_max) * (-expm1(-|g| s)) / (|g| tau_m),   tau_max = max(tau_m, tau_s),

(the same for either sign of g) both factors stay in [0, 1] resp. [0, 1/|g|]: the product
form above is inf * 0 for long lags (g s past ~88 in float32), this one never overflows.
That is what we compute.
"""
from __future__ import annotations

import torch

from .params import NeuronParams


def kernel(s: torch.Tensor, params: NeuronParams = NeuronParams()) -> torch.Tensor:
    """kappa(s), elementwise; zero for s <= 0 and for s = +inf."""
    s = torch.as_tensor(s)
    if not s.is_floating_point():
        s = s.to(torch.get_default_dtype())
    causal = (s > 0) & torch.isfinite(s)
    s = torch.where(causal, s, torch.zeros_like(s))  # keeps inf out of exp(), so no NaN
    if params.regime == "equal":
        value = (s / params.tau_m) * torch.exp(-s / params.tau_m)
    else:
        value = _decay_difference(s, params) / params.tau_m
    return torch.where(causal, value, torch.zeros_like(value))


def _decay_difference(s, params: NeuronParams):
    """tau_m kappa(s) for s >= 0, tau_m != tau_s, in the overflow-free form of the docstring."""
    rate = abs(rate_difference(params))
    return torch.exp(-s / max(params.tau_m, params.tau_s)) * (-torch.expm1(-rate * s)) / rate


def rate_difference(params: NeuronParams) -> float:
    """g = 1/tau_s - 1/tau_m, computed without cancellation."""
    return (params.tau_m - params.tau_s) / (params.tau_s * params.tau_m)


def kernel_derivative(s: torch.Tensor, params: NeuronParams = NeuronParams()) -> torch.Tensor:
    """d kappa / ds, elementwise; zero for s <= 0 and for s = +inf."""
    causal = (s > 0) & torch.isfinite(s)
    s = torch.where(causal, s, torch.zeros_like(s))
    if params.regime == "equal":
        tau = params.tau_m
        value = (1.0 - s / tau) * torch.exp(-s / tau) / tau
    else:
        # d/ds of D(s) / tau_m, D = tau_m kappa: D' = exp(-s/tau_m) - D / tau_s (no overflow)
        value = (torch.exp(-s / params.tau_m) - _decay_difference(s, params) / params.tau_s) / params.tau_m
    return torch.where(causal, value, torch.zeros_like(value))


def kernel_pair(s: torch.Tensor, params: NeuronParams, need_kernel: bool, need_derivative: bool):
    """(kappa(s) or None, kappa'(s) or None): what a backward pass asks for at once."""
    return (kernel(s, params) if need_kernel else None,
            kernel_derivative(s, params) if need_derivative else None)


def membrane_potential(
    t: torch.Tensor,
    input_times: torch.Tensor,
    weights: torch.Tensor,
    params: NeuronParams = NeuronParams(),
) -> torch.Tensor:
    """Membrane potential of every neuron on a time grid.

    u(t) = e_leak + sum_i w_i * kappa(t - t_i) / g_leak

    The potential is drawn as if the neuron never fired (it has no reset here): views
    cut it at the spike time if they wish.

    Args:
        t: 1-D time grid [T].
        input_times: [B, N] input spike times (+inf = no spike).
        weights: [N, M].
    Returns:
        [B, T, M] potentials.
    """
    from .validation import check_layer_inputs, real_tensor

    input_times, weights = check_layer_inputs(input_times, weights)
    t = real_tensor(t, "t", dtype=weights.dtype, device=weights.device)
    if t.dim() != 1:
        raise ValueError(f"t must be a 1-D time grid, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():  # a NaN time gave potential 0, an inf one e_leak: silent nonsense
        raise ValueError("t (the time grid) must hold finite times only")
    psp = kernel(t[None, :, None] - input_times[:, None, :], params)  # [B, T, N]
    return params.e_leak + psp @ weights / params.g_leak
