"""Classroom exercises: checks that say *what* is off, not only *that* something is off.

    from ttfs_lab.exercises import check_spike_time, check_gradient, check_weight_for_time
    check_spike_time(my_spike_time)       # the tau_m = tau_s closed form with Lambert W
    check_kernel_derivative(dkappa)       # kappa'(s), zero before the input arrives
    check_gradient(value, "dT/dw1")       # a spike-time gradient by hand
    check_weight_for_time(w)              # a weight that makes a neuron fire at T = 1.5

Every check returns a ``Feedback``: it prints as its message (so a notebook cell shows it)
and is truthy when the answer is right. A missing answer -- None, or a function that
returns None or raises NotImplementedError -- gets "not answered yet" and never an
exception, so the student notebooks run from top to bottom.

The ground truth is always ``ttfs_lab.first_spike_times`` (and its exact gradients). The
diagnoses recompute the answer the wrong way on purpose, one typical mistake at a time
(W_-1 for W_0, a lost sign, a forgotten input time, ...), and name the mistake whose
numbers the student's answer matches.

Units as everywhere in ttfs-lab: time in tau_s, tau_m = tau_s = 1, threshold c = 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import torch

from .params import NeuronParams
from .spike_times import first_spike_times

PARAMS = NeuronParams()  # tau_m = tau_s = 1, c = 1: the paper's software neuron
C = PARAMS.c
TOLERANCE = 1e-6  # spike times from a closed form agree with the core far better than this
# -1/e is not a float; its rounding error lets z + 1/e be computed without cancellation.
_BRANCH_POINT = -1.0 / math.e
_BRANCH_LO = float(Decimal(-1) / Decimal(1).exp() - Decimal(_BRANCH_POINT))


# ---------------------------------------------------------------- feedback
@dataclass(frozen=True)
class Feedback:
    """Result of a check: ``passed``, the ``message`` for the student, and whether there
    was an answer at all. Displays as its message; ``bool(feedback)`` is ``passed``."""

    passed: bool
    message: str
    answered: bool = True

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message

    __str__ = __repr__


def _correct(text: str) -> Feedback:
    return Feedback(True, "✔ Correct! " + text)


def _wrong(text: str) -> Feedback:
    return Feedback(False, "✘ Not yet. " + text)


def _unanswered(text: str) -> Feedback:
    return Feedback(False, "… Not answered yet. " + text, answered=False)


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in np.atleast_1d(values)) + "]"


# ---------------------------------------------------------------- Lambert W for students
def lambertw(z, branch: int = 0):
    """Real Lambert W: the w with w e^w = z, on branch 0 (w >= -1) or -1 (w <= -1).

    Branch 0 is defined for z >= -1/e, branch -1 for -1/e <= z < 0; elsewhere the result is
    nan (there is no real solution). Accepts a number or an array (elementwise).
    For tensors and gradients use ``ttfs_lab.lambertw0``; this one is for pencil-and-numpy work.
    """
    if branch not in (0, -1):
        raise ValueError(f"branch must be 0 or -1, got {branch!r}")
    if np.ndim(z) > 0:
        return np.vectorize(lambda v: _lambertw_scalar(float(v), branch), otypes=[float])(z)
    return _lambertw_scalar(float(z), branch)


def _lambertw_scalar(z: float, branch: int) -> float:
    if math.isnan(z) or z < -1.0 / math.e - 1e-15 or (branch == -1 and z >= 0.0):
        return math.nan
    if math.isinf(z):
        return math.inf
    # Near z = -1/e both branches meet at w = -1 with a square-root singularity: a series in
    # p = +-sqrt(2 (e z + 1)) is accurate there, where Newton-type steps divide by w + 1 ~ 0.
    p = math.sqrt(max(2.0 * math.e * ((z - _BRANCH_POINT) - _BRANCH_LO), 0.0)) * (1 if branch == 0 else -1)
    series = -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p ** 3 - 43.0 / 540.0 * p ** 4
    if abs(p) < 1e-3:
        return series
    if branch == 0:
        w = series if z < -0.25 else (math.log(z) - math.log(math.log(z)) if z > 3.0 else math.log1p(z))
    else:
        w = series if z < -0.25 else math.log(-z) - math.log(-math.log(-z))
    for _ in range(50):  # Halley's iteration on f(w) = w e^w - z, cubically convergent
        ew = math.exp(w)
        f = w * ew - z
        step = f / (ew * (w + 1.0) - (w + 2.0) * f / (2.0 * (w + 1.0)))
        w -= step
        if abs(step) <= 1e-15 * (1.0 + abs(w)):
            break
    return w


# ---------------------------------------------------------------- helpers
def spike_time(times, weights) -> float:
    """Ground truth: first spike time of one neuron (tau_m = tau_s = 1, c = 1); inf if silent."""
    t = torch.as_tensor(np.asarray(times, dtype=np.float64))[None]
    w = torch.as_tensor(np.asarray(weights, dtype=np.float64))[:, None]
    return float(first_spike_times(t, w, PARAMS)[0, 0])


def kappa(s):
    """The PSP kernel for tau_m = tau_s = 1: kappa(s) = s e^{-s} for s > 0, else 0 (numpy)."""
    s = np.asarray(s, dtype=np.float64)
    return np.where(s > 0, s * np.exp(-np.where(s > 0, s, 0.0)), 0.0)


def _as_number(value):
    """(float, problem) -- problem is a message if ``value`` is not one real number."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything unconvertible is the student's to fix
        return None, f"expected a number, got {type(value).__name__}"
    if array.size != 1:
        return None, f"expected one number, got an array of shape {array.shape}"
    if np.iscomplexobj(array):
        return None, ("your answer is a complex number; scipy.special.lambertw returns complex values, "
                      "take the real part (.real), or use ttfs_lab.exercises.lambertw")
    try:
        return float(array.reshape(())), None
    except (TypeError, ValueError):
        return None, f"expected a number, got {value!r}"


