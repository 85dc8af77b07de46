"""Neuron parameters: a small, immutable, validated record.

Units follow the paper's software runs: time in units of the synaptic time constant
tau_s, potentials relative to the leak potential. The threshold enters every formula
only through

    c = g_leak * (threshold - e_leak),

the amount of summed, kernel-weighted input a neuron needs in order to spike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .validation import real_number

# Two time constants closer than this (relatively) are treated as equal; the
# general kernel formula divides by (tau_m - tau_s) and loses all precision there.
_SAME_TAU_RTOL = 1e-9
# The spike-time formulas need 1 - tau_s/tau_m (and its log) to stay distinct from 1 and 0:
# past a ratio of 1e12 either way float64 rounds it away (tau_m = 1e300 gave log1p(-1) on
# the torch backend and a silent neuron on the native one). Real neurons sit near 0.1-10.
_MAX_TAU_RATIO = 1e12


@dataclass(frozen=True)
class NeuronParams:
    """Parameters of a current-based leaky integrate-and-fire neuron.

    Membrane potential u(t) for input spikes at t_i with weights w_i::

        g_leak * (u(t) - e_leak) = sum_{i: t_i < t} w_i * kappa(t - t_i)

    The neuron fires at the first T with u(T) = threshold.

    Attributes:
        tau_m: membrane time constant (> 0).
        tau_s: synaptic time constant (> 0).
        g_leak: leak conductance (> 0).
        e_leak: leak (resting) potential.
        threshold: firing threshold, must lie above ``e_leak``.
    """

    tau_m: float = 1.0
    tau_s: float = 1.0
    g_leak: float = 1.0
    e_leak: float = 0.0
    threshold: float = 1.0

    def __post_init__(self):
        for name in ("tau_m", "tau_s", "g_leak", "e_leak", "threshold"):
            # any real number (numpy scalars and 0-d tensors too); str/None/complex: InputTypeError
            object.__setattr__(self, name, real_number(getattr(self, name), f"NeuronParams.{name}"))
        for name in ("tau_m", "tau_s", "g_leak"):
            if getattr(self, name) <= 0:
                raise ValueError(f"NeuronParams.{name} must be positive, got {getattr(self, name)!r}")
        if self.threshold <= self.e_leak:
            raise ValueError(
                f"NeuronParams.threshold must lie above e_leak={self.e_leak!r}, got {self.threshold!r}"
            )
        ratio = self.tau_m / self.tau_s
        if not (1.0 / _MAX_TAU_RATIO <= ratio <= _MAX_TAU_RATIO):
            raise ValueError(f"NeuronParams: tau_m / tau_s = {ratio:.3g} is out of range [1e-12, 1e12] "
                             f"(tau_m={self.tau_m!r}, tau_s={self.tau_s!r}): the two time constants' "
                             "exponentials cannot be told apart in floating point")
        # Derived quantities the solvers divide by or exponentiate must be finite too.
        derived = {"g_leak * (threshold - e_leak)": self.c, "1 / tau_m": 1.0 / self.tau_m,
                   "1 / tau_s": 1.0 / self.tau_s, "1/tau_s - 1/tau_m": 1.0 / self.tau_s - 1.0 / self.tau_m}
        for what, value in derived.items():
            if not (math.isfinite(value) and (value > 0 or what == "1/tau_s - 1/tau_m")):
                raise ValueError(f"NeuronParams: {what} = {value!r} is out of range (tau_m={self.tau_m!r}, "
                                 f"tau_s={self.tau_s!r}, g_leak={self.g_leak!r}, e_leak={self.e_leak!r}, "
                                 f"threshold={self.threshold!r})")

    @property
    def c(self) -> float:
        """Threshold in units of summed input: g_leak * (threshold - e_leak)."""
        return self.g_leak * (self.threshold - self.e_leak)

    @property
    def regime(self) -> str:
        """Which spike-time solver applies: "equal" (tau_m = tau_s, Lambert W),
        "double" (tau_m = 2 tau_s, quadratic) or "general" (root finding)."""
        if math.isclose(self.tau_m, self.tau_s, rel_tol=_SAME_TAU_RTOL):
            return "equal"
        if math.isclose(self.tau_m, 2.0 * self.tau_s, rel_tol=_SAME_TAU_RTOL):
            return "double"
        return "general"
