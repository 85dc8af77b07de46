"""Checks on user-facing inputs, so that mistakes fail early with a clear message.

Two kinds of mistake, two kinds of error:

- the wrong *type* (a string, None, a complex number, a fractional layer size): InputTypeError,
  a TypeError that is also a ValueError, so code that catches ValueError for bad input (the
  command line, the dashboards) still catches it;
- a value of the right type that cannot work (NaN, -inf, a wrong shape, weights so large that
  the exponentials overflow): ValueError.

Harmless types are accepted: numpy scalars (np.float32(0.5), np.int64(3)), 0-d tensors, ints
where floats are expected, and whole floats (120.0) where a count is expected.
"""
from __future__ import annotations

import math
import numbers
import operator

import torch


class InputTypeError(TypeError, ValueError):
    """An argument has the wrong type (also a ValueError: it is bad input all the same)."""


def _type_name(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of {value.dtype}"
    return type(value).__name__


def real_number(value, name: str, finite: bool = True) -> float:
    """``value`` as a float: any real number (int, float, numpy scalar, 0-d real tensor).

    Raises InputTypeError for str, None, bool, complex and other non-numbers, and ValueError
    for NaN/inf when ``finite``.
    """
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_complex() and value.dtype is not torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a real number, got {value!r} ({_type_name(value)})")
    value = float(value)
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def whole_number(value, name: str, minimum: int | None = None) -> int:
    """``value`` as an int: an integer (numpy integers too) or a whole float such as 120.0.

    A fractional value (2.7) is a ValueError rather than being truncated; str, None, bool and
    other non-numbers are an InputTypeError.
    """
    if isinstance(value, bool):
        raise InputTypeError(f"{name} must be a whole number, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        if isinstance(value, numbers.Real):
            as_float = float(value)
            if not (math.isfinite(as_float) and as_float.is_integer()):
                raise ValueError(f"{name} must be a whole number, got {value!r}") from None
            number = int(as_float)
        else:
            raise InputTypeError(f"{name} must be a whole number, got {value!r} ({_type_name(value)})") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def real_tensor(value, name: str, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """``value`` (tensor, array, nested lists of numbers) as a real floating tensor.

    Integers become floating point (``dtype``, default torch's default dtype); complex and
    bool values, strings, None and objects are an InputTypeError (never silently cast).
    """
    if value is None or isinstance(value, (str, bytes)):
        raise InputTypeError(f"{name} must be a tensor or array of real numbers, got {_type_name(value)}")
    try:
        tensor = torch.as_tensor(value, device=device)
    except (TypeError, ValueError, RuntimeError, OverflowError) as error:
        raise InputTypeError(
            f"{name} must be a tensor or array of real numbers, got {_type_name(value)} ({error})"
        ) from None
    if tensor.is_complex():
        raise InputTypeError(f"{name} must be real, got complex values ({tensor.dtype}); pass .real if you mean it")
    if tensor.dtype is torch.bool:
        raise InputTypeError(f"{name} must hold numbers, got booleans")
    if dtype is not None:
        tensor = tensor.to(dtype)
    elif not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


_HALF_DTYPES = (torch.float16, torch.bfloat16)


def check_layer_inputs(input_times, weights):
    """Validate a layer's inputs; return them as tensors of one floating dtype.

    input_times [B, N] may hold +inf (no spike) and any finite time; NaN is an error.
    weights [N, M] must be finite.
    """
    weights = real_tensor(weights, "weights")
    if weights.dtype in _HALF_DTYPES:
        # Half precision overflows at 65504 (bfloat16 keeps 3 digits): the exponentials of a few
        # tau already leave it, so its spike times would be refused or silently coarse.
        raise InputTypeError(f"weights are {weights.dtype}, which spike times cannot be computed in; "
                             "use torch.float32 or torch.float64")
    input_times = real_tensor(input_times, "input_times", dtype=weights.dtype, device=weights.device)
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
    check_weight_magnitude(weights)
    return input_times, weights


# ------------------------------------------------------------------------------- overflow
# Headroom factor K for the products the solvers form from the prefix sums (P^2 in the
# tau_m = 2 tau_s closed form, P e^{g t} in the general one, Q = P r, the last interval
# reaching a few tau past the last input): everything stays below finfo.max / K.
_HEADROOM_LOG = 20 * math.log(2.0)


def largest_summed_weight(weights: torch.Tensor) -> float:
    """W = max_j sum_i |w_ij|: what one neuron's prefix sums can add up to (0 if empty)."""
    if weights.numel() == 0:
        return 0.0
    return float(weights.detach().abs().sum(dim=0).max())


def overflow_span_limit(weights: torch.Tensor, tau_min: float) -> float:
    """Largest spread s of one sample's input times that the spike-time solvers can handle
    without overflow, for these weights (both backends use this one bound).

    The prefix sums are bounded by |P| <= W e^{s / tau_min} (times shifted to the sample's
    first input, W = largest_summed_weight), and the solvers square P or multiply it by
    exponentials of the same size. Requiring (W e^{s / tau_min})^2 <= finfo.max / K gives

        s <= tau_min (ln(finfo.max / K) / 2 - ln max(W, 1)).

    Negative (refuse every input) when W alone is too large: see check_weight_magnitude.
    """
    log_max = math.log(torch.finfo(weights.dtype).max)
    return tau_min * (0.5 * (log_max - _HEADROOM_LOG) - math.log(max(largest_summed_weight(weights), 1.0)))


def check_weight_magnitude(weights: torch.Tensor) -> None:
    """Refuse weights whose sum into one neuron is too large to compute with in this dtype
    (spike times depend only on weights / threshold, so such weights are never needed)."""
    total = largest_summed_weight(weights)
    log_max = math.log(torch.finfo(weights.dtype).max)
    limit = math.exp(0.5 * (log_max - _HEADROOM_LOG))
    if total > limit:
        neuron = int(weights.detach().abs().sum(dim=0).argmax())
        amount = f"{total:.3g}" if math.isfinite(total) else f"more than {torch.finfo(weights.dtype).max:.3g}"
        raise ValueError(
            f"weights too large: neuron {neuron} receives a summed |weight| of {amount}, but {weights.dtype} "
            f"spike times are computed only up to {limit:.3g} (the exponentials would overflow). Scale the "
            f"weights and the threshold drive g_leak (threshold - e_leak) down together: spike times depend "
            f"only on their ratio"
        )


def span_message(span: float, dtype: torch.dtype, limit: float) -> str:
    """Why a sample's input times cannot be computed with, and what helps."""
    text = (f"input spike times of one sample span {span:.4g} time units; with these weights and time "
            f"constants {dtype} handles at most {limit:.4g} (exponentials would overflow)")
    if dtype != torch.float64:
        return text + ". Use float64 or shorter input windows."
    return text + ". Use shorter input windows (an input that never arrives is +inf) or smaller weights."
