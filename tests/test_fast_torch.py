"""ttfs_lab.fast_torch (the torch backend) against the readable reference in spike_times.py.

Both evaluate the same formulas with the same roundings (the fast path only leaves out inputs
at +inf, whose terms are exactly 0, and fuses passes), so for the closed-form solvers (equal
and double time constants) spike times and slopes must agree bit for bit. The root finder of
the general regime stops when every entry of a batch has converged, so with batches grouped
differently the two agree to its tolerance (4 eps (1 + |t|) per step, quadratic convergence).
Gradients: sums over the batch of the same terms, of which the fast path drops exact zeros.
Agreement with the native kernels and with ground truth is tested in test_native.py,
test_gradients.py and test_spike_times_groundtruth.py, which run the torch backend through
this path.
"""
from __future__ import annotations

import pytest
import torch

from ttfs_lab import NeuronParams, TTFSNetwork, fast_torch, first_spike_times, native
from ttfs_lab.spike_times import implicit_gradients, spike_times_and_slopes

REGIMES = {
    "equal": NeuronParams(),
    "equal_tau2": NeuronParams(tau_m=2.0, tau_s=2.0, g_leak=1.5, e_leak=-0.5, threshold=0.6),
    "double": NeuronParams(tau_m=2.0, tau_s=1.0),
    "general": NeuronParams(tau_m=1.7, tau_s=0.8, threshold=0.7),
}
DTYPES = (torch.float32, torch.float64)


def layer(n_batch, n_in, n_out, dtype, seed, silent=0.5, ties=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_batch, n_in, generator=g, dtype=torch.float64) * 2
    if ties:  # many equal input times, within and across samples
        x = torch.round(x * 4) / 4
    x[torch.rand(n_batch, n_in, generator=g) < silent] = float("inf")
    n_active = max(1.0, n_in * (1 - silent))  # so that some but not all neurons fire
    w = torch.randn(n_in, n_out, generator=g, dtype=torch.float64) * 2.5 / n_active ** 0.5 + 3.0 / n_active
    return x.to(dtype), w.to(dtype)


def both(fn, *args, **kwargs):
    with native.set_backend("torch"):
        with fast_torch.use_reference():
            reference = fn(*args, **kwargs)
        fast = fn(*args, **kwargs)
    return reference, fast


def assert_same_times(reference, fast, params, dtype):
    (t0, s0), (t1, s1) = reference, fast
    assert torch.equal(torch.isfinite(t0), torch.isfinite(t1))
    if params.regime == "general":
        eps = torch.finfo(dtype).eps
        spiking = torch.isfinite(t0)
        assert ((t0 - t1)[spiking].abs() <= 16 * eps * (1 + t0[spiking].abs())).all()
        assert torch.allclose(s0, s1, rtol=256 * eps, atol=256 * eps)
    else:
        assert torch.equal(t0, t1) and torch.equal(s0, s1)