def _missing(value) -> bool:
    return value is None or value is Ellipsis


# ---------------------------------------------------------------- exercise 1: spike time
@dataclass(frozen=True)
class SpikeCase:
    times: tuple
    weights: tuple
    T: float  # ground truth from first_spike_times (inf: silent)


def _sums(times, weights):
    t, w = np.asarray(times, dtype=float), np.asarray(weights, dtype=float)
    a = float(np.sum(w * np.exp(t)))
    b = float(np.sum(w * t * np.exp(t)))
    return t, w, a, b


def closed_form_spike_time(times, weights, c: float = C, branch: int = 0) -> float:
    """T = b/a - W(-(c/a) e^{b/a}) for inputs that all arrive before T (tau = 1).

    a = sum w_i e^{t_i}, b = sum w_i t_i e^{t_i}. inf when the potential never reaches c
    (a <= 0 or the argument below -1/e). ``branch=-1`` gives the *second* crossing, where
    the potential falls back through the threshold (exists for the same inputs).
    """
    _, _, a, b = _sums(times, weights)
    if a <= 0:
        return math.inf
    z = -(c / a) * math.exp(b / a)
    if z < -1.0 / math.e:
        return math.inf
    return b / a - lambertw(z, branch)


def spike_time_cases(seed: int = 0, n_firing: int = 12, n_silent: int = 4) -> list[SpikeCase]:
    """Random single neurons whose spike (if any) comes after all their inputs, so that the
    closed form over all inputs applies; the first case is one input at 0 with w = 3."""
    rng = np.random.default_rng(seed)
    cases = [SpikeCase((0.0,), (3.0,), spike_time([0.0], [3.0]))]
    firing, silent = 1, 0
    while firing < n_firing or silent < n_silent:
        n = int(rng.integers(1, 5))
        times = np.round(np.sort(rng.uniform(0.0, 1.5, n)), 2)
        weights = np.round(rng.uniform(-0.5, 3.0, n), 2)
        T = spike_time(times, weights)
        if math.isfinite(T) and T > times.max() + 0.05 and firing < n_firing:
            firing += 1
        elif math.isinf(T) and silent < n_silent and weights.sum() > 0:
            silent += 1
        else:
            continue
        cases.append(SpikeCase(tuple(times.tolist()), tuple(weights.tolist()), T))
    return cases


