"""Learned delays (ttfs_lab.delays) against independent ground truth.

Ground truth: tests/groundtruth.py (brute force on a dense grid + Brent, and the neuron's ODE
integrated by scipy) run on the arrival times t_i + d_ij of each neuron; gradients against
central finite differences of that brute force and against torch.autograd.gradcheck.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import groundtruth as gt
from ttfs_lab import NeuronParams, TTFSNetwork, first_spike_times, native
from ttfs_lab.delays import (
    DelayedTTFSNetwork, axonal_spike_times, delayed_spike_times_and_slopes, synaptic_spike_times,
)

TOL = 1e-6  # spike-time tolerance, units of tau_s (as tests/test_spike_times_groundtruth.py)

REGIMES = {
    "equal": NeuronParams(),
    "double": NeuronParams(tau_m=2.0, tau_s=1.0),
    "general": NeuronParams(tau_m=1.7, tau_s=1.0),
    "equal_leaky": NeuronParams(tau_m=0.5, tau_s=0.5, g_leak=0.5, e_leak=-0.3, threshold=0.4),
    "double_leaky": NeuronParams(tau_m=1.0, tau_s=0.5, g_leak=2.0, e_leak=0.2, threshold=0.7),
    "general_leaky": NeuronParams(tau_m=1.3, tau_s=1.9, g_leak=0.8, e_leak=-1.0, threshold=0.5),
}
N_LAYERS = 40  # random layers per regime; x BATCH samples x their neurons (counted in the test)
BATCH = 6

BACKENDS = [
    pytest.param("torch"),
    pytest.param("native", marks=pytest.mark.skipif(not native.available(), reason="ttfs_lab._native not built")),
]


@pytest.fixture(params=BACKENDS)
def backend(request):
    with native.set_backend(request.param):
        yield request.param


def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def random_delayed_layer(rng, p, batch=BATCH):
    """Times in [0, 3] tau_s (some +inf), weights of both signs, delays in [0, 2] tau_s --
    large enough to reorder the inputs -- with ties: simultaneous inputs with equal delays,
    and arrivals made equal on purpose (t_1 + d_1j = t_0 + d_0j)."""
    n_in, n_out = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    times = rng.uniform(0.0, 3.0, (batch, n_in)) * p.tau_s
    times[rng.random((batch, n_in)) < 0.1] = np.inf
    delays = rng.uniform(0.0, 2.0, (n_in, n_out)) * p.tau_s
    delays[rng.random((n_in, n_out)) < 0.2] = 0.0
    if n_in > 1 and rng.random() < 0.3:
        times[:, 1] = times[:, 0]
        delays[1] = delays[0]  # tie in arrival at every neuron
    elif n_in > 1 and rng.random() < 0.3:
        # arrivals coincide although the inputs do not: t_1 = t_0 + 0.5, d_0 = d_1 + 0.5
        times[:, 1] = times[:, 0] + 0.5 * p.tau_s
        delays[0] = delays[1] + 0.5 * p.tau_s
    scale = p.c / float(gt.kappa(np.linspace(1e-3, 10 * max(p.tau_m, p.tau_s), 20001), p).max())
    weights = rng.normal(0.45, 0.75, (n_in, n_out)) * scale
    return times, weights, delays


def brute_force(times, weights, delays, p):
    """[B, M] by brute force on each neuron's own arrival times."""
    out = np.empty((times.shape[0], weights.shape[1]))
    for b in range(times.shape[0]):
        for m in range(weights.shape[1]):
            out[b, m] = gt.first_spike_bruteforce(times[b] + delays[:, m], weights[:, m], p)
    return out


def _compare(got, want):
    """(number of neuron outcomes compared, worst spike-time error); asserts inf <-> inf."""
    got = got.numpy()
    assert np.array_equal(np.isinf(got), np.isinf(want)), f"spike/no-spike differs:\n{got}\n{want}"
    finite = np.isfinite(want)
    return got.size, float(np.abs(got[finite] - want[finite]).max()) if finite.any() else 0.0


