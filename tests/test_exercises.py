"""ttfs_lab.exercises: right answers pass, typical wrong answers get their specific feedback.

Ground truth here is independent of the module under test: scipy's Lambert W, central
finite differences of the spike time, and brute-force threshold crossings on a fine grid.
"""
import math

import numpy as np
import pytest
import torch
from scipy.special import lambertw as scipy_lambertw

from ttfs_lab import NeuronParams, membrane_potential
from ttfs_lab import exercises as ex


def crossing_time(times, weights, dt=1e-5, t_max=8.0):
    """First grid time where the potential (tau_m = tau_s = 1) reaches c = 1; inf if never."""
    t = np.arange(0.0, t_max, dt)
    u = membrane_potential(torch.as_tensor(t), torch.tensor(np.array([times], dtype=float)),
                           torch.tensor(weights, dtype=torch.float64)[:, None], NeuronParams())[0, :, 0].numpy()
    above = np.flatnonzero(u >= 1.0)
    return t[above[0]] if len(above) else math.inf


# ---------------------------------------------------------------- student answers
def right_spike_time(t, w):
    a = np.sum(w * np.exp(t))
    b = np.sum(w * t * np.exp(t))
    z = -(1.0 / a) * np.exp(b / a)
    if a <= 0 or z < -1.0 / np.e:
        return np.inf
    return b / a - scipy_lambertw(z, 0).real


def w_minus_1_spike_time(t, w):
    a = np.sum(w * np.exp(t))
    b = np.sum(w * t * np.exp(t))
    z = -(1.0 / a) * np.exp(b / a)
    if a <= 0 or z < -1.0 / np.e:
        return np.inf
    return b / a - scipy_lambertw(z, -1).real


def no_silence_check(t, w):
    a = np.sum(w * np.exp(t))
    b = np.sum(w * t * np.exp(t))
    return b / a - ex.lambertw(-(1.0 / a) * np.exp(b / a))


# ---------------------------------------------------------------- Lambert W
@pytest.mark.parametrize("branch", [0, -1])
def test_lambertw_matches_scipy_on_both_branches(branch):
    z = np.concatenate([-1 / np.e + np.logspace(-7, -1, 7), np.linspace(-0.35, -1e-6, 40)])
    if branch == 0:
        z = np.concatenate([z, np.linspace(0.0, 50.0, 30), [1e5, 1e10]])
    ours = ex.lambertw(z, branch)
    np.testing.assert_allclose(ours, scipy_lambertw(z, branch).real, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours * np.exp(ours), z, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("branch", [0, -1])
def test_lambertw_near_the_branch_point_matches_high_precision(branch):
    # scipy's W_-1 loses digits within 1e-8 of -1/e; mpmath (40 digits) does not.
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    for offset in np.logspace(-15, -7, 9):
        z = -1 / np.e + offset
        ref = float(mpmath.lambertw(mpmath.mpf(z), branch).real)
        assert ex.lambertw(z, branch) == pytest.approx(ref, abs=1e-12), offset


def test_lambertw_outside_its_domain_is_nan_and_bad_branch_raises():
    assert math.isnan(ex.lambertw(-0.5))
    assert math.isnan(ex.lambertw(0.1, -1))
    assert ex.lambertw(-1 / math.e) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="branch"):
        ex.lambertw(0.1, 1)


# ---------------------------------------------------------------- exercise 1
def test_spike_time_cases_match_brute_force_and_need_no_causal_set():
    cases = ex.spike_time_cases()
    assert sum(math.isfinite(c.T) for c in cases) == 12 and sum(math.isinf(c.T) for c in cases) == 4
    for c in cases:
        brute = crossing_time(c.times, c.weights)
        if math.isinf(c.T):
            assert math.isinf(brute)
        else:
            assert c.T == pytest.approx(brute, abs=2e-5)
            assert c.T > max(c.times)  # every input is in the causal set


def test_right_spike_time_passes():
    feedback = ex.check_spike_time(right_spike_time)
    assert feedback.passed and bool(feedback) and feedback.answered
    assert repr(feedback).startswith("✔ Correct!")


def test_missing_answers_are_not_errors():
    def stub(t, w):
        pass  # the student has not written anything yet

    def todo(t, w):
        raise NotImplementedError

    for answer in (None, ..., stub, todo):
        feedback = ex.check_spike_time(answer)
        assert not feedback.passed and not feedback.answered
        assert "Not answered yet" in feedback.message


def test_w_minus_1_is_diagnosed_as_the_late_crossing():
    feedback = ex.check_spike_time(w_minus_1_spike_time)
    assert not feedback.passed
    assert "too late" in feedback.message and "W_-1 instead of W_0" in feedback.message


