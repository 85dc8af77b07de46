"""The principal branch W_0 of the Lambert W function, in torch.

W(z) solves  W * exp(W) = z.  The spike time of a neuron with tau_m = tau_s needs W_0 on
[-1/e, 0); we implement the whole principal branch z >= -1/e so students can play with it.

Method: a good starting guess (a series around the branch point z = -1/e, log1p(z) in the
middle, log z - log log z for large z) refined by Halley's iteration

    w <- w - f / (f' - f f'' / (2 f')),   f = w e^w - z,

which converges cubically; a fixed number of steps keeps it vectorised and branch-free.
"""
from __future__ import annotations

import math
from decimal import Decimal

import torch

_BRANCH_POINT = -1.0 / math.e
# -1/e is not a float: keep the rounding error so that z + 1/e = (z - _BRANCH_POINT) - _BRANCH_LO
# is computed without cancellation (W has a square-root singularity there, so this matters).
_BRANCH_LO = float(Decimal(-1) / Decimal(1).exp() - Decimal(_BRANCH_POINT))


def lambertw0(z: torch.Tensor, iterations: int = 6) -> torch.Tensor:
    """W_0(z) elementwise for z >= -1/e (NaN below, matching scipy's real part domain)."""
    z = torch.as_tensor(z)
    if not z.is_floating_point():
        z = z.to(torch.get_default_dtype())
    below = z < _BRANCH_POINT
    z = torch.where(below, torch.full_like(z, _BRANCH_POINT), z)

    # p -> 0 at the branch point, where W has a square-root singularity: a series in p
    # is accurate there, where Halley steps (dividing by w + 1 -> 0) are not.
    p = torch.sqrt(torch.clamp(2.0 * math.e * ((z - _BRANCH_POINT) - _BRANCH_LO), min=0.0))
    coefficients = (-1.0, 1.0, -1.0 / 3, 11.0 / 72, -43.0 / 540, 769.0 / 17280, -221.0 / 8505, 680863.0 / 43545600)
    near_branch = torch.zeros_like(p)
    for coefficient in reversed(coefficients):  # Horner
        near_branch = near_branch * p + coefficient
    large = torch.log(torch.clamp(z, min=3.0))
    large = large - torch.log(large)
    w = torch.where(z < -0.3, near_branch, torch.where(z > 3.0, large, torch.log1p(z)))

    for _ in range(iterations):
        ew = torch.exp(w)
        f = w * ew - z
        wp1 = w + 1.0
        # Guard the Halley denominator: at w = -1 (z = -1/e) the step is 0/0; stop there.
        safe = wp1.abs() > 1e-12
        denom = ew * wp1 - (w + 2.0) * f / torch.where(safe, 2.0 * wp1, torch.ones_like(wp1))
        step = torch.where(safe & (denom != 0), f / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(w))
        w = w - step
    # Near the branch point the series (error ~ p^8) is more accurate than Halley, whose
    # residual w e^w - z cancels there.
    w = torch.where(p < 0.02, near_branch, w)
    return torch.where(below, torch.full_like(w, float("nan")), w)