# Typical mistakes: (name, hint, wrong formula). Each formula gets (times, weights).
def _mistake_sign_w(t, w):
    _, _, a, b = _sums(t, w)
    return b / a + lambertw(-(C / a) * math.exp(b / a)) if a > 0 else math.nan


def _mistake_no_exp(t, w):
    _, _, a, b = _sums(t, w)
    return b / a - lambertw(-C / a) if a > 0 else math.nan


def _mistake_positive_argument(t, w):
    _, _, a, b = _sums(t, w)
    return b / a - lambertw((C / a) * math.exp(b / a)) if a > 0 else math.nan


def _mistake_plain_b(t, w):
    t, w, a, _ = _sums(t, w)
    b = float(np.sum(w * t))
    return b / a - lambertw(-(C / a) * math.exp(b / a)) if a > 0 else math.nan


def _mistake_no_shift(t, w):
    _, _, a, b = _sums(t, w)
    return -lambertw(-(C / a) * math.exp(b / a)) if a > 0 else math.nan


SPIKE_TIME_MISTAKES = (
    ("W_-1", "did you use W_-1 instead of W_0? W_-1 gives the second solution of u(T) = c, where "
             "the potential falls back through the threshold; the first spike is the rising crossing, "
             "and that is the principal branch W_0.",
     lambda t, w: closed_form_spike_time(t, w, branch=-1)),
    ("sign of W", "check the sign in front of W: T = b/a − W_0(...), and W_0 < 0 here, so T > b/a.",
     _mistake_sign_w),
    ("argument without e^(b/a)", "the argument of W is −(c/a)·e^(b/a), you seem to have dropped e^(b/a).",
     _mistake_no_exp),
    ("argument sign", "the argument of W is negative: −(c/a)·e^(b/a).", _mistake_positive_argument),
    ("b without e^t", "b = Σ w_i t_i e^(t_i) carries the same e^(t_i) as a.", _mistake_plain_b),
    ("missing b/a", "you seem to have left out the b/a term: T = b/a − W_0(−(c/a)·e^(b/a)).",
     _mistake_no_shift),
)


def _call(fn, case):
    """(value, problem, unanswered) for one call of the student's function."""
    try:
        value = fn(np.array(case.times), np.array(case.weights))
    except NotImplementedError:
        return None, None, True
    except Exception as error:  # noqa: BLE001 - shown to the student
        return None, f"your function raised {type(error).__name__}: {error}", False
    if _missing(value):
        return None, None, True
    number, problem = _as_number(value)
    return number, problem, False


def check_spike_time(fn, seed: int = 0) -> Feedback:
    """Check a student's ``fn(t, w) -> T`` for one neuron with tau_m = tau_s = 1, c = 1.

    ``t`` and ``w`` are 1-D numpy arrays of input times and weights; every input arrives
    before the spike (if there is one). ``fn`` must return T, or ``np.inf`` if the neuron
    never fires.
    """
    if _missing(fn):
        return _unanswered("Write a function my_spike_time(t, w) that returns T (or np.inf) and pass it in.")
    if not callable(fn):
        return _wrong(f"check_spike_time needs your function itself, got a {type(fn).__name__}.")
    cases = spike_time_cases(seed)
    results = []
    for case in cases:
        value, problem, unanswered = _call(fn, case)
        if unanswered:
            return _unanswered("Your function returns None (or raises NotImplementedError): fill in its body "
                               "and return T, or np.inf if the neuron stays silent.")
        where = f" (t = {_fmt(case.times)}, w = {_fmt(case.weights)})"
        if problem:
            return _wrong(problem + where)
        results.append(value)

    firing = [(c, v) for c, v in zip(cases, results) if math.isfinite(c.T)]
    silent = [(c, v) for c, v in zip(cases, results) if not math.isfinite(c.T)]
    bad_firing = [(c, v) for c, v in firing if not (math.isfinite(v) and abs(v - c.T) <= TOLERANCE * (1 + c.T))]
    bad_silent = [(c, v) for c, v in silent if v != math.inf]

    if not bad_firing and not bad_silent:
        return _correct(f"Your spike times match ttfs_lab.first_spike_times on all {len(cases)} cases "
                        f"({len(firing)} firing, {len(silent)} silent) to within {TOLERANCE:g} τs.")
    if bad_firing:
        return _wrong(_explain_firing(bad_firing, len(firing)))
    return _wrong(_explain_silent(bad_silent, len(silent)))