@pytest.mark.parametrize("regime", REGIMES)
def test_synaptic_delays_match_brute_force(regime, backend):
    p = REGIMES[regime]
    rng = np.random.default_rng(sum(map(ord, regime)))
    count, worst, reordered = 0, 0.0, 0
    for _ in range(N_LAYERS):
        times, weights, delays = random_delayed_layer(rng, p)
        got = synaptic_spike_times(_t(times), _t(weights), _t(delays), p)
        n, err = _compare(got, brute_force(times, weights, delays, p))
        count, worst = count + n, max(worst, err)
        arrival = times[:, :, None] + delays[None]
        order_changed = np.argsort(times, 1, kind="stable")[:, :, None] != np.argsort(arrival, 1, kind="stable")
        reordered += int(order_changed.any(axis=1).sum())
    assert worst < TOL
    assert count >= 200 and reordered >= 50  # the test saw many neurons whose input order the delays changed


@pytest.mark.parametrize("regime", ["equal", "double", "general"])
def test_synaptic_delays_match_ode(regime):
    """A second, independent route: integrate the ODE with the delayed inputs."""
    p = REGIMES[regime]
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(4):
        times, weights, delays = random_delayed_layer(rng, p, batch=2)
        got = synaptic_spike_times(_t(times), _t(weights), _t(delays), p).numpy()
        for b in range(times.shape[0]):
            for m in range(weights.shape[1]):
                want = gt.first_spike_ode(times[b] + delays[:, m], weights[:, m], p)
                if math.isinf(want):
                    assert math.isinf(got[b, m])
                else:
                    assert got[b, m] == pytest.approx(want, abs=1e-6)
                    checked += 1
    assert checked >= 3


def test_delay_can_reorder_inputs_and_make_coincidence():
    """Two inputs 1.5 tau_s apart, each too weak alone: undelayed the neuron stays silent;
    delaying the early one by 1.5 makes them coincide and the neuron fires (as brute force says)."""
    p = NeuronParams()
    times = _t([[0.0, 1.5]])
    weights = _t([[1.6], [1.6]])
    silent = synaptic_spike_times(times, weights, _t([[0.0], [0.0]]), p)
    fired = synaptic_spike_times(times, weights, _t([[1.5], [0.0]]), p)
    assert math.isinf(float(silent)) and math.isinf(gt.first_spike_bruteforce([0.0, 1.5], [1.6, 1.6], p))
    want = gt.first_spike_bruteforce([1.5, 1.5], [1.6, 1.6], p)
    assert math.isfinite(want) and float(fired) == pytest.approx(want, abs=TOL)
    # a larger delay reorders: input 0 now arrives after input 1
    later = synaptic_spike_times(times, weights, _t([[2.0], [0.0]]), p)
    assert float(later) == pytest.approx(gt.first_spike_bruteforce([2.0, 1.5], [1.6, 1.6], p), abs=TOL)


@pytest.mark.parametrize("regime", ["equal", "double", "general"])
def test_delay_gradients_match_finite_differences(regime, backend):
    """dT/dd, dT/dw, dT/dt of the core against central differences of the brute force."""
    p = REGIMES[regime]
    rng = np.random.default_rng(3)
    h = 1e-5
    checked = 0
    for _ in range(6):
        times, weights, delays = random_delayed_layer(rng, p, batch=2)
        times[~np.isfinite(times)] = 2.0
        delays[delays == 0] = 0.3  # central differences need room on both sides of d
        x, w, d = (_t(a).requires_grad_() for a in (times, weights, delays))
        T = synaptic_spike_times(x, w, d, p)
        for b, m in zip(*np.nonzero(np.isfinite(T.detach().numpy()))):
            gx, gw, gd = torch.autograd.grad(T[b, m], (x, w, d), retain_graph=True)
            arr = times[b] + delays[:, m]
            if np.min(np.abs(arr - float(T.detach()[b, m]))) < 10 * h:
                continue  # an input arrives right at the spike: one-sided, not differentiable
            for i in range(weights.shape[0]):
                shift = np.zeros_like(arr)
                shift[i] = h
                fd_d = (gt.first_spike_bruteforce(arr + shift, weights[:, m], p)
                        - gt.first_spike_bruteforce(arr - shift, weights[:, m], p)) / (2 * h)
                wp, wm = weights[:, m].copy(), weights[:, m].copy()
                wp[i] += h
                wm[i] -= h
                fd_w = (gt.first_spike_bruteforce(arr, wp, p) - gt.first_spike_bruteforce(arr, wm, p)) / (2 * h)
                if not (math.isfinite(fd_d) and math.isfinite(fd_w)):
                    continue  # a step crossed a spike/no-spike boundary
                assert float(gd[i, m]) == pytest.approx(fd_d, abs=2e-4, rel=1e-3)
                assert float(gw[i, m]) == pytest.approx(fd_w, abs=2e-4, rel=1e-3)
                # dT/dt_i for one neuron equals dT/dd_im (both shift the same arrival)
                assert float(gx[b, i]) == pytest.approx(float(gd[i, m]), rel=1e-12, abs=1e-15)
                checked += 1
    assert checked >= 20


