"""Exact gradients of first_spike_times (SPEC §1) and of TTFSNetwork.

Three independent references: torch.autograd.gradcheck (finite differences of the
core's own forward), central differences, and the implicit-function formula evaluated
in numpy at the brute-force spike time (tests/groundtruth.py).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import groundtruth as gt
from ttfs_lab import NeuronParams, TTFSNetwork, first_spike_times, native

REGIMES = {
    "equal": NeuronParams(),
    "double": NeuronParams(tau_m=2.0, tau_s=1.0),
    "general_1.7": NeuronParams(tau_m=1.7, tau_s=1.0),
    "general_0.6": NeuronParams(tau_m=0.6, tau_s=1.0),
    "equal_leaky": NeuronParams(tau_m=0.5, tau_s=0.5, g_leak=0.5, e_leak=-0.3, threshold=0.4),
    "general_leaky": NeuronParams(tau_m=1.3, tau_s=1.9, g_leak=0.8, e_leak=-1.0, threshold=0.5),
}
ALL = list(REGIMES)

# Both implementations of the core (vectorised torch, compiled C) must pass every test.
BACKENDS = [
    pytest.param("torch"),
    pytest.param("native", marks=pytest.mark.skipif(not native.available(), reason="ttfs_lab._native not built")),
]


@pytest.fixture(params=BACKENDS)
def backend(request):
    with native.set_backend(request.param):
        yield request.param


def kappa_peak(p) -> float:
    s = np.linspace(1e-6, 20 * max(p.tau_m, p.tau_s), 100001)
    return float(gt.kappa(s, p).max())


def _t(x, grad=False):
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


def well_posed(times, weights, T, p, margin):
    """Every neuron spikes, no input within `margin` of a spike, slope >= margin * c / tau_s."""
    if not np.isfinite(T).all():
        return False
    for b in range(times.shape[0]):
        for m in range(weights.shape[1]):
            if np.min(np.abs(times[b] - T[b, m])) < margin * p.tau_s:
                return False
            if gt.vdot_at(times[b], weights[:, m], T[b, m], p) < margin * p.c / p.tau_s:
                return False
    return True


def spiking_config(p, seed, batch=2, n_in=4, n_out=3, margin=0.1):
    """A random configuration where every neuron spikes with margin (found by seeded search)."""
    rng = np.random.default_rng(seed)
    w_peak = p.c / kappa_peak(p)
    for _ in range(10000):
        times = rng.uniform(0.0, 2.0, (batch, n_in)) * p.tau_s
        weights = rng.normal(0.7, 0.6, (n_in, n_out)) * w_peak
        T = gt.first_spike_layer(times, weights, p)
        if well_posed(times, weights, T, p, margin):
            return times, weights, T
    raise RuntimeError("no well-posed configuration found")


# ----------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("name", ALL)
def test_gradcheck(name, backend):
    p = REGIMES[name]
    times, weights, _ = spiking_config(p, seed=1)
    t, w = _t(times, True), _t(weights, True)
    assert torch.autograd.gradcheck(lambda t, w: first_spike_times(t, w, p), (t, w))


def test_gradcheck_hand_written_layer(backend):
    """Default neuron; inputs 0.2/0.5/0.9 (+ one inhibitory), all three neurons spike."""
    p = NeuronParams()
    times = _t([[0.2, 0.5, 0.9, 1.0], [0.4, 0.1, 1.1, 1.4]], True)
    weights = _t([[3.0, 1.5, 4.0], [1.0, 2.5, -0.5], [0.5, 1.0, 0.3], [-0.4, 0.2, 0.1]], True)
    T = first_spike_times(times, weights, p)
    assert torch.isfinite(T).all()
    assert well_posed(times.detach().numpy(), weights.detach().numpy(), T.detach().numpy(), p, 0.05)
    assert torch.autograd.gradcheck(lambda t, w: first_spike_times(t, w, p), (times, weights))


# ----------------------------------------------- random layers: implicit formula and FD
def jacobian_rows(times, weights, p):
    """Autograd dT[b,m]/dw[:,m] and dT[b,m]/dt[b,:] for every (b, m), via one-hot backward."""
    t, w = _t(times, True), _t(weights, True)
    T = first_spike_times(t, w, p)
    out = {}
    for b in range(T.shape[0]):
        for m in range(T.shape[1]):
            onehot = torch.zeros_like(T)
            onehot[b, m] = 1.0
            gt_, gw = torch.autograd.grad(T, (t, w), grad_outputs=onehot, retain_graph=True)
            assert torch.isfinite(gt_).all() and torch.isfinite(gw).all()
            # the gradient of T[b, m] involves only neuron m's weights and sample b's times
            assert (gw[:, [k for k in range(T.shape[1]) if k != m]] == 0).all()
            assert (gt_[[k for k in range(T.shape[0]) if k != b]] == 0).all()
            out[b, m] = (gw[:, m].numpy(), gt_[b].numpy())
    return T.detach().numpy(), out


def central_difference(times, weights, p, b, m, h=1e-5):
    """dT[b,m]/dw[:,m] and dT[b,m]/dt[b,:] by central differences of the core's forward.

    The perturbed copies are batched: weight perturbations as extra neurons (columns),
    time perturbations as extra samples (rows).
    """
    n = weights.shape[0]
    steps = np.concatenate([np.eye(n) * h, -np.eye(n) * h])  # [2n, n]
    w_cols = weights[:, m][None, :] + steps  # [2n, n]: perturbed copies of neuron m
    T_w = first_spike_times(_t(times[b : b + 1]), _t(w_cols.T), p).numpy()[0]
    t_rows = times[b][None, :] + steps
    t_rows[:, ~np.isfinite(times[b])] = np.inf  # an input at +inf stays at +inf
    T_t = first_spike_times(_t(t_rows), _t(weights[:, m : m + 1]), p).numpy()[:, 0]
    return (T_w[:n] - T_w[n:]) / (2 * h), (T_t[:n] - T_t[n:]) / (2 * h)


@pytest.mark.parametrize("name", ALL)
def test_random_layers_gradients(name, backend):
    p = REGIMES[name]
    rng = np.random.default_rng(100 + sum(map(ord, name)))
    w_peak = p.c / kappa_peak(p)
    n_checked = n_fd = 0
    for _ in range(25):
        n_in, n_out = int(rng.integers(1, 7)), int(rng.integers(1, 4))
        times = rng.uniform(0.0, 3.0, (3, n_in)) * p.tau_s
        times[rng.random(times.shape) < 0.1] = np.inf
        if n_in > 1 and rng.random() < 0.2:
            times[:, 1] = times[:, 0]  # simultaneous inputs
        weights = rng.normal(0.5, 0.8, (n_in, n_out)) * w_peak
        T_core, rows = jacobian_rows(times, weights, p)
        T_ref = gt.first_spike_layer(times, weights, p)
        for (b, m), (gw, gtime) in rows.items():
            if np.isinf(T_ref[b, m]):
                assert np.isinf(T_core[b, m])
                assert (gw == 0).all() and (gtime == 0).all()  # silent: no gradient
                continue
            T = T_ref[b, m]
            gap = np.min(np.abs(times[b] - T)) / p.tau_s
            slope = gt.vdot_at(times[b], weights[:, m], T, p) / (p.c / p.tau_s)
            if gap < 1e-3 or slope < 1e-2:  # knife-edge: derivative (nearly) undefined
                continue
            exp_w, exp_t = gt.implicit_gradients(times[b], weights[:, m], T, p)
            np.testing.assert_allclose(gw, exp_w, rtol=1e-6, atol=1e-9, err_msg=f"dT/dw {times[b]} {weights[:, m]}")
            np.testing.assert_allclose(gtime, exp_t, rtol=1e-6, atol=1e-9, err_msg=f"dT/dt {times[b]} {weights[:, m]}")
            # inputs at +inf and inputs after the spike pass exactly zero gradient
            late = ~(times[b] < T)
            assert (gw[late] == 0).all() and (gtime[late] == 0).all()
            n_checked += 1
            if gap > 1e-2 and slope > 5e-2 and n_fd < 15:
                fd_w, fd_t = central_difference(times, weights, p, b, m)
                np.testing.assert_allclose(gw, fd_w, rtol=1e-4, atol=1e-6, err_msg="dT/dw vs finite differences")
                np.testing.assert_allclose(gtime, fd_t, rtol=1e-4, atol=1e-6, err_msg="dT/dt vs finite differences")
                n_fd += 1
    assert n_checked >= 30 and n_fd >= 10, (n_checked, n_fd)


# --------------------------------------------------------------------- never NaN or inf
def _grads(times, weights, p, loss_fn):
    t, w = _t(times, True), _t(weights, True)
    T = first_spike_times(t, w, p)
    loss_fn(T).backward()
    return T.detach(), t.grad, w.grad


def finite_sum(T):
    return torch.where(torch.isfinite(T), T, torch.zeros_like(T)).sum()


@pytest.mark.parametrize("name", ALL)
def test_silent_neurons_pass_zero_gradient(name, backend):
    p = REGIMES[name]
    w_peak = p.c / kappa_peak(p)
    times = np.array([[0.1, 0.5, 1.0], [0.3, np.inf, 0.2]])
    weights = np.array([[0.3, 3.0], [0.2, 0.5], [0.1, -0.2]]) * w_peak  # neuron 0 is silent
    for loss in (finite_sum, lambda T: (T * torch.isfinite(T)).nan_to_num(0.0).sum()):
        T, g_t, g_w = _grads(times, weights, p, loss)
        assert torch.isinf(T[:, 0]).all() and torch.isfinite(T[:, 1]).all()
        assert torch.isfinite(g_t).all() and torch.isfinite(g_w).all()
        assert (g_w[:, 0] == 0).all()
    # even an upstream gradient of 1 on the inf entries must not leak (silent = no gradient)
    # (T.sum() is inf, but its backward hands grad 1 to every entry, silent ones included)
    _, g_t_all, g_w_all = _grads(times, weights, p, lambda T: T.sum())
    assert torch.isfinite(g_t_all).all() and torch.isfinite(g_w_all).all()
    _, g_t_fin, g_w_fin = _grads(times, weights, p, finite_sum)
    torch.testing.assert_close(g_t_all, g_t_fin, rtol=0, atol=0)
    torch.testing.assert_close(g_w_all, g_w_fin, rtol=0, atol=0)


@pytest.mark.parametrize("name", ALL)
def test_infinite_late_simultaneous_and_negative_inputs_give_finite_gradients(name, backend):
    p = REGIMES[name]
    w_peak = p.c / kappa_peak(p)
    times = np.array(
        [
            [0.2, 0.2, np.inf, 0.7, 6.0],  # simultaneous pair, an +inf input, one long after the spike
            [np.inf, np.inf, np.inf, np.inf, np.inf],  # nothing at all
            [0.5, 0.1, np.inf, 0.5, 0.1],  # several simultaneous inputs
        ]
    ) * p.tau_s
    weights = np.array([[1.5, 0.9], [0.5, -0.3], [4.0, 4.0], [-0.6, 1.0], [8.0, -8.0]]) * w_peak
    T, g_t, g_w = _grads(times, weights, p, finite_sum)
    assert torch.isfinite(g_t).all() and torch.isfinite(g_w).all()
    assert torch.isfinite(T[0]).all() and torch.isinf(T[1]).all()
    assert (T[0] < 6.0 * p.tau_s).all()
    assert (g_t[:, 2] == 0).all() and (g_w[2] == 0).all()  # input never spikes
    assert (g_t[0, 4] == 0).all() and (g_t[1] == 0).all()  # input after the spike; silent sample
    # the simultaneous pair gets the implicit-formula gradients entry by entry
    Tn = T.numpy()
    for m in range(2):
        exp_w, exp_t = gt.implicit_gradients(times[0], weights[:, m], Tn[0, m], p)
        _, rows = jacobian_rows(times[:1], weights, p)
        np.testing.assert_allclose(rows[0, m][0], exp_w, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(rows[0, m][1], exp_t, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- network
def network_loss(net, x):
    return finite_sum(net(x))


def test_network_gradients_match_finite_differences(backend):
    """3-4-2 network; every hidden and output neuron spikes, well away from its inputs."""
    p = NeuronParams()
    rng = np.random.default_rng(5)
    for _ in range(5000):
        w1 = rng.normal(1.5, 0.8, (4, 4))
        w2 = rng.normal(1.0, 0.8, (5, 2))
        x = rng.uniform(0.15, 2.0, (2, 3))
        h_in = np.concatenate([x, np.full((2, 1), 0.9)], axis=1)
        h = gt.first_spike_layer(h_in, w1, p)
        if not well_posed(h_in, w1, h, p, 0.05):
            continue
        o_in = np.concatenate([h, np.full((2, 1), 0.9)], axis=1)
        o = gt.first_spike_layer(o_in, w2, p)
        if well_posed(o_in, w2, o, p, 0.05):
            break
    else:
        raise RuntimeError("no well-posed network found")
    net = TTFSNetwork.from_weights([w1, w2], params=p, bias_time=0.9)
    xt = torch.tensor(x)
    out = net(xt)
    np.testing.assert_allclose(out.detach().numpy(), o, rtol=0, atol=1e-6)
    loss = network_loss(net, xt)
    loss.backward()
    h_step = 1e-5
    for layer in net.layers:
        grad = layer.weight.grad.numpy().copy()
        assert np.isfinite(grad).all()
        fd = np.zeros_like(grad)
        for idx in np.ndindex(*grad.shape):
            with torch.no_grad():
                orig = layer.weight[idx].item()
                layer.weight[idx] = orig + h_step
                up = network_loss(net, xt).item()
                layer.weight[idx] = orig - h_step
                down = network_loss(net, xt).item()
                layer.weight[idx] = orig
            fd[idx] = (up - down) / (2 * h_step)
        np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-6)
        assert np.abs(grad).max() > 0


def test_default_network_gradients_are_finite(backend):
    """Paper-sized network on random inputs, with silent neurons around: no NaN/inf grads."""
    net = TTFSNetwork((4, 120, 3), seed=3)
    x = torch.rand(64, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.85 + 0.15
    x[::7, 1] = float("inf")
    times = net.spike_times(x)
    assert torch.isinf(times[1]).any(), "want some silent hidden neurons in this test"
    finite_sum(times[-1]).backward()
    for layer in net.layers:
        assert torch.isfinite(layer.weight.grad).all()
        assert layer.weight.grad.abs().sum() > 0