CASES = {
    "random": dict(n_batch=40, n_in=30, n_out=20, silent=0.3),
    "ties": dict(n_batch=40, n_in=30, n_out=20, silent=0.2, ties=True),
    "mostly_silent": dict(n_batch=40, n_in=30, n_out=20, silent=0.9),
    "large": dict(n_batch=300, n_in=257, n_out=246, silent=0.58),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", REGIMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_equals_the_reference(case, name, dtype):
    params = REGIMES[name]
    x, w = layer(**CASES[case], dtype=dtype, seed=list(CASES).index(case))
    reference, fast = both(spike_times_and_slopes, x, w, params)
    assert torch.isfinite(reference[0]).any() and not torch.isfinite(reference[0]).all()  # a real mix
    assert_same_times(reference, fast, params, dtype)


def test_silent_samples_inputs_and_layers():
    params = NeuronParams()
    x, w = layer(20, 12, 7, torch.float64, seed=3)
    x[3] = float("inf")  # a sample without inputs
    x[:, 5] = float("inf")  # an input that never spikes
    assert_same_times(*both(spike_times_and_slopes, x, w, params), params, torch.float64)
    all_silent = torch.full((4, 12), float("inf"), dtype=torch.float64)
    reference, fast = both(spike_times_and_slopes, all_silent, w, params)
    assert torch.isinf(fast[0]).all() and torch.equal(fast[1], reference[1])
    for shape in ((0, 12), (5, 0)):  # empty batch, no inputs
        xs = torch.zeros(shape, dtype=torch.float64)
        ws = torch.zeros((shape[1], 7), dtype=torch.float64)
        (t0, s0), (t1, s1) = both(spike_times_and_slopes, xs, ws, params)
        assert torch.equal(t0, t1) and torch.equal(s0, s1)


def test_span_limit_raises_like_the_reference():
    x, w = layer(5, 10, 4, torch.float32, seed=1)
    x[2, 0] = 0.0
    x[2, 1] = 200.0  # e^200 overflows float32
    with native.set_backend("torch"):
        with fast_torch.use_reference(), pytest.raises(ValueError) as reference:
            spike_times_and_slopes(x, w, NeuronParams())
        with pytest.raises(ValueError) as fast:
            spike_times_and_slopes(x, w, NeuronParams())
    assert str(fast.value) == str(reference.value)


@pytest.mark.parametrize("case", ("random", "ties", "mostly_silent"))
@pytest.mark.parametrize("name", REGIMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_equals_the_reference(case, name, dtype):
    params = REGIMES[name]
    x, w = layer(**CASES[case], dtype=dtype, seed=7)
    x[:, 4] = float("inf")  # an input silent in every sample: the fast path leaves it out
    x.requires_grad_(True)
    w.requires_grad_(True)
    coefficients = torch.linspace(-1, 1, w.shape[1], dtype=dtype)
    grads = []
    for reference in (True, False):
        with native.set_backend("torch"), fast_torch.use_reference(reference):
            t = first_spike_times(x, w, params)
            loss = (torch.where(torch.isfinite(t), t, torch.zeros_like(t)) * coefficients).sum()
            grads.append(torch.autograd.grad(loss, (x, w)))
    (gx0, gw0), (gx1, gw1) = grads
    assert gw0.abs().sum() > 0 and gx0.abs().sum() > 0
    assert torch.equal(gx1[:, 4], torch.zeros_like(gx1[:, 4])) and torch.equal(gw1[4], torch.zeros_like(gw1[4]))
    if params.regime == "general":  # times differ by the root finder's tolerance (module docstring)
        eps = torch.finfo(dtype).eps
        torch.testing.assert_close(gx1, gx0, rtol=1e3 * eps, atol=1e3 * eps * float(gx0.abs().max()))
        torch.testing.assert_close(gw1, gw0, rtol=1e3 * eps, atol=1e3 * eps * float(gw0.abs().max()))
    else:
        # the same terms; a reduction over the batch may be blocked differently (64 eps per sum)
        eps = torch.finfo(dtype).eps
        scale_w = implicit_gradients(x.detach(), w.detach(), *spike_times_and_slopes(x.detach(), w.detach(), params),
                                     torch.ones(x.shape[0], w.shape[1], dtype=dtype), params)[1].abs()
        assert torch.equal(gx1, gx0)
        assert ((gw1 - gw0).abs() <= 64 * eps * coefficients.abs().max() * scale_w + 1e-300).all()


def test_network_training_step_equals_the_reference():
    x, _ = layer(64, 5, 1, torch.float64, seed=11, silent=0.0)
    net = TTFSNetwork((5, 40, 3), seed=0)
    results = []
    for reference in (True, False):
        net.zero_grad()
        with native.set_backend("torch"), fast_torch.use_reference(reference):
            out = net(x)
            (torch.where(torch.isfinite(out), out, torch.zeros_like(out)).sum()).backward()
        results.append((out.detach(), [p.grad.clone() for p in net.parameters()]))
    assert torch.equal(results[0][0], results[1][0])
    for g0, g1 in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(g1, g0, rtol=64 * torch.finfo(torch.float64).eps, atol=1e-14)


def test_use_reference_restores():
    assert fast_torch.enabled()
    with fast_torch.use_reference():
        assert not fast_torch.enabled()
    assert fast_torch.enabled()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", REGIMES)
def test_cuda_matches_cpu(name):
    params = REGIMES[name]
    x, w = layer(200, 257, 246, torch.float64, seed=5, silent=0.58)
    with native.set_backend("torch"):
        t_cpu, s_cpu = spike_times_and_slopes(x, w, params)
        t_gpu, s_gpu = spike_times_and_slopes(x.cuda(), w.cuda(), params)
        xg, wg = x.cuda().requires_grad_(True), w.cuda().requires_grad_(True)
        first_spike_times(xg, wg, params).clamp(max=10.0).sum().backward()
        xc, wc = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        first_spike_times(xc, wc, params).clamp(max=10.0).sum().backward()
    assert t_gpu.device.type == "cuda"
    assert torch.equal(torch.isfinite(t_cpu), torch.isfinite(t_gpu.cpu()))
    spiking = torch.isfinite(t_cpu)
    torch.testing.assert_close(t_gpu.cpu()[spiking], t_cpu[spiking], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s_gpu.cpu(), s_cpu, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(wg.grad.cpu(), wc.grad, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(xg.grad.cpu(), xc.grad, rtol=1e-8, atol=1e-10)
