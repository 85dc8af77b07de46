"""The paper code's guard against near-tangential spikes ("max_dw_norm").

A neuron whose potential only just touches the threshold has u'(T) ~ 0, and its exact gradient

    dT/dw_i = -kappa(T - t_i) / u'(T)

is huge: a tiny weight change decides whether it spikes at all. The authors' training code
(fastAndDeep, ``max_dw_norm: 0.2`` in its Yin-Yang config) drops, in every layer, the weight
update that one sample b brings to one neuron m whenever

    max_i | delta_bm * dT_bm/dw_i | > max_dw_norm,        delta_bm = dL/dT_bm,

while the error delta still flows on to the earlier layers unchanged. Here the same rule is
applied after ``loss.backward()`` by subtracting the dropped contributions from the weight
gradient, so the core's exact gradients stay untouched.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from ..kernel import kernel
from ..params import NeuronParams
from ..delays.core import _SynapticDelays
from ..spike_times import _MIN_SLOPE, _SpikeTimes, slope_at

# autograd nodes whose forward saved the slope their backward divides by
_RECORDING = (_SpikeTimes._backward_cls, _SynapticDelays._backward_cls)


@lru_cache(maxsize=8)
def kernel_peak(params: NeuronParams) -> float:
    """max_s kappa(s): 1/e for tau_m = tau_s, else at s* = ln(tau_m/tau_s) / (1/tau_s - 1/tau_m)."""
    if params.regime == "equal":
        s_star = params.tau_m
    else:
        s_star = math.log(params.tau_m / params.tau_s) / (1.0 / params.tau_s - 1.0 / params.tau_m)
    return float(kernel(torch.tensor([s_star], dtype=torch.float64), params)[0])


def recorded_slope(times, weight):
    """u'(T) as the core's forward pass recorded it for its backward pass, or None when
    ``times`` did not come from first_spike_times with this ``weight`` (e.g. a chip measured
    them). Read before backward(), which frees the record. Saves recomputing it (slope_at),
    which would cost as much as the clipping's whole budget."""
    node = times.grad_fn
    if not isinstance(node, _RECORDING):
        return None
    # (input_times, weights, times, slope[, delays]), see _SpikeTimes / _SynapticDelays.forward
    saved = node.saved_tensors
    if len(saved) not in (4, 5) or saved[1].data_ptr() != weight.data_ptr() or saved[3].shape != times.shape:
        return None
    return saved[3]


@torch.no_grad()
def drop_large_weight_updates(weight, input_times, times, grad_times, params: NeuronParams, max_norm: float,
                              slope=None) -> int:
    """Remove from ``weight.grad`` each per-sample, per-neuron contribution whose largest entry
    exceeds ``max_norm`` (see module doc). input_times [B, N+1] include the bias spike (or
    [B, N+1, M]: arrival times per neuron with synaptic delays, ttfs_lab.delays);
    times, grad_times [B, M]; slope: u'(T) [B, M] if known (else recomputed).
    Returns how many (sample, neuron) contributions were dropped."""
    if weight.grad is None or grad_times is None:
        return 0
    active = torch.isfinite(times) & (grad_times != 0)
    if not bool(active.any()):
        return 0
    if slope is None:
        if input_times.dim() == 3:
            raise ValueError("with per-neuron arrival times pass the recorded slope")
        slope = slope_at(input_times, weight.detach(), times, params)
    slope = slope.clamp(min=_MIN_SLOPE * params.c)  # as the core's backward pass does
    # Cheap bound first (kappa <= its peak): only the rare near-tangential spikes get the exact test.
    candidate = active & (grad_times.abs() * (kernel_peak(params) / slope) > max_norm)
    if not bool(candidate.any()):
        return 0
    b, m = candidate.nonzero(as_tuple=True)
    arrival = input_times[b] if input_times.dim() == 2 else input_times[b, :, m]
    lag = times[b, m][:, None] - arrival  # [K, N+1]
    contribution = -kernel(lag, params) / slope[b, m][:, None] * grad_times[b, m][:, None]
    drop = contribution.abs().amax(dim=1) > max_norm
    # weight.grad[:, m_k] -= contribution_k for every dropped k (index_add_ sums repeated m)
    weight.grad.T.index_add_(0, m[drop], -contribution[drop])
    return int(drop.sum())