@pytest.mark.parametrize("regime", ["equal", "double", "general"])
def test_gradcheck(regime, backend):
    p = REGIMES[regime]
    rng = np.random.default_rng(11)
    times, weights, delays = random_delayed_layer(rng, p, batch=4)
    times[~np.isfinite(times)] = 2.5
    delays[delays == 0] = 0.2
    args = tuple(_t(a).requires_grad_() for a in (times, weights, delays))
    fn = lambda x, w, d: synaptic_spike_times(x, w, d, p).nan_to_num(posinf=0.0)  # noqa: E731
    assert torch.autograd.gradcheck(fn, args, eps=1e-7, atol=1e-5)


def test_silent_neurons_pass_no_gradient(backend):
    p = NeuronParams()
    x = _t([[0.0, 1.0], [0.5, np.inf]]).requires_grad_()
    w = _t([[0.3, 5.0], [0.3, 5.0]]).requires_grad_()
    d = _t([[0.0, 0.4], [1.0, 0.0]]).requires_grad_()
    T = synaptic_spike_times(x, w, d, p)
    assert torch.isinf(T[:, 0]).all() and torch.isfinite(T[:, 1]).all()
    T[:, 0].nan_to_num(posinf=0.0).sum().backward()
    for g in (x.grad, w.grad, d.grad):
        assert torch.equal(g, torch.zeros_like(g))
    x.grad = w.grad = d.grad = None
    T = synaptic_spike_times(x, w, d, p)
    T[:, 1].sum().backward()
    assert torch.isfinite(d.grad).all() and d.grad[:, 1].abs().sum() > 0 and d.grad[:, 0].abs().sum() == 0


