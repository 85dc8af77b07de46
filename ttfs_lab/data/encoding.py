"""Turning feature values into first-spike times (latency coding).

Each input neuron spikes once; a feature value v in [0, 1] sets its time

    t = t_early + v · (t_late − t_early)            (times in units of τ_s)

so v = 0 spikes earliest. Two options serve images:

    invert=True       use 1 − v instead of v, so bright pixels spike early
    silent_zero=True  a feature exactly 0 (before any inversion: a black
                      pixel) sends no spike, t = +inf, as on BrainScaleS-2

The paper encodes Yin-Yang with the plain map and 16×16 MNIST with both
options on (t_early = 0.15, t_late = 2).
"""
import math

import numpy as np
import torch


def encode(features, t_early=0.15, t_late=2.0, *, invert=False, silent_zero=False):
    """Spike times for `features` (any shape), see the module docstring.

    numpy in -> numpy out, torch in -> torch out; floating dtypes are kept,
    other inputs become float64. Torch inputs stay differentiable.
    Raises ValueError for non-finite features or t_late <= t_early.
    """
    for name, value in (("t_early", t_early), ("t_late", t_late)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if not t_late > t_early:
        raise ValueError(f"t_late must be greater than t_early, got t_early={t_early}, t_late={t_late}")

    if isinstance(features, torch.Tensor):
        v = features if features.is_floating_point() else features.to(torch.float64)
        if not bool(torch.isfinite(v).all()):
            raise ValueError("features contain NaN or inf")
        where, inf = torch.where, torch.tensor(math.inf, dtype=v.dtype, device=v.device)
    else:
        v = np.asarray(features)
        if not np.issubdtype(v.dtype, np.floating):
            v = v.astype(np.float64)
        if not np.isfinite(v).all():
            raise ValueError("features contain NaN or inf")
        where, inf = np.where, v.dtype.type(math.inf)

    times = t_early + ((1 - v) if invert else v) * (t_late - t_early)
    if silent_zero:
        times = where(v == 0, inf, times)
    return times