def test_nan_for_a_silent_neuron_asks_for_inf():
    feedback = ex.check_spike_time(no_silence_check)
    assert not feedback.passed
    assert "firing neurons are all right" in feedback.message and "np.inf" in feedback.message


@pytest.mark.parametrize("mistake, words", [
    (lambda a, b: b / a + ex.lambertw(-(1 / a) * math.exp(b / a)), "sign in front of W"),
    (lambda a, b: b / a - ex.lambertw(-1 / a), "dropped e^(b/a)"),
    (lambda a, b: -ex.lambertw(-(1 / a) * math.exp(b / a)), "left out the b/a term"),
])
def test_formula_slips_get_their_hint(mistake, words):
    def answer(t, w):
        a, b = np.sum(w * np.exp(t)), np.sum(w * t * np.exp(t))
        if -(1 / a) * math.exp(b / a) < -1 / math.e:
            return np.inf
        value = mistake(a, b)
        return value if math.isfinite(value) else np.inf

    feedback = ex.check_spike_time(answer)
    assert not feedback.passed and words in feedback.message


def test_complex_results_and_crashes_are_explained():
    def complex_answer(t, w):
        a, b = np.sum(w * np.exp(t)), np.sum(w * t * np.exp(t))
        return b / a - scipy_lambertw(-(1 / a) * np.exp(b / a))

    def crashes(t, w):
        return t[5]

    assert "real part" in ex.check_spike_time(complex_answer).message
    message = ex.check_spike_time(crashes).message
    assert "raised IndexError" in message and "t = [0]" in message
    assert "function itself" in ex.check_spike_time(3.0).message


def test_an_unknown_error_reports_expected_time():
    feedback = ex.check_spike_time(lambda t, w: right_spike_time(t, w) + 0.01)
    assert not feedback.passed
    assert "too late by 0.010" in feedback.message and "expected 0.6191" in feedback.message


# ---------------------------------------------------------------- exercise 2
def test_kernel_derivative_check_knows_the_usual_slips():
    def right(s):
        return np.where(s > 0, (1 - s) * np.exp(-s), 0.0)

    # independent ground truth: central differences of kappa(s) = s e^{-s}
    s = np.array([0.1, 0.5, 1.5, 3.0])
    fd = ((s + 1e-6) * np.exp(-(s + 1e-6)) - (s - 1e-6) * np.exp(-(s - 1e-6))) / 2e-6
    np.testing.assert_allclose(right(s), fd, rtol=1e-8)
    assert ex.check_kernel_derivative(right).passed
    assert "must be 0 for s ≤ 0" in ex.check_kernel_derivative(lambda s: (1 - s) * np.exp(-s)).message
    assert "Sign" in ex.check_kernel_derivative(lambda s: np.where(s > 0, (s - 1) * np.exp(-s), 0.0)).message
    assert "κ(s) itself" in ex.check_kernel_derivative(lambda s: np.where(s > 0, s * np.exp(-s), 0.0)).message
    scalar_only = lambda s: (1 - s) * math.exp(-s) if s > 0 else 0.0  # noqa: E731
    assert "np.where" in ex.check_kernel_derivative(scalar_only).message
    assert not ex.check_kernel_derivative(lambda s: None).answered
    assert not ex.check_kernel_derivative(None).answered
    assert "At s = " in ex.check_kernel_derivative(lambda s: np.where(s > 0, np.exp(-s), 0.0)).message


def finite_difference(case, h=1e-6):
    t = np.array(ex.GRADIENT_NEURON["times"], dtype=float)
    w = np.array(ex.GRADIENT_NEURON["weights"], dtype=float)
    kind, i = case[4], int(case[5]) - 1
    target = w if kind == "w" else t
    up, down = target.copy(), target.copy()
    up[i] += h
    down[i] -= h
    args = lambda x: (t, x) if kind == "w" else (x, w)  # noqa: E731
    return (ex.spike_time(*args(up)) - ex.spike_time(*args(down))) / (2 * h)


@pytest.mark.parametrize("case", ex.GRADIENT_CASES)
def test_gradient_truth_matches_finite_differences(case):
    assert ex.gradient_truth(case) == pytest.approx(finite_difference(case), abs=1e-7)


def test_right_gradients_pass_including_three_significant_digits():
    for case in ex.GRADIENT_CASES:
        truth = finite_difference(case)
        assert ex.check_gradient(truth, case).passed, case
        assert ex.check_gradient(float(f"{truth:.4g}"), case).passed, case
    # the time-shift symmetry: the dT/dt_i add up to one
    assert sum(finite_difference(f"dT/dt{i}") for i in (1, 2, 3)) == pytest.approx(1.0, abs=1e-7)