@pytest.mark.parametrize("regime", ["equal", "double", "general"])
def test_zero_delays_bit_for_bit(regime, backend):
    """Times and gradients with all-zero delays are exactly those of first_spike_times."""
    p = REGIMES[regime]
    gen = torch.Generator().manual_seed(5)
    x = (torch.rand(64, 9, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    w = (torch.randn(9, 7, generator=gen, dtype=torch.float64) + 0.8).requires_grad_()
    d = torch.zeros(9, 7, dtype=torch.float64, requires_grad=True)
    ref = first_spike_times(x, w, p)
    got = synaptic_spike_times(x, w, d, p)
    assert torch.equal(got, ref) and torch.isfinite(ref).any()
    loss_ref = ref.nan_to_num(posinf=0.0).sum()
    g_ref = torch.autograd.grad(loss_ref, (x, w))
    g_got = torch.autograd.grad(got.nan_to_num(posinf=0.0).sum(), (x, w, d))
    assert torch.equal(g_got[0], g_ref[0]) and torch.equal(g_got[1], g_ref[1])
    assert g_got[2].abs().sum() > 0  # zero delays still learn
    axonal = axonal_spike_times(x, w, torch.zeros(9, dtype=torch.float64), p)
    assert torch.equal(axonal, ref)


def test_zero_delay_network_equals_network(backend):
    plain = TTFSNetwork((4, 30, 3), seed=3)
    delayed = DelayedTTFSNetwork((4, 30, 3), seed=3)  # delay_init (0, 0)
    x = torch.rand(50, 4, dtype=torch.float64) * 1.85 + 0.15
    assert torch.equal(plain(x), delayed(x))
    assert all(torch.equal(a, b) for a, b in zip(plain.weights(), delayed.weights()))


def test_float32(backend):
    p = NeuronParams()
    rng = np.random.default_rng(2)
    times, weights, delays = random_delayed_layer(rng, p, batch=16)
    got = synaptic_spike_times(_t(times).float(), _t(weights).float(), _t(delays).float(), p)
    want = brute_force(times, weights, delays, p)
    assert got.dtype == torch.float32
    assert np.array_equal(np.isinf(got.numpy()), np.isinf(want))
    finite = np.isfinite(want)
    assert np.abs(got.numpy()[finite] - want[finite]).max() < 1e-4


def test_axonal_delays_match_brute_force_and_fd():
    p = NeuronParams(tau_m=2.0)
    rng = np.random.default_rng(4)
    times, weights, _ = random_delayed_layer(rng, p)
    axon = rng.uniform(0, 2, weights.shape[0])
    got = axonal_spike_times(_t(times), _t(weights), _t(axon), p)
    _, err = _compare(got, brute_force(times, weights, np.repeat(axon[:, None], weights.shape[1], 1), p))
    assert err < TOL
    d = _t(axon).requires_grad_()
    fn = lambda d_: axonal_spike_times(_t(np.nan_to_num(times, posinf=2.0)), _t(weights), d_, p).nan_to_num(posinf=0)  # noqa
    assert torch.autograd.gradcheck(fn, (d,), eps=1e-7, atol=1e-5)


@pytest.mark.parametrize("bad, message", [
    ([[-0.1, 0.0], [0.0, 0.0]], ">= 0"),
    ([[math.nan, 0.0], [0.0, 0.0]], "NaN or inf"),
    ([[math.inf, 0.0], [0.0, 0.0]], "NaN or inf"),
    ([[0.0, 0.0]], "shape"),
])
def test_bad_delays_are_clear_errors(bad, message):
    x, w = _t([[0.0, 1.0]]), _t([[2.0, 2.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match=message):
        synaptic_spike_times(x, w, _t(bad))
    with pytest.raises(ValueError, match=message if message != "shape" else "shape"):
        axonal_spike_times(x, w, _t(bad[0]) if message != "shape" else _t([0.0, 0.0, 0.0]))


def test_delayed_slopes_are_the_slope_at_the_spike():
    """u'(T) from the forward record equals sum_C w kappa'(T - s) at the returned T."""
    p = NeuronParams(tau_m=1.7)
    rng = np.random.default_rng(9)
    times, weights, delays = random_delayed_layer(rng, p, batch=12)
    T, slope = delayed_spike_times_and_slopes(_t(times), _t(weights), _t(delays), p)
    for b, m in zip(*np.nonzero(np.isfinite(T.numpy()))):
        want = gt.vdot_at(times[b] + delays[:, m], weights[:, m], float(T[b, m]), p)
        assert float(slope[b, m]) == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.skipif(not native.available(), reason="ttfs_lab._native not built")
@pytest.mark.parametrize("regime", ["equal", "double", "general"])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 2e-3)])
def test_native_delay_kernels_match_the_torch_reference(regime, dtype, tol):
    """Both backends on a wider layer (threads, longer sorts): same spikes, times and (float64)
    gradients."""
    p = REGIMES[regime]
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(300, 40, generator=gen, dtype=torch.float64) * 2
    x[torch.rand(300, 40, generator=gen) < 0.05] = math.inf
    w = torch.randn(40, 30, generator=gen, dtype=torch.float64) * 0.4 + 0.15
    d = torch.rand(40, 30, generator=gen, dtype=torch.float64) * 1.5
    d[:5] = 0.0
    results = {}
    for backend in ("torch", "native"):
        with native.set_backend(backend):
            xx, ww, dd = (t.to(dtype).requires_grad_() for t in (x, w, d))
            T = synaptic_spike_times(xx, ww, dd, p)
            weights = torch.linspace(0.5, 1.5, T.shape[1], dtype=dtype)
            (T.nan_to_num(posinf=0.0) * weights).sum().backward()
            results[backend] = (T.detach(), xx.grad, ww.grad, dd.grad)
    (t_ref, *g_ref), (t_nat, *g_nat) = results["torch"], results["native"]
    assert torch.equal(torch.isinf(t_ref), torch.isinf(t_nat)) and torch.isfinite(t_ref).float().mean() > 0.3
    finite = torch.isfinite(t_ref)
    assert torch.allclose(t_nat[finite], t_ref[finite], rtol=tol, atol=tol)
    if dtype is torch.float64:  # float32 gradients of near-tangential spikes amplify round-off in both
        for a, b in zip(g_nat, g_ref):
            assert torch.allclose(a, b, rtol=tol, atol=tol * float(b.abs().max()))


def test_too_long_arrival_span_is_an_error(backend):
    x = torch.tensor([[0.0, 1.0]], dtype=torch.float32)
    w = torch.tensor([[1.0], [1.0]], dtype=torch.float32)
    with pytest.raises(ValueError, match="span"):
        synaptic_spike_times(x, w, torch.tensor([[0.0], [500.0]], dtype=torch.float32))
