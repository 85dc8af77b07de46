"""first_spike_times against an independent brute-force ground truth (tests/groundtruth.py).

The ground truth itself is first checked against two other independent routes: the
Lambert-W / quadratic closed forms of SPEC §1 (via scipy) and integration of the
neuron's ODE (scipy.integrate.solve_ivp with a threshold event).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from scipy.special import lambertw

import groundtruth as gt
from ttfs_lab import NeuronParams, first_spike_times, native

TOL = 1e-6  # spike-time tolerance, in units of tau_s

# Both implementations of the core (vectorised torch, compiled C) face the same ground truth.
BACKEND_NAMES = ["torch"] + (["native"] if native.available() else [])
BACKENDS = [
    pytest.param("torch"),
    pytest.param("native", marks=pytest.mark.skipif(not native.available(), reason="ttfs_lab._native not built")),
]


@pytest.fixture(params=BACKENDS)
def backend(request):
    with native.set_backend(request.param):
        yield request.param

REGIMES = {
    "equal": NeuronParams(),
    "double": NeuronParams(tau_m=2.0, tau_s=1.0),
    "general_1.7": NeuronParams(tau_m=1.7, tau_s=1.0),
    "general_0.6": NeuronParams(tau_m=0.6, tau_s=1.0),
    # non-default leak / threshold (and tau_s != 1) in every regime
    "equal_leaky": NeuronParams(tau_m=0.5, tau_s=0.5, g_leak=0.5, e_leak=-0.3, threshold=0.4),
    "double_leaky": NeuronParams(tau_m=1.0, tau_s=0.5, g_leak=2.0, e_leak=0.2, threshold=0.7),
    "general_leaky": NeuronParams(tau_m=1.3, tau_s=1.9, g_leak=0.8, e_leak=-1.0, threshold=0.5),
}
# A "layer" is one random weight matrix with BATCH random input-time samples, so every
# regime checks N_WEIGHTS * BATCH >= 1000 random (weights, input times) configurations
# in only N_WEIGHTS calls of the core.
N_WEIGHTS = {"equal": 125, "double": 125, "general_1.7": 125, "general_0.6": 125}
N_WEIGHTS_LEAKY = 40
BATCH = 8


@functools.lru_cache(maxsize=None)
def kappa_argmax(p) -> float:
    """Where the kernel peaks, by dense search (not by formula)."""
    s = np.linspace(1e-6, 20 * max(p.tau_m, p.tau_s), 400001)
    return float(s[gt.kappa(s, p).argmax()])


def kappa_peak(p) -> float:
    return float(gt.kappa(kappa_argmax(p), p))


def random_layer(rng, p, batch=BATCH):
    """A small random layer: times in [0, 3] tau_s with some +inf and some simultaneous
    inputs; weights of both signs, scaled so that about half of the neurons spike."""
    n_in, n_out = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    times = rng.uniform(0.0, 3.0, (batch, n_in)) * p.tau_s
    times[rng.random((batch, n_in)) < 0.1] = np.inf
    if n_in > 1 and rng.random() < 0.2:  # simultaneous inputs
        times[:, 1] = times[:, 0]
    scale = p.c / kappa_peak(p)
    weights = rng.normal(0.45, 0.75, (n_in, n_out)) * scale
    return times, weights


def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def compare_layers(p, layers):
    n_neurons = n_spiking = 0
    for times, weights in layers:
        expected = gt.first_spike_layer(times, weights, p)
        for name in BACKEND_NAMES:
            with native.set_backend(name):
                got = first_spike_times(_t(times), _t(weights), p).numpy()
            check_one(p, times, weights, expected, got, name)
        n_neurons += expected.size
        n_spiking += int(np.isfinite(expected).sum())
    return n_spiking / n_neurons


def check_one(p, times, weights, expected, got, backend):
    assert got.shape == expected.shape
    silent_ok = np.isinf(got) == np.isinf(expected)
    assert silent_ok.all(), (
        f"[{backend}] silent set differs for params={p}\ninput_times={times.tolist()}\nweights={weights.tolist()}\n"
        f"expected={expected.tolist()}\ngot={got.tolist()}"
    )
    assert (got[np.isinf(got)] > 0).all(), "silent must be +inf"
    spk = np.isfinite(expected)
    err = np.abs(got[spk] - expected[spk])
    assert (err <= TOL * p.tau_s).all(), (
        f"[{backend}] spike times differ (max err {err.max():.3g}) for params={p}\ninput_times={times.tolist()}\n"
        f"weights={weights.tolist()}\nexpected={expected.tolist()}\ngot={got.tolist()}"
    )


@pytest.mark.parametrize("name", list(REGIMES))
def test_random_layers_match_groundtruth(name):
    p = REGIMES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    n_layers = N_WEIGHTS.get(name, N_WEIGHTS_LEAKY)
    layers = [random_layer(rng, p) for _ in range(n_layers)]
    frac = compare_layers(p, layers)
    print(f"{name}: {n_layers} layers x {BATCH} samples, fraction of spiking neurons {frac:.3f}")
    # the comparison must not be trivially all-silent (or all-spiking)
    assert 0.25 < frac < 0.75, frac


# ------------------------------------------------------------------ ground truth self-checks
def _causal_sums(times, w, T, tau):
    C = np.isfinite(times) & (times < T)
    return (w[C] * np.exp(times[C] / tau)).sum(), (w[C] * (times[C] / tau) * np.exp(times[C] / tau)).sum()


@pytest.mark.parametrize("name", ["equal", "equal_leaky"])
def test_groundtruth_matches_lambertw_closed_form(name):
    p = REGIMES[name]
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(150):
        times, weights = random_layer(rng, p, batch=1)
        T = gt.first_spike_bruteforce(times[0], weights, p)
        for m in np.nonzero(np.isfinite(T))[0]:
            a, b = _causal_sums(times[0], weights[:, m], T[m], p.tau_s)
            arg = -(p.c / a) * math.exp(b / a)
            assert a > 0 and arg >= -1 / math.e
            t_closed = p.tau_s * (b / a - lambertw(arg, 0).real)
            assert abs(t_closed - T[m]) < 1e-9, (times, weights[:, m], T[m], t_closed)
            checked += 1
    assert checked > 50


@pytest.mark.parametrize("name", ["double", "double_leaky"])
def test_groundtruth_matches_quadratic_closed_form(name):
    p = REGIMES[name]
    rng = np.random.default_rng(8)
    checked = 0
    for _ in range(150):
        times, weights = random_layer(rng, p, batch=1)
        T = gt.first_spike_bruteforce(times[0], weights, p)
        for m in np.nonzero(np.isfinite(T))[0]:
            t0, w = times[0], weights[:, m]
            C = np.isfinite(t0) & (t0 < T[m])
            a_s = (w[C] * np.exp(t0[C] / p.tau_s)).sum()
            a_m = (w[C] * np.exp(t0[C] / p.tau_m)).sum()
            D = a_m**2 - 4 * a_s * p.c
            t_closed = p.tau_m * math.log(2 * a_s / (a_m + math.sqrt(D)))
            assert abs(t_closed - T[m]) < 1e-9, (t0, w, T[m], t_closed)
            checked += 1
    assert checked > 30


@pytest.mark.parametrize("name", ["equal", "double", "general_1.7", "general_0.6", "general_leaky"])
def test_groundtruth_matches_ode(name):
    """Brute force on the kernel formula == event detection on the ODE (independent route)."""
    p = REGIMES[name]
    rng = np.random.default_rng(9)
    n_spiking = 0
    for _ in range(4):
        times, weights = random_layer(rng, p, batch=1)
        T = gt.first_spike_bruteforce(times[0], weights, p)
        for m in range(weights.shape[1]):
            t_ode = gt.first_spike_ode(times[0], weights[:, m], p, max_step=0.1)
            if np.isinf(T[m]):
                assert np.isinf(t_ode), (times, weights[:, m], t_ode)
            else:
                n_spiking += 1
                assert abs(t_ode - T[m]) < 1e-8, (times, weights[:, m], T[m], t_ode)
    assert n_spiking >= 2


@pytest.mark.parametrize("name", ["equal", "double", "general_1.7", "general_leaky"])
def test_ode_potential_equals_kernel_formula(name):
    p = REGIMES[name]
    times = np.array([0.2, 0.5, 0.5, 1.3, np.inf, 2.0])
    w = np.array([1.0, -0.5, 0.7, 2.0, 3.0, -1.2])
    t = np.linspace(-0.5, 8.0, 300)
    np.testing.assert_allclose(gt.ode_potential(t, times, w, p), gt.potential(t, times, w, p), atol=1e-10)


# ---------------------------------------------------------------------------- edge cases
ALL = list(REGIMES)


def core(times, weights, p):
    return first_spike_times(_t(np.atleast_2d(times)), _t(weights), p).numpy()


def check_against_gt(times, weights, p):
    times = np.atleast_2d(np.asarray(times, float))
    weights = np.asarray(weights, float).reshape(times.shape[1], -1)
    got = core(times, weights, p)
    exp = gt.first_spike_layer(times, weights, p)
    assert (np.isinf(got) == np.isinf(exp)).all(), (times, weights, exp, got)
    fin = np.isfinite(exp)
    np.testing.assert_allclose(got[fin], exp[fin], rtol=0, atol=TOL * p.tau_s)
    return got, exp


@pytest.mark.parametrize("name", ALL)
def test_simultaneous_inputs_act_like_their_sum(name, backend):
    p = REGIMES[name]
    w_peak = p.c / kappa_peak(p)
    times = np.array([[0.5, 0.5, 1.2, 0.5]]) * p.tau_s
    weights = np.array([[0.5], [0.4], [0.3], [0.6]]) * w_peak
    got, exp = check_against_gt(times, weights, p)
    assert np.isfinite(exp).all()
    merged = core(np.array([[0.5, 1.2]]) * p.tau_s, np.array([[1.5], [0.3]]) * w_peak, p)
    np.testing.assert_allclose(got, merged, rtol=0, atol=1e-9)
    # the same input time shared across the batch and across inputs
    times = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 1.0], [2.0, 1.0, 1.0]]) * p.tau_s
    weights = np.array([[0.7, -0.2], [0.7, 0.9], [-0.3, 0.8]]) * w_peak
    check_against_gt(times, weights, p)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("eps", [1e-4, 1e-6])
def test_near_tangent_crossing_is_found(name, eps, backend):
    """Peak a hair above threshold: spike (near the peak); a hair below: silent."""
    p = REGIMES[name]
    w_peak = p.c / kappa_peak(p)
    # single input: the peak of w kappa is c (1 + eps)
    got, exp = check_against_gt([[0.3]], [[w_peak * (1 + eps)]], p)
    assert np.isfinite(exp).all()
    got, exp = check_against_gt([[0.3]], [[w_peak * (1 - eps)]], p)
    assert np.isinf(got).all()
    # near-tangent peak inside an interval that is followed by more (strong) input:
    # the first, marginal crossing must be reported, not the later strong one
    s_peak = 0.3 + kappa_argmax(p)
    times = [[0.3, s_peak + 0.5 * p.tau_s, s_peak + 0.6 * p.tau_s]]
    weights = [[w_peak * (1 + eps)], [3 * w_peak], [-1 * w_peak]]
    got, exp = check_against_gt(times, weights, p)
    assert exp[0, 0] < s_peak + 1e-3


@pytest.mark.parametrize("name", ALL)
def test_input_after_spike_does_not_change_it(name, backend):
    p = REGIMES[name]
    w_peak = p.c / kappa_peak(p)
    times = np.array([[0.2, 0.6, np.inf]]) * p.tau_s
    weights = np.array([[1.2, 2.0], [0.6, 0.1], [0.0, 0.0]]) * w_peak
    base = core(times, weights, p)
    assert np.isfinite(base).all()
    for late_w in (-50.0, 50.0, 1e-3):
        for dt in (1e-3, 0.5, 10.0):
            t2 = times.copy()
            t2[0, 2] = base.max() + dt * p.tau_s
            w2 = weights.copy()
            w2[2] = late_w * w_peak
            got = core(t2, w2, p)
            np.testing.assert_allclose(got, base, rtol=0, atol=1e-12)
            check_against_gt(t2, w2, p)


@pytest.mark.parametrize("name", ALL)
def test_all_inputs_at_infinity_are_silent(name, backend):
    p = REGIMES[name]
    times = np.full((3, 4), np.inf)
    weights = np.full((4, 2), 100.0)
    got = core(times, weights, p)
    assert got.shape == (3, 2)
    assert np.isposinf(got).all()
    # also with a sample that does have inputs next to it in the batch
    times[1, 2] = 0.1
    got = core(times, weights, p)
    assert np.isposinf(got[[0, 2]]).all() and np.isfinite(got[1]).all()
    check_against_gt(times, weights, p)


@pytest.mark.parametrize("name", ALL)
def test_crossing_in_a_later_interval_after_a_subthreshold_peak(name, backend):
    p = REGIMES[name]
    w_peak = p.c / kappa_peak(p)
    tau = max(p.tau_m, p.tau_s)
    # first input peaks at 0.8 c well before the second arrives; the second pushes it over
    times = np.array([[0.0, 2.5 * tau]])
    weights = np.array([[0.8], [0.9]]) * w_peak
    got, exp = check_against_gt(times, weights, p)
    assert gt.drive(np.linspace(0, 2.5 * tau, 5001), times[0], weights[:, 0], p).max() < 0.81 * p.c
    assert np.isfinite(exp).all() and exp[0, 0] > 2.5 * tau
    # the crossing after the last input, following a dip from an inhibitory input
    times = np.array([[0.0, 0.5 * tau, 2.5 * tau, 2.6 * tau]])
    weights = np.array([[0.9], [-0.6], [0.5], [0.6]]) * w_peak
    got, exp = check_against_gt(times, weights, p)
    assert np.isfinite(exp).all() and exp[0, 0] > 2.6 * tau


@pytest.mark.parametrize("name", ALL)
def test_negative_times_are_valid_and_time_shift_invariant(name, backend):
    p = REGIMES[name]
    rng = np.random.default_rng(3)
    for k in range(10):
        times, weights = random_layer(rng, p)
        base = core(times, weights, p)
        shifted = core(times - 5.0 * p.tau_s, weights, p)
        assert (np.isinf(base) == np.isinf(shifted)).all()
        fin = np.isfinite(base)
        np.testing.assert_allclose(shifted[fin], base[fin] - 5.0 * p.tau_s, rtol=0, atol=1e-9)
        if k < 2:
            check_against_gt(times - 5.0 * p.tau_s, weights, p)


@pytest.mark.parametrize("name", ALL)
def test_inhibition_first_and_zero_weights(name, backend):
    p = REGIMES[name]
    w_peak = p.c / kappa_peak(p)
    times = np.array([[0.0, 0.4, 0.9, 1.1], [0.4, 0.0, 0.9, np.inf]]) * p.tau_s
    weights = np.array([[-2.0, 0.0, -0.5], [3.0, 0.0, 1.2], [0.0, 0.0, 0.4], [1.0, 0.0, 0.0]]) * w_peak
    got, exp = check_against_gt(times, weights, p)
    assert np.isinf(got[:, 1]).all()  # all-zero weights never spike
    assert np.isfinite(exp).sum() >= 3


@pytest.mark.parametrize("delta", [1e-4, 1e-6, 1e-8, 3e-9])
def test_spike_times_continuous_as_tau_m_approaches_tau_s(delta, backend):
    """T(tau_m = 1 + delta) = T(equal) + delta dT/dtau_m + O(delta^2): no jump where the
    solver switches between the Lambert-W and the general formula."""
    times = np.array([[0.1, 0.5, 1.2, 2.0], [0.3, 0.2, 2.5, 2.9]])
    weights = np.array([[3.0, 2.0], [1.5, 0.3], [-0.5, 1.0], [0.7, 2.5]])
    T0 = core(times, weights, NeuronParams())
    assert np.isfinite(T0).all()
    # slope dT/dtau_m from the brute force (independent of the core) by central differences
    h = 1e-3
    slope = (
        gt.first_spike_layer(times, weights, NeuronParams(tau_m=1 + h))
        - gt.first_spike_layer(times, weights, NeuronParams(tau_m=1 - h))
    ) / (2 * h)
    for side in (1.0, -1.0):
        T = core(times, weights, NeuronParams(tau_m=1 + side * delta))
        err = np.abs(T - T0 - side * delta * slope)
        # h^2 error of the slope (~1e-6 relative) times delta, plus second order, plus round-off
        allowed = 1e-5 * delta + 10 * delta**2 + 1e-11
        assert err.max() <= allowed, f"delta={side * delta}: T={T.tolist()}, off by {err.max():.3g} (allowed {allowed:.3g})"


# ------------------------------------------------------------------ parameters per neuron
# One layer mixing every regime (an analog chip's neurons each have their own tau_m, tau_s):
# (tau_m, tau_s) per neuron, and whether the brute force can serve as ground truth (its error
# margin scales with tau_s / |tau_m - tau_s|; nearly equal time constants use the ODE instead).
PER_NEURON = [
    (1.0, 1.0, "brute"), (0.5, 0.5, "brute"), (2.0, 1.0, "brute"), (1.7, 1.0, "brute"), (0.6, 1.0, "brute"),
    (1.3, 1.9, "brute"), (1.0 + 1e-7, 1.0, "ode"), (0.8 * (1 + 1e-12), 0.8, "ode"), (2.0 * (1 + 1e-7), 1.0, "brute"),
]


@functools.lru_cache(maxsize=None)
def per_neuron_case():
    """Input times, weights, tau_m, tau_s, c per sample and neuron, and the ground truth [B, M]."""
    rng = np.random.default_rng(21)
    n_batch, n_in, n_out = 6, 6, len(PER_NEURON)
    times = rng.uniform(0.0, 3.0, (n_batch, n_in))
    times[rng.random((n_batch, n_in)) < 0.1] = np.inf
    times[:, 1] = times[:, 0]  # simultaneous inputs
    weights = rng.normal(0.9, 0.9, (n_in, n_out))
    c = rng.uniform(0.6, 1.4, (n_batch, n_out))  # a threshold per sample and neuron (trial noise)
    expected = np.empty((n_batch, n_out))
    for b in range(n_batch):
        for m, (tm, ts, method) in enumerate(PER_NEURON):
            p = NeuronParams(tau_m=tm, tau_s=ts, threshold=float(c[b, m]))
            if method == "brute":
                expected[b, m] = gt.first_spike_bruteforce(times[b], weights[:, m], p)
            else:
                expected[b, m] = gt.first_spike_ode(times[b], weights[:, m], p)
    return times, weights, c, expected


def test_per_neuron_parameters_match_groundtruth(backend):
    from ttfs_lab.spike_times import per_neuron_spike_times

    times, weights, c, expected = per_neuron_case()
    tau_m = np.array([m for m, _, _ in PER_NEURON])
    tau_s = np.array([s for _, s, _ in PER_NEURON])
    got = per_neuron_spike_times(_t(times), _t(weights), _t(tau_m), _t(tau_s), _t(c)).numpy()
    assert np.array_equal(np.isinf(got), np.isinf(expected)), (got, expected)
    spk = np.isfinite(expected)
    assert (np.abs(got[spk] - expected[spk]) <= TOL * tau_s[None, :].repeat(len(got), 0)[spk]).all(), (got, expected)
    assert 0.25 < spk.mean() < 0.9, spk.mean()  # a real test: both outcomes occur