def _explain_firing(bad, n_firing) -> str:
    case, value = bad[0]
    where = f"t = {_fmt(case.times)}, w = {_fmt(case.weights)}"
    head = f"{len(bad)} of {n_firing} firing neurons are off. "
    if value == math.inf:
        return head + (f"For {where} you return inf, but the neuron fires at T = {case.T:.4f}. "
                       "A neuron is silent only when the argument of W is below −1/e (or a ≤ 0).")
    if math.isnan(value):
        return head + (f"For {where} you return nan, but the neuron fires at T = {case.T:.4f}. "
                       "nan usually means W got an argument below −1/e: check a, b and the argument −(c/a)·e^(b/a).")
    if value == -math.inf:
        return head + f"For {where} you return -inf; expected T = {case.T:.4f}."
    for name, hint, formula in SPIKE_TIME_MISTAKES:
        if all(_close(formula(c.times, c.weights), v) for c, v in bad):
            diff = value - case.T
            return head + (f"For {where} your T is too {'late' if diff > 0 else 'early'} by {abs(diff):.3f} τs "
                           f"(you: {value:.4f}, expected {case.T:.4f}): {hint}")
    diff = value - case.T
    return head + (f"For {where} your T = {value:.4f} is too {'late' if diff > 0 else 'early'} by "
                   f"{abs(diff):.3f} τs (expected {case.T:.4f}). Check a = Σ w_i e^(t_i), b = Σ w_i t_i e^(t_i) "
                   "and T = b/a − W_0(−(c/a)·e^(b/a)).")


def _explain_silent(bad, n_silent) -> str:
    case, value = bad[0]
    where = f"t = {_fmt(case.times)}, w = {_fmt(case.weights)}"
    head = f"Your firing neurons are all right, but {len(bad)} of {n_silent} silent neurons are not. "
    _, _, a, b = _sums(case.times, case.weights)
    z = -(C / a) * math.exp(b / a)
    if math.isnan(value):
        return head + (f"For {where} you return nan: the argument of W is {z:.3f} < −1/e ≈ −0.368, so the "
                       "potential never reaches the threshold. Return np.inf there: in ttfs-lab 'no spike' is +inf.")
    return head + (f"For {where} you return {value:.4g}, but the potential never reaches the threshold "
                   f"(the argument of W is {z:.3f} < −1/e ≈ −0.368). Return np.inf when there is no spike.")


def _close(a, b, tol=1e-6) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= tol * (1 + abs(a))


# ---------------------------------------------------------------- exercise 2: a gradient by hand
GRADIENT_NEURON = {"times": (0.2, 0.5, 2.5), "weights": (2.0, 1.5, 1.0)}
GRADIENT_CASES = ("dT/dw1", "dT/dw2", "dT/dw3", "dT/dt1", "dT/dt2", "dT/dt3")
GRADIENT_RTOL = 1e-3  # hand calculation: three significant digits are enough


