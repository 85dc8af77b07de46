"""Checks on user-facing inputs, so that mistakes fail early with a clear message."""
from __future__ import annotations

import math

import torch


def check_layer_inputs(input_times, weights):
    """Validate a layer's inputs; return them as tensors of one floating dtype.

    input_times [B, N] may hold +inf (no spike) and any finite time; NaN is an error.
    weights [N, M] must be finite.
    """
    weights = torch.as_tensor(weights)
    if not weights.is_floating_point():
        weights = weights.to(torch.get_default_dtype())
    input_times = torch.as_tensor(input_times, dtype=weights.dtype, device=weights.device)
    if input_times.dim() != 2:
        raise ValueError(f"input_times must have shape [batch, n_inputs], got {tuple(input_times.shape)}")
    if weights.dim() != 2:
        raise ValueError(f"weights must have shape [n_inputs, n_neurons], got {tuple(weights.shape)}")
    if input_times.shape[1] != weights.shape[0]:
        raise ValueError(
            f"shape mismatch: input_times has {input_times.shape[1]} inputs per sample "
            f"but weights has {weights.shape[0]} rows (one per input)"
        )
    # One reduction each in the common case (these checks dominated small layers): a sum is
    # NaN if any entry is NaN (or +inf meets -inf), -inf if any is -inf, and finite if all are
    # finite (unless it overflows); only a suspicious sum pays for the precise checks.
    total = float(input_times.detach().sum())
    if math.isnan(total) or total == -math.inf:
        if torch.isnan(input_times).any():
            raise ValueError("input_times contains NaN; use +inf for an input that does not spike")
        if (input_times == -float("inf")).any():
            raise ValueError("input_times contains -inf; spike times must be finite or +inf (no spike)")
    if not math.isfinite(float(weights.detach().sum())) and not torch.isfinite(weights).all():
        raise ValueError("weights contain NaN or inf; every weight must be finite")
    return input_times, weights