def hand_pieces():
    t = np.array(ex.GRADIENT_NEURON["times"])
    w = np.array(ex.GRADIENT_NEURON["weights"])
    T = crossing_time(t, w, dt=1e-6, t_max=1.0)
    k = lambda s: s * np.exp(-s)  # noqa: E731  (the raw formula, no s > 0 cut)
    dk = lambda s: (1 - s) * np.exp(-s)  # noqa: E731
    slope = sum(w[j] * dk(T - t[j]) for j in range(3) if t[j] < T)
    return t, w, T, k, dk, slope


@pytest.mark.parametrize("case, wrong, words", [
    ("dT/dw1", lambda t, w, T, k, dk, u: +k(T - t[0]) / u, "sign"),
    ("dT/dw1", lambda t, w, T, k, dk, u: -k(T - t[0]), "divide by u̇(T)"),
    ("dT/dw1", lambda t, w, T, k, dk, u: -dk(T - t[0]) / u, "not κ'(T − t_i)"),
    ("dT/dw2", lambda t, w, T, k, dk, u: -k(T) / u, "not at T"),
    ("dT/dw2", lambda t, w, T, k, dk, u: -k(T - t[1]) / (w[1] * dk(T - t[1])), "not only input i"),
    ("dT/dw3", lambda t, w, T, k, dk, u: -k(T - t[2]) / u, "after the spike"),
    ("dT/dt1", lambda t, w, T, k, dk, u: -w[0] * dk(T - t[0]) / u, "sign"),
    ("dT/dt2", lambda t, w, T, k, dk, u: dk(T - t[1]) / u, "forgotten the weight"),
    ("dT/dt2", lambda t, w, T, k, dk, u: w[1] * k(T - t[1]) / u, "not κ(T − t_i)"),
    ("dT/dt3", lambda t, w, T, k, dk, u: w[2] * dk(T - t[2]) / u, "after the spike"),
])
def test_gradient_slips_get_their_hint(case, wrong, words):
    value = float(wrong(*hand_pieces()))
    feedback = ex.check_gradient(value, case)
    assert not feedback.passed and words in feedback.message


def test_gradient_near_misses_unknown_cases_and_missing_answers():
    truth = ex.gradient_truth("dT/dw1")
    assert "Close" in ex.check_gradient(truth * 1.01, "dT/dw1").message
    assert "is not it" in ex.check_gradient(1.234, "dT/dw1").message
    assert not ex.check_gradient(None, "dT/dt2").answered
    assert "finite" in ex.check_gradient(math.inf, "dT/dw1").message
    assert "one number" in ex.check_gradient([1.0, 2.0], "dT/dw1").message
    assert ex.check_gradient(torch.tensor(truth), "dT/dw1").passed
    with pytest.raises(ValueError, match="unknown case"):
        ex.check_gradient(0.1, "dT/dw7")


# ---------------------------------------------------------------- exercise 3
def test_weight_for_time_hand_solutions_pass():
    # one input at 0.8, T = 1.5: w (0.7) e^{-0.7} = 1
    w_one = math.exp(0.7) / 0.7
    assert ex.check_weight_for_time(w_one).passed
    assert ex.check_weight_for_time(round(w_one, 3)).passed
    assert crossing_time([0.8], [w_one]) == pytest.approx(1.5, abs=2e-5)
    # two inputs: 1.5 kappa(1.0) + w2 kappa(0.5) = 1
    w_two = (1 - 1.5 * math.exp(-1.0)) / (0.5 * math.exp(-0.5))
    assert ex.check_weight_for_time(w_two, "two inputs").passed
    assert crossing_time([0.2, 0.7], [1.5, w_two]) == pytest.approx(1.2, abs=2e-5)
    assert ex.weight_for_time("two inputs") == pytest.approx(w_two, rel=1e-12)


def test_weight_for_time_typical_mistakes():
    forgot_arrival = ex.check_weight_for_time(math.exp(1.5) / 1.5)
    assert "too early" in forgot_arrival.message and "from the input's arrival" in forgot_arrival.message
    ignored_first = ex.check_weight_for_time(1 / (0.5 * math.exp(-0.5)), "two inputs")
    assert "too early" in ignored_first.message and "ignored input 1" in ignored_first.message
    too_small = ex.check_weight_for_time(2.0)
    assert "never reaches the threshold" in too_small.message and "w ≥ e" in too_small.message
    assert "too late" in ex.check_weight_for_time(2.8).message
    assert not ex.check_weight_for_time(None).answered
    assert "one number" in ex.check_weight_for_time(np.array([1.0, 2.0])).message
    with pytest.raises(ValueError, match="unknown case"):
        ex.check_weight_for_time(1.0, "three inputs")