def dkappa(s):
    """kappa'(s) = (1 - s) e^{-s} for s > 0, else 0 (tau = 1)."""
    s = np.asarray(s, dtype=np.float64)
    return np.where(s > 0, (1.0 - s) * np.exp(-np.where(s > 0, s, 0.0)), 0.0)


KERNEL_GRID = np.array([-1.0, -0.25, 0.0, 0.1, 0.5, 1.0, 1.5, 2.5, 4.0])


def check_kernel_derivative(fn) -> Feedback:
    """Check a student's ``fn(s) -> kappa'(s)`` (tau = 1) on an array of lags, negative ones included."""
    if _missing(fn):
        return _unanswered("Write dkappa(s) that returns κ'(s) = (1 − s)·e^(−s) for s > 0 and 0 otherwise.")
    if not callable(fn):
        return _wrong(f"check_kernel_derivative needs your function itself, got a {type(fn).__name__}.")
    try:
        value = fn(KERNEL_GRID.copy())
    except NotImplementedError:
        value = None
    except Exception as error:  # noqa: BLE001 - shown to the student
        return _wrong(f"dkappa(s) raised {type(error).__name__}: {error} for an array s = {_fmt(KERNEL_GRID)}. "
                      "Use np.where(s > 0, ..., 0.0) rather than an if, so that it works on arrays.")
    if _missing(value):
        return _unanswered("Your dkappa returns None: fill in its body and return κ'(s).")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    value = np.asarray(value, dtype=float)
    if value.shape != KERNEL_GRID.shape:
        return _wrong(f"dkappa(s) should return one value per entry of s (shape {KERNEL_GRID.shape}), got shape {value.shape}.")
    truth = dkappa(KERNEL_GRID)
    causal = KERNEL_GRID > 0
    if np.allclose(value, truth, rtol=1e-9, atol=1e-12):
        return _correct("κ'(s) = (1 − s)·e^(−s) for s > 0, and 0 before the input arrives.")
    if np.allclose(value[causal], truth[causal], rtol=1e-9, atol=1e-12):
        return _wrong("Right for s > 0, but κ'(s) must be 0 for s ≤ 0: an input has no effect before it arrives "
                      f"(you give {_fmt(value[~causal])} at s = {_fmt(KERNEL_GRID[~causal])}).")
    if np.allclose(value[causal], -truth[causal], rtol=1e-9, atol=1e-12):
        return _wrong("Sign: d/ds (s·e^(−s)) = (1 − s)·e^(−s), positive before the peak at s = 1.")
    if np.allclose(value[causal], kappa(KERNEL_GRID)[causal], rtol=1e-9, atol=1e-12):
        return _wrong("That is κ(s) itself; differentiate it: d/ds (s·e^(−s)) = ?")
    bad = int(np.argmax(~np.isclose(value, truth, rtol=1e-9, atol=1e-12)))
    return _wrong(f"At s = {KERNEL_GRID[bad]:g} you give {value[bad]:.4f}, κ'(s) is {truth[bad]:.4f}. "
                  "Use the product rule on s·e^(−s).")


