"""The compiled synaptic-delay kernels (src/ttfs_delays.inc in ttfs_lab._native).

Same backend switch as the undelayed layer (ttfs_lab.native: TTFS_LAB_BACKEND, set_backend);
an extension built before the delay kernels existed simply falls back to the torch path.
"""
from __future__ import annotations

import torch

from .. import native
from ..native import _REGIME_CODES, _check_shapes, _prepare, _threads


def applies(*tensors) -> bool:
    return native.applies(*tensors) and hasattr(native._native, "delay_forward")


def forward(input_times, weights, delays, params, span_limit):
    """(times [B, M], slopes [B, M], largest arrival span) with synaptic delays [N, M]."""
    x, w, d = _prepare(input_times), _prepare(weights), _prepare(delays)
    _check_shapes(x, w)
    if d.shape != w.shape:
        raise ValueError(f"expected delays of the weights' shape {tuple(w.shape)}, got {tuple(d.shape)}")
    (n_batch, n_in), n_out = x.shape, w.shape[1]
    times = torch.empty((n_batch, n_out), dtype=w.dtype)
    slopes = torch.empty_like(times)
    span = native._native.delay_forward(
        w.dtype == torch.float64, x.data_ptr(), w.data_ptr(), d.data_ptr(), times.data_ptr(), slopes.data_ptr(),
        n_batch, n_in, n_out, _REGIME_CODES[params.regime], params.tau_m, params.tau_s, params.c,
        span_limit, _threads(n_batch * n_in * n_out),
    )
    return times, slopes, span


def backward(input_times, weights, delays, times, slopes, grad_times, params, min_slope, need_input_grad):
    """(grad_x [B, N] or None, grad_w [N, M], grad_d [N, M])."""
    x, w, d = _prepare(input_times), _prepare(weights), _prepare(delays)
    t, s, g = _prepare(times), _prepare(slopes), _prepare(grad_times)
    _check_shapes(x, w, t, s, g)
    (n_batch, n_in), n_out = x.shape, w.shape[1]
    grad_x = torch.empty_like(x) if need_input_grad else None
    grad_w, grad_d = torch.zeros_like(w), torch.zeros_like(w)
    native._native.delay_backward(
        w.dtype == torch.float64, x.data_ptr(), w.data_ptr(), d.data_ptr(), t.data_ptr(), s.data_ptr(), g.data_ptr(),
        grad_x.data_ptr() if grad_x is not None else 0, grad_w.data_ptr(), grad_d.data_ptr(),
        n_batch, n_in, n_out, _REGIME_CODES[params.regime], params.tau_m, params.tau_s, params.c,
        min_slope, _threads(n_batch * n_in * n_out),
    )
    return grad_x, grad_w, grad_d
