"""The PSP kernel, its derivative and membrane_potential against the SPEC §1 formulas
(re-typed independently in tests/groundtruth.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import groundtruth as gt
from ttfs_lab import NeuronParams, kernel, kernel_derivative, membrane_potential

EPS = np.finfo(np.float64).eps

PARAMS = [
    NeuronParams(),
    NeuronParams(tau_m=2.5, tau_s=2.5),
    NeuronParams(tau_m=2.0, tau_s=1.0),
    NeuronParams(tau_m=1.0, tau_s=0.5),
    NeuronParams(tau_m=1.7, tau_s=1.0),
    NeuronParams(tau_m=0.6, tau_s=1.0),
    NeuronParams(tau_m=1.3, tau_s=1.9, g_leak=0.8, e_leak=-1.0, threshold=0.5),
]


def _k(s, p):
    return kernel(torch.as_tensor(np.asarray(s, dtype=np.float64)), p).numpy()


@pytest.mark.parametrize("tau", [1.0, 2.5, 0.3])
def test_equal_time_constants_peak_is_one_over_e_at_tau(tau):
    p = NeuronParams(tau_m=tau, tau_s=tau)
    assert _k([tau], p)[0] == pytest.approx(1 / math.e, rel=1e-14)
    s = np.linspace(0.0, 10 * tau, 100001)
    values = _k(s, p)
    assert values.max() <= 1 / math.e * (1 + 1e-14)
    assert abs(s[values.argmax()] - tau) <= s[1] - s[0]


@pytest.mark.parametrize("p", PARAMS, ids=str)
def test_kernel_vanishes_before_the_input_and_at_infinity(p):
    s = np.array([-np.inf, -1e6, -3.0, -1e-300, -0.0, 0.0, np.inf])
    values = _k(s, p)
    assert not np.isnan(values).any()
    assert (values == 0).all(), values


@pytest.mark.parametrize("p", PARAMS, ids=str)
def test_kernel_matches_formula(p):
    s = np.concatenate([np.linspace(1e-9, 30.0, 3001), [1e-300, 1e-12, 700.0]])
    # relative accuracy everywhere, except that values far below the kernel's scale (~0.3)
    # only need absolute accuracy of a few ulp of that scale (matters at tiny s, where the
    # two exponentials of the general formula cancel)
    np.testing.assert_allclose(_k(s, p), gt.kappa(s, p), rtol=1e-12, atol=1e-15)
    assert (_k(s, p) >= 0).all()
    # one hand-computed value per case, straight from the SPEC text
    if p.tau_m == p.tau_s:
        expected = 0.7 / p.tau_s * math.exp(-0.7 / p.tau_s)
    else:
        expected = p.tau_s / (p.tau_m - p.tau_s) * (math.exp(-0.7 / p.tau_m) - math.exp(-0.7 / p.tau_s))
    assert _k([0.7], p)[0] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("p", PARAMS, ids=str)
def test_kernel_derivative(p):
    s = np.linspace(1e-3, 20.0, 2001)
    got = kernel_derivative(torch.as_tensor(s), p).numpy()
    np.testing.assert_allclose(got, gt.kappa_prime(s, p), rtol=1e-10, atol=1e-15)
    h = 1e-6  # and against central differences of the kernel itself
    fd = (_k(s + h, p) - _k(s - h, p)) / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=0, atol=1e-8)
    before = kernel_derivative(torch.tensor([-2.0, -0.0, 0.0, np.inf]), p).numpy()
    assert (before == 0).all() and not np.isnan(before).any()


@pytest.mark.parametrize("tau_s", [1.0, 0.7])
@pytest.mark.parametrize("delta", [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 3e-9])
@pytest.mark.parametrize("side", [1.0, -1.0])
def test_general_formula_tends_continuously_to_the_equal_limit(tau_s, delta, side):
    """kappa(tau_m = tau_s (1 + delta)) - kappa(tau_m = tau_s) = O(delta).

    Expanding exp(-s/tau_m) around tau_m = tau_s = tau gives
    kappa_delta(s) - kappa_0(s) = delta (x^2/2 - x) e^{-x} + O(delta^2), x = s/tau,
    whose size is at most 0.5 delta. A correct implementation must stay within that
    (plus round-off of a few ulp of kappa), however close to the limit it gets.
    """
    limit = NeuronParams(tau_m=tau_s, tau_s=tau_s)
    near = NeuronParams(tau_m=tau_s * (1 + side * delta), tau_s=tau_s)
    s = np.linspace(1e-4, 15 * tau_s, 1501)
    x = s / tau_s
    diff = _k(s, near) - _k(s, limit)
    first_order = side * delta * (x**2 / 2 - x) * np.exp(-x)
    # second-order remainder <= delta^2 * (polynomial in x) e^{-x}; 8 delta^2 bounds it on this range
    allowed = 8 * delta**2 + 16 * EPS
    worst = np.abs(diff - first_order).max()
    assert worst <= allowed, f"kernel off its tau_m -> tau_s expansion by {worst:.3g} (allowed {allowed:.3g})"


def test_membrane_potential_shape_and_values():
    p = NeuronParams(tau_m=1.7, tau_s=1.0, g_leak=0.8, e_leak=-0.5, threshold=0.2)
    times = np.array([[0.1, 0.4, np.inf], [2.0, np.inf, 0.3]])
    weights = np.array([[1.0, -0.5], [0.3, 2.0], [5.0, 1.5]])
    t = np.linspace(-1.0, 6.0, 141)
    u = membrane_potential(torch.tensor(t), torch.tensor(times), torch.tensor(weights), p)
    assert u.shape == (2, 141, 2)
    u = u.numpy()
    assert np.isfinite(u).all()
    for b in range(2):
        np.testing.assert_allclose(u[b], gt.potential(t, times[b], weights, p), rtol=1e-12, atol=1e-13)
        # inputs at +inf contribute nothing: same as dropping them
        keep = np.isfinite(times[b])
        np.testing.assert_allclose(u[b], gt.potential(t, times[b][keep], weights[keep], p), rtol=1e-12, atol=1e-13)
    assert (u[:, t <= 0.1, :] == p.e_leak).all()  # nothing has arrived yet: resting potential


@pytest.mark.parametrize("p", PARAMS, ids=str)
def test_membrane_potential_matches_groundtruth(p):
    rng = np.random.default_rng(11)
    times = rng.uniform(0.0, 3.0, (4, 5))
    times[rng.random(times.shape) < 0.2] = np.inf
    weights = rng.normal(0.5, 1.0, (5, 3))
    t = np.linspace(0.0, 8.0, 200)
    u = membrane_potential(torch.tensor(t), torch.tensor(times), torch.tensor(weights), p).numpy()
    assert u.shape == (4, 200, 3)
    for b in range(4):
        np.testing.assert_allclose(u[b], gt.potential(t, times[b], weights, p), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("p", PARAMS, ids=str)
def test_groundtruth_kernel_is_the_spec_formula(p):
    """tests/groundtruth.kappa uses an expm1 rewrite; away from tau_m = tau_s it must equal
    the SPEC formula typed verbatim."""
    s = np.linspace(-1.0, 40.0, 4001)
    np.testing.assert_allclose(gt.kappa(s, p), gt.kappa_naive(s, p), rtol=1e-13, atol=1e-15)