def gradient_truth(case: str) -> float:
    """Exact gradient of the neuron in GRADIENT_NEURON, by autograd through first_spike_times."""
    kind, i = _parse_case(case)
    t = torch.tensor([GRADIENT_NEURON["times"]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor(GRADIENT_NEURON["weights"], dtype=torch.float64)[:, None].requires_grad_(True)
    first_spike_times(t, w, PARAMS).sum().backward()
    return float(w.grad[i, 0] if kind == "w" else t.grad[0, i])


def _parse_case(case):
    if case not in GRADIENT_CASES:
        raise ValueError(f"unknown case {case!r}; choose one of {', '.join(GRADIENT_CASES)}")
    return case[4], int(case[5]) - 1


def _gradient_mistakes(kind, i):
    """(hint, wrong value) pairs for the typical slips in dT/dw_i or dT/dt_i."""
    t, w = np.array(GRADIENT_NEURON["times"]), np.array(GRADIENT_NEURON["weights"])
    T = spike_time(t, w)
    slope = float(np.sum(w * dkappa(T - t)))
    s = T - t[i]
    raw_k, raw_dk = s * math.exp(-s), (1 - s) * math.exp(-s)  # the formulas without the s > 0 cut
    k, dk = float(kappa(s)), float(dkappa(s))
    own_slope = w[i] * dk
    if kind == "w":
        truth = -k / slope
        return [
            ("sign: a larger weight makes the neuron fire earlier, so ∂T/∂w_i ≤ 0.", -truth),
            ("you seem to have forgotten to divide by u̇(T) = Σ_j w_j κ'(T − t_j).", -k),
            ("∂T/∂w_i has κ(T − t_i) in the numerator, not κ'(T − t_i).", -dk / slope),
            ("κ is evaluated at T − t_i (time since the input arrived), not at T.", -float(kappa(T)) / slope),
            ("u̇(T) sums over all inputs that arrived before T, not only input i.",
             -k / own_slope if own_slope else math.nan),
            (f"input {i + 1} arrives at t = {t[i]:g}, after the spike at T = {T:.3f}: it cannot have influenced "
             "T, so the gradient is 0 (κ(s) = 0 for s ≤ 0).", -raw_k / slope if s <= 0 else math.nan),
        ]
    truth = w[i] * dk / slope
    return [
        ("check the sign: ∂T/∂t_i = +w_i κ'(T − t_i) / u̇(T). (Shifting every input later by δ shifts T by "
         "δ, so the ∂T/∂t_i of the inputs before T add up to 1.)", -truth),
        ("you seem to have forgotten the weight w_i in the numerator.", dk / slope),
        ("∂T/∂t_i has κ'(T − t_i) in the numerator, not κ(T − t_i).", w[i] * k / slope),
        ("you seem to have forgotten to divide by u̇(T).", w[i] * dk),
        ("κ' is evaluated at T − t_i, not at T.", w[i] * float(dkappa(T)) / slope),
        (f"input {i + 1} arrives at t = {t[i]:g}, after the spike at T = {T:.3f}: moving it a little changes "
         "nothing, so the gradient is 0.", w[i] * raw_dk / slope if s <= 0 else math.nan),
    ]


def check_gradient(value, case: str = "dT/dw1") -> Feedback:
    """Check a hand-computed gradient of the neuron in GRADIENT_NEURON (inputs at 0.2, 0.5,
    2.5 with weights 2.0, 1.5, 1.0; tau_m = tau_s = 1, c = 1). ``case`` is one of
    GRADIENT_CASES, e.g. "dT/dw1" or "dT/dt2"."""
    kind, i = _parse_case(case)
    if _missing(value):
        return _unanswered(f"Compute {case} = " + ("−κ(T − t_i) / u̇(T)" if kind == "w" else "w_i κ'(T − t_i) / u̇(T)")
                           + " and pass the number in.")
    number, problem = _as_number(value)
    if problem:
        return _wrong(problem + ".")
    if not math.isfinite(number):
        return _wrong(f"{case} is a finite number here, you gave {number}.")
    truth = gradient_truth(case)
    tol = GRADIENT_RTOL * abs(truth) + 1e-9
    if abs(number - truth) <= tol:
        if truth == 0:
            t_i = GRADIENT_NEURON["times"][i]
            return _correct(f"{case} = 0: input {i + 1} arrives at t = {t_i:g}, after the spike, and cannot move it.")
        return _correct(f"{case} = {truth:.4f}.")
    for hint, wrong in _gradient_mistakes(kind, i):
        if math.isfinite(wrong) and abs(number - wrong) <= GRADIENT_RTOL * abs(wrong) + 1e-9:
            return _wrong(f"Your {case} = {number:.4f}: {hint}")
    if truth and abs(number - truth) <= 0.02 * abs(truth):
        return _wrong(f"Close: your {case} = {number:.4f} is off by {abs(number / truth - 1):.1%}. "
                      "A finite-difference estimate or rounded intermediate values? Use the exact formula.")
    return _wrong(f"Your {case} = {number:.4f} is not it. Steps: find T, then u̇(T) = Σ_j w_j κ'(T − t_j) over "
                  "the inputs before T, then " + ("−κ(T − t_i) / u̇(T)." if kind == "w" else "w_i κ'(T − t_i) / u̇(T)."))


# ---------------------------------------------------------------- exercise 3: a weight for a time
@dataclass(frozen=True)
class WeightCase:
    """Inputs at ``times``; all weights but the last are ``fixed``; the student picks the last
    so that the neuron fires at ``target``."""

    times: tuple
    fixed: tuple
    target: float
    description: str


WEIGHT_CASES = {
    "one input": WeightCase((0.8,), (), 1.5, "one input at t = 0.8"),
    "two inputs": WeightCase((0.2, 0.7), (1.5,), 1.2, "input 1 at t = 0.2 with w1 = 1.5, input 2 at t = 0.7"),
}
TIME_TOLERANCE = 5e-3  # a weight rounded to three decimals passes (here |dT/dw| < 1)


def weight_for_time(case: str = "one input") -> float:
    """The weight that solves the case: c = sum_fixed w_j kappa(T - t_j) + w kappa(T - t_last)."""
    c = _weight_case(case)
    rest = sum(wj * float(kappa(c.target - tj)) for wj, tj in zip(c.fixed, c.times))
    return (C - rest) / float(kappa(c.target - c.times[-1]))


def _weight_case(case):
    if case not in WEIGHT_CASES:
        raise ValueError(f"unknown case {case!r}; choose one of {', '.join(WEIGHT_CASES)}")
    return WEIGHT_CASES[case]


def check_weight_for_time(w, case: str = "one input") -> Feedback:
    """Check a weight that should make the neuron of ``case`` (see WEIGHT_CASES) fire at its
    target time: "one input" -- a single input at t = 0.8, fire at T = 1.5; "two inputs" --
    inputs at 0.2 (w1 = 1.5) and 0.7 (w2 = your answer), fire at T = 1.2."""
    c = _weight_case(case)
    if _missing(w):
        return _unanswered(f"Find the weight that makes the neuron ({c.description}) fire at T = {c.target}.")
    number, problem = _as_number(w)
    if problem:
        return _wrong(problem + ".")
    if not math.isfinite(number):
        return _wrong(f"the weight must be a finite number, you gave {number}.")
    T = spike_time(c.times, c.fixed + (number,))
    if math.isfinite(T) and abs(T - c.target) <= TIME_TOLERANCE:
        return _correct(f"With w = {number:.4f} the neuron fires at T = {T:.4f} τs.")
    last = c.times[-1]
    hints = []
    if case == "one input" and _close(number, math.exp(c.target) / c.target, 1e-3):
        hints.append(f"you solved w κ({c.target}) = 1, but the kernel counts time from the input's arrival: "
                     f"use κ(T − t1) = κ({c.target - last:g}).")
    if case == "two inputs" and _close(number, C / float(kappa(c.target - last)), 1e-3):
        hints.append(f"you ignored input 1: at T = {c.target} it still contributes w1 κ(T − t1) = "
                     f"{c.fixed[0] * float(kappa(c.target - c.times[0])):.3f} to the potential.")
    hint = (" " + " ".join(hints)) if hints else ""
    if math.isinf(T):
        peak = "" if c.fixed else (" A single input peaks at w/e (one τ after it arrives), so w ≥ e ≈ 2.718 is "
                                   "needed to fire at all.")
        return _wrong(f"With w = {number:.4f} the neuron never reaches the threshold: w is too small.{peak}{hint}")
    direction = ("too early: w is too large" if T < c.target else "too late: w is too small")
    return _wrong(f"With w = {number:.4f} the neuron fires at T = {T:.4f}, {direction} "
                  f"(off by {abs(T - c.target):.3f} τs).{hint}")
