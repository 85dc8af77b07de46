"""The compiled kernels (ttfs_lab._native) against the torch reference path.

Both backends compute the same mathematical function with different round-off, so they are
compared with tolerances derived from the problem, not tuned to pass:

* a spike time is the root of f(T) = c, where f is a sum over the causal inputs evaluated
  from prefix sums. Each backend's f carries an error of at most C eps F, where F bounds the
  size of the terms summed (below) and C = 4 (N + 16) covers N additions and the
  exponentials; moving the root costs that divided by the slope u'(T). So

      |T_native - T_torch| <= C eps [(1 + |T|) + F / |u'(T)|].

* whether a neuron fires at all can differ only for a tangential crossing, where the slope
  at the crossing is tiny: |u'(T)| <= 2 sqrt(a C eps F) with a ~ F / tau^2 the curvature.

* gradients are sums of B*M (or M) terms, each at most |h| max|kappa| (resp. |w h| max|kappa'|)
  in size, h = dL/dT / u'(T); each backend's error is below 64 eps times that sum.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ttfs_lab import NeuronParams, TTFSNetwork, first_spike_times, kernel, membrane_potential, native
from mp_reference import first_spike
from ttfs_lab.delays import synaptic_spike_times
from ttfs_lab.prefix_sums import PerNeuron, max_exponent
from ttfs_lab.spike_times import (
    _MIN_SLOPE, _per_neuron_torch, implicit_gradients, per_neuron_spike_times, spike_times_and_slopes,
)

needs_native = pytest.mark.skipif(not native.available(), reason="ttfs_lab._native not built")


@pytest.fixture(autouse=True)
def thread_limit_always():
    """The thread count a test sets is the one the kernels run on (no ttfs_lab.thread_choice)."""
    from ttfs_lab import thread_choice

    with thread_choice.fixed():
        yield

REGIMES = {
    "equal": NeuronParams(),
    "equal_leaky": NeuronParams(tau_m=2.0, tau_s=2.0, g_leak=1.5, e_leak=-0.5, threshold=0.6),
    "double": NeuronParams(tau_m=2.0, tau_s=1.0),
    "double_leaky": NeuronParams(tau_m=1.0, tau_s=0.5, g_leak=0.8, e_leak=0.2, threshold=0.7),
    "general": NeuronParams(tau_m=1.7, tau_s=0.8, threshold=0.7),
    "general_fast_membrane": NeuronParams(tau_m=0.5, tau_s=1.0),
    "nearly_equal": NeuronParams(tau_m=1.0 + 1e-7, tau_s=1.0),
}
EPS = {torch.float64: torch.finfo(torch.float64).eps, torch.float32: torch.finfo(torch.float32).eps}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The torch reference on these small tensors is fastest, and on a shared machine orders of
    magnitude faster, with one intra-op thread (OpenMP workers spin while they wait)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(backend, fn, *args, **kwargs):
    with native.set_backend(backend):
        return fn(*args, **kwargs)


def kappa_max(params):
    return float(kernel(torch.linspace(0, 20 * max(params.tau_m, params.tau_s), 100001, dtype=torch.float64), params).max())


def random_layer(rng, params, dtype=torch.float64, n_in=None, n_out=None, batch=None):
    """Inputs in a window of a few time constants, some silent; weights of both signs scaled so
    that roughly half the neurons fire."""
    n_in = n_in or int(rng.integers(1, 41))
    n_out = n_out or int(rng.integers(1, 81))
    batch = batch or int(rng.integers(1, 7))
    tau = max(params.tau_m, params.tau_s)
    times = rng.uniform(0.0, 3.0 * tau, size=(batch, n_in)) + rng.uniform(-2, 2)
    times[rng.random((batch, n_in)) < rng.uniform(0.0, 0.8)] = np.inf
    n_active = max(1.0, np.isfinite(times).sum(axis=1).mean())
    # summed kernel ~ c needs sum(w) ~ c / kappa_max, spread over the active inputs
    scale = params.c / kappa_max(params) * rng.uniform(0.5, 3.0) / n_active
    weights = rng.normal(rng.uniform(-0.5, 1.5), 1.0, size=(n_in, n_out)) * scale
    return torch.tensor(times, dtype=dtype), torch.tensor(weights, dtype=dtype)


def time_constants(params):
    """tau_m, tau_s as float64 tensors: scalars (NeuronParams) or [M] (parameters per neuron)."""
    return (torch.as_tensor(params.tau_m, dtype=torch.float64), torch.as_tensor(params.tau_s, dtype=torch.float64))


def term_size(times, weights, T, params):
    """F: a bound on the size of the terms that make up f(T) in either backend (module doc)."""
    x = times[:, :, None]
    t0 = torch.where(torch.isfinite(times), times, torch.full_like(times, math.inf)).amin(dim=1)
    t_rel = torch.where(torch.isfinite(T), T - t0[:, None], torch.zeros_like(T))  # [B, M]
    causal = torch.isfinite(x) & (x < T[:, None, :])
    summed_abs = (weights.abs()[None] * causal).sum(dim=1)  # sum over causal |w_i|
    tau_m, tau_s = time_constants(params)
    g = (tau_m - tau_s).abs() / (tau_m * tau_s)
    tau_min = torch.minimum(tau_m, tau_s)
    return summed_abs * (1 + 2 * t_rel / tau_min) * torch.exp(2 * g * t_rel) * torch.clamp(1 / tau_m, min=1.0)


def compare_forward(times, weights, params, dtype):
    """Asserts agreement; returns (#neurons, #spiking) for the non-triviality checks."""
    T0, S0 = run("torch", spike_times_and_slopes, times, weights, params)
    T1, S1 = run("native", spike_times_and_slopes, times, weights, params)
    assert S1.dtype == dtype
    assert (S1[~torch.isfinite(T1)] == 0).all() and (S0[~torch.isfinite(T0)] == 0).all()  # silent: no slope
    return assert_times_agree(T0, T1, torch.maximum(S0.abs(), S1.abs()), times, weights, params, dtype)


def assert_times_agree(T0, T1, slope, times, weights, params, dtype):
    """The module doc's tolerances; slope: |u'(T)| (the larger of the backends' where both have it)."""
    assert T1.dtype == dtype and T1.shape == T0.shape
    eps, n_in = EPS[dtype], times.shape[1]
    C = 4 * (n_in + 16)
    # reference quantities in float64 (the bound itself must not suffer float32 round-off)
    T_ref = torch.where(torch.isfinite(T0), T0, T1).double()
    F = term_size(times.double(), weights.double(), T_ref, params)
    slope = slope.double()
    f0, f1 = torch.isfinite(T0), torch.isfinite(T1)
    # a different silent set only for tangential crossings
    tau_min = torch.minimum(*time_constants(params))
    tangential = slope <= 2 * torch.sqrt(F / tau_min**2 * C * eps * F)
    differ = f0 != f1
    assert not (differ & ~tangential).any(), (
        f"silent sets differ away from tangential crossings: {int((differ & ~tangential).sum())} neurons"
    )
    both = f0 & f1
    tol = C * eps * ((1 + T_ref.abs()) + F / slope.clamp(min=1e-300))
    err = (T1.double() - T0.double()).abs()
    bad = both & (err > tol)
    assert not bad.any(), (
        f"{int(bad.sum())} spike times differ beyond tolerance; worst error {err[bad].max():.3g} "
        f"vs tolerance {tol[bad][err[bad].argmax()]:.3g}"
    )
    return T0.numel(), int(f0.sum())


# ----------------------------------------------------------------------------- forward
@needs_native
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(REGIMES))
def test_forward_matches_torch_on_random_layers(name, dtype):
    params = REGIMES[name]
    rng = np.random.default_rng([sum(map(ord, name)), dtype.itemsize])
    # thousands of layers in all (the torch reference path dominates the time)
    n_layers = 1000 if dtype == torch.float64 and name in ("equal", "double", "general") else 300
    total = spiking = 0
    for _ in range(n_layers):
        times, weights = random_layer(rng, params, dtype)
        n, k = compare_forward(times, weights, params, dtype)
        total, spiking = total + n, spiking + k
    assert 0.2 < spiking / total < 0.8, spiking / total  # neither trivially silent nor all firing


@needs_native
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", ["equal", "double", "general"])
def test_forward_matches_torch_on_wide_layers(name, dtype):
    """MNIST-sized layers: many inputs, several blocks of neurons (the kernel walks 64 at a time)."""
    params = REGIMES[name]
    rng = np.random.default_rng(11)
    for n_in, n_out in [(257, 246), (121, 64), (121, 65), (40, 200)]:
        times, weights = random_layer(rng, params, dtype, n_in=n_in, n_out=n_out, batch=20)
        compare_forward(times, weights, params, dtype)


# ----------------------------------------------------------------------------- parameters per neuron
def per_neuron_layer(rng, dtype=torch.float64, n_in=None, n_out=None, batch=None):
    """A random layer whose neurons each have their own tau_m, tau_s (all regimes mixed: equal,
    nearly equal, tau_m = 2 tau_s, others) and c per sample and neuron."""
    base = NeuronParams(tau_m=1.3, tau_s=1.0)
    times, weights = random_layer(rng, base, dtype, n_in, n_out, batch)
    n_batch, n_out = times.shape[0], weights.shape[1]
    tau_s = rng.uniform(0.5, 1.5, n_out)
    tau_m = tau_s * rng.choice([1.0, 1.0 + 1e-7, 1.0 + 1e-12, 2.0, 0.6, 1.3, 1.02], n_out)
    tau_m[rng.random(n_out) < 0.3] = rng.uniform(0.5, 2.0)  # and some independent draws
    c = base.c * rng.uniform(0.7, 1.3, size=(n_batch, n_out))
    return times, weights, *(torch.tensor(v, dtype=dtype) for v in (tau_m, tau_s, c))


def compare_per_neuron(times, weights, tau_m, tau_s, c, dtype):
    limit = max_exponent(dtype) * float(torch.minimum(tau_m, tau_s).min())
    T0, S0 = run("torch", _per_neuron_torch, times, weights, PerNeuron(tau_m, tau_s), c, limit)
    T1 = run("native", per_neuron_spike_times, times, weights, tau_m, tau_s, c)
    params = SimpleNamespace(tau_m=tau_m.double(), tau_s=tau_s.double())
    return assert_times_agree(T0, T1, S0.abs(), times, weights, params, dtype)


@needs_native
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_per_neuron_forward_matches_torch_on_random_layers(dtype):
    rng = np.random.default_rng([77, dtype.itemsize])
    total = spiking = 0
    for _ in range(120):  # ~30,000 (sample, neuron) pairs
        n, k = compare_per_neuron(*per_neuron_layer(rng, dtype), dtype)
        total, spiking = total + n, spiking + k
    assert 0.2 < spiking / total < 0.8, spiking / total  # neither trivially silent nor all firing


@needs_native
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_per_neuron_forward_matches_torch_on_wide_layers(dtype):
    rng = np.random.default_rng(12)
    for n_in, n_out in [(257, 246), (121, 64), (121, 65), (5, 120), (121, 3)]:
        compare_per_neuron(*per_neuron_layer(rng, dtype, n_in=n_in, n_out=n_out, batch=20), dtype)


@needs_native
@pytest.mark.parametrize("name", list(REGIMES))
def test_per_neuron_with_shared_parameters_equals_the_core(name):
    """Every neuron with the same parameters: the per-neuron kernel is the layer kernel (each
    regime through its own solver in both, so agreement is to round-off)."""
    params = REGIMES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    for _ in range(20):
        times, weights = random_layer(rng, params)
        expected = run("native", first_spike_times, times, weights, params)
        got = run("native", per_neuron_spike_times, times, weights, params.tau_m, params.tau_s, params.c)
        assert torch.equal(torch.isfinite(expected), torch.isfinite(got))
        fin = torch.isfinite(got)
        assert torch.allclose(got[fin], expected[fin], rtol=0, atol=1e-9)


@needs_native
def test_per_neuron_edge_cases_threads_and_errors():
    rng = np.random.default_rng(8)
    times, weights, tau_m, tau_s, c = per_neuron_layer(rng, n_in=60, n_out=100, batch=300)
    before = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            native.set_num_threads(n)
            results.append(run("native", per_neuron_spike_times, times, weights, tau_m, tau_s, c))
    finally:
        native.set_num_threads(None)
        torch.set_num_threads(before)
    assert torch.equal(*results)
    inf = math.inf
    for x, w in [(torch.full((3, 5), inf), torch.ones(5, 4)), (torch.zeros(0, 4), torch.ones(4, 3)),
                 (torch.rand(4, 6), -torch.rand(6, 3)), (torch.rand(4, 6) - 5.0, torch.rand(6, 3) * 2)]:
        x, w = x.double(), w.double()
        args = (x, w, tau_m[: w.shape[1]], tau_s[: w.shape[1]], c[: x.shape[0], : w.shape[1]])
        T0, T1 = run("torch", per_neuron_spike_times, *args), run("native", per_neuron_spike_times, *args)
        assert torch.equal(torch.isfinite(T0), torch.isfinite(T1))
        assert torch.allclose(T1[torch.isfinite(T1)], T0[torch.isfinite(T0)], rtol=1e-12, atol=1e-12)
    # a span past the first-input reference's exponentials (once refused): every neuron's sums are
    # referenced to the interval's start now, so both backends compute it, and agree with mpmath
    x = torch.tensor([[0.0, 1.2 * max_exponent(torch.float64) * 0.5]], dtype=torch.float64)
    w = torch.tensor([[0.2, 0.2], [1.0, 3.0]], dtype=torch.float64)
    tau_m2 = torch.tensor([1.0, 0.5], dtype=torch.float64)
    results = [run(backend, per_neuron_spike_times, x, w, tau_m2, 1.0, 0.2)[0] for backend in ("torch", "native")]
    for m in range(2):
        truth = first_spike(x[0].tolist(), w[:, m].tolist(), float(tau_m2[m]), 1.0, 0.2)[0]
        for result in results:
            assert math.isfinite(truth) and abs(float(result[m]) - truth) <= 1e-12 * (1 + truth), (result, truth)
    with pytest.raises(ValueError):  # sizes the kernel indexes memory with
        native.forward_per_neuron(times, weights, tau_m[:-1], tau_s, c, 100.0)


@needs_native
@pytest.mark.parametrize("name", ["equal", "double", "general"])
@pytest.mark.parametrize("margin", [1e-2, 1e-4, 1e-6, 1e-8])
def test_nearly_tangential_crossings(name, margin):
    """Peaks scaled to just above threshold: the Lambert-W argument approaches -1/e (its
    series branch), the quadratic's discriminant and the general solver's bracket shrink."""
    params = REGIMES[name]
    rng = np.random.default_rng(5)
    times = torch.tensor(rng.uniform(0, 2, size=(30, 4)))
    weights = torch.tensor(rng.uniform(0.2, 1.0, size=(4, 40)))
    grid = torch.linspace(-1, 8, 20001, dtype=torch.float64)

    for b in range(times.shape[0]):
        u = membrane_potential(grid, times[b : b + 1], weights, params)[0]  # [T, M]
        drive = params.g_leak * (u - params.e_leak)
        peak = drive.max(dim=0).values  # grid maximum, a hair below the true one
        w = weights * (params.c / peak * (1 + margin))
        compare_forward(times[b : b + 1], w, params, torch.float64)
        T1 = run("native", first_spike_times, times[b : b + 1], w, params)
        assert torch.isfinite(T1).all()  # all of them reach threshold (by the margin)


@needs_native
@pytest.mark.parametrize("name", list(REGIMES))
def test_edge_cases(name):
    params = REGIMES[name]
    torch.manual_seed(0)
    inf = math.inf
    cases = {
        "all inputs silent": (torch.full((3, 5), inf), torch.ones(5, 4)),
        "simultaneous inputs": (torch.tensor([[1.0, 1.0, 1.0, 0.5, 1.0, 2.0]] * 2), torch.full((6, 3), 0.9)),
        "only inhibition": (torch.rand(4, 6), -torch.rand(6, 7)),
        "one input": (torch.tensor([[0.3], [inf], [1.0]]), torch.tensor([[3.0 * params.c / kappa_max(params), 0.5]])),
        "one neuron": (torch.rand(5, 8), torch.full((8, 1), 0.8)),
        "one sample": (torch.rand(1, 8), torch.rand(8, 9) * 1.2),
        "empty batch": (torch.zeros(0, 4), torch.ones(4, 3)),
        "negative times": (torch.rand(4, 6) - 5.0, torch.rand(6, 5) * 1.5),
        "zero weights": (torch.rand(3, 6), torch.zeros(6, 2)),
    }
    for label, (x, w) in cases.items():
        x, w = x.double(), w.double()
        T0 = run("torch", first_spike_times, x, w, params)
        T1 = run("native", first_spike_times, x, w, params)
        assert T1.shape == T0.shape, label
        assert torch.equal(torch.isfinite(T0), torch.isfinite(T1)), label
        fin = torch.isfinite(T0)
        assert torch.allclose(T1[fin], T0[fin], rtol=1e-12, atol=1e-12), label
    assert torch.isinf(run("native", first_spike_times, cases["all inputs silent"][0], cases["all inputs silent"][1], params)).all()
    assert torch.isinf(run("native", first_spike_times, cases["only inhibition"][0], cases["only inhibition"][1], params)).all()
    # simultaneous inputs act like one input with the summed weight
    x = torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64)
    merged = run("native", first_spike_times, x[:, :1], torch.full((1, 2), 3 * 0.9, dtype=torch.float64), params)
    split = run("native", first_spike_times, x, torch.full((3, 2), 0.9, dtype=torch.float64), params)
    assert torch.allclose(merged, split, rtol=1e-13, atol=0)


@needs_native
def test_non_contiguous_inputs():
    params = NeuronParams()
    rng = np.random.default_rng(3)
    big_x = torch.tensor(rng.uniform(0, 2, size=(12, 40)))
    big_w = torch.tensor(rng.normal(0.5, 0.5, size=(30, 20)))
    x, w = big_x[::2, ::2], big_w.t()[:, ::2]  # [6, 20] and [20, 15], neither contiguous
    assert not x.is_contiguous() and not w.is_contiguous()
    expected = run("torch", first_spike_times, x.contiguous(), w.contiguous(), params)
    got = run("native", first_spike_times, x, w, params)
    assert torch.equal(torch.isfinite(expected), torch.isfinite(got))
    assert torch.allclose(got[torch.isfinite(got)], expected[torch.isfinite(expected)], rtol=1e-12, atol=0)
    # gradients come back in the layout of the (non-contiguous) leaves
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    with native.set_backend("native"):
        out = first_spike_times(xg, wg, params)
    torch.where(torch.isfinite(out), out, 0).sum().backward()
    assert xg.grad.shape == x.shape and wg.grad.shape == w.shape


@needs_native
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_span_limit_raises_like_torch(dtype):
    params = NeuronParams()
    limit = native.span_limit(dtype, params)
    x = torch.tensor([[0.0, 1.2 * limit]], dtype=dtype)
    w = torch.ones(2, 1, dtype=dtype)
    messages = []
    for backend in ("torch", "native"):
        with pytest.raises(ValueError, match="span") as info:
            run(backend, first_spike_times, x, w, params)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


@needs_native
def test_invalid_values_raise():
    w = torch.ones(3, 2, dtype=torch.float64)
    for bad, pattern in [(math.nan, "NaN"), (-math.inf, "-inf")]:
        x = torch.tensor([[0.1, bad, 0.3]], dtype=torch.float64)
        with pytest.raises(ValueError, match=pattern):
            run("native", first_spike_times, x, w)
    with pytest.raises(ValueError, match="weights"):
        run("native", first_spike_times, torch.zeros(1, 3, dtype=torch.float64), w * math.inf)
    # the kernel entry points check the sizes they index memory with
    with pytest.raises(ValueError):
        native.forward(torch.zeros(2, 3), torch.zeros(4, 2), NeuronParams(), 1.0)
    with pytest.raises(ValueError):
        native.backward(torch.zeros(2, 3), torch.zeros(3, 2), torch.zeros(2, 2), torch.zeros(2, 2),
                        torch.zeros(3, 2), NeuronParams(), 1e-6, True, True, 1.0)


# ----------------------------------------------------------------------------- backward
def gradient_tolerances(weights, slopes, grad_times, times, params, eps):
    """64 eps times the summed size of the terms of each gradient entry (module doc)."""
    h = torch.where(torch.isfinite(times), grad_times / slopes.clamp(min=_MIN_SLOPE * params.c), 0).abs()
    kappa_prime_max = 1 / min(params.tau_m, params.tau_s)
    tol_w = 64 * eps * h.sum(dim=0)[None, :].expand_as(weights)  # |kappa| <= 1
    tol_x = 64 * eps * kappa_prime_max * (h @ weights.abs().t())
    return tol_x, tol_w


@needs_native
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(REGIMES))
def test_backward_matches_torch(name, dtype):
    """The gradient kernels alone: both backends get the same (times, slopes) and dL/dT."""
    params = REGIMES[name]
    rng = np.random.default_rng([7, sum(map(ord, name)), dtype.itemsize])
    shapes = [(None, None, None)] * 60 + [(6, 120, 50), (121, 3, 50), (257, 246, 8), (40, 10, 30)]
    for n_in, n_out, batch in shapes:
        times, weights = random_layer(rng, params, dtype, n_in=n_in, n_out=n_out, batch=batch)
        T, S = run("torch", spike_times_and_slopes, times, weights, params)
        g = torch.tensor(rng.normal(size=T.shape), dtype=dtype)
        g[torch.rand(g.shape) < 0.2] = 0  # zero incoming gradients pass nothing
        gx0, gw0 = run("torch", implicit_gradients, times, weights, T, S, g, params)
        gx1, gw1 = run("native", implicit_gradients, times, weights, T, S, g, params)
        tol_x, tol_w = gradient_tolerances(weights.double(), S.double(), g.double(), T, params, EPS[dtype])
        assert ((gx1.double() - gx0.double()).abs() <= 2 * tol_x).all()
        assert ((gw1.double() - gw0.double()).abs() <= 2 * tol_w).all()
        # only what is asked for
        gx, gw = run("native", implicit_gradients, times, weights, T, S, g, params, need_times=False)
        assert gx is None and torch.equal(gw, gw1)
        gx, gw = run("native", implicit_gradients, times, weights, T, S, g, params, need_weights=False)
        assert gw is None and torch.equal(gx, gx1)


@needs_native
@pytest.mark.parametrize("name", ["equal", "general_fast_membrane"])
def test_backward_at_measured_times(name):
    """Hardware in the loop passes times the model did not produce: before every input, just
    after one, and very late (where the kernel's factored exponentials would underflow)."""
    params = REGIMES[name]
    for dtype in (torch.float64, torch.float32):
        x = torch.tensor([[0.2, 0.5, math.inf, 1.0], [0.0, 0.1, 0.2, 0.3]], dtype=dtype)
        w = torch.tensor([[1.0, -0.5, 2.0], [0.3, 0.2, 0.1], [1.0, 1.0, 1.0], [0.5, 0.9, -1.0]], dtype=dtype)
        late = 1.5 * native.span_limit(dtype, params)  # kernel values tiny but not zero
        T = torch.tensor([[0.1, 0.5000001, late], [math.inf, 0.05, 1.3]], dtype=dtype)
        S = torch.tensor([[0.3, 0.2, 1e-3], [0.0, 0.7, 0.01]], dtype=dtype)
        g = torch.ones_like(T)
        gx0, gw0 = run("torch", implicit_gradients, x, w, T, S, g, params)
        gx1, gw1 = run("native", implicit_gradients, x, w, T, S, g, params)
        assert torch.allclose(gx1, gx0, rtol=1e-4 if dtype == torch.float32 else 1e-12, atol=1e-30)
        assert torch.allclose(gw1, gw0, rtol=1e-4 if dtype == torch.float32 else 1e-12, atol=1e-30)
        assert gx1[0, 2] == 0  # the silent input gets nothing


@needs_native
def test_network_gradients_match_torch_end_to_end():
    x = torch.tensor(np.random.default_rng(1).uniform(0.15, 2.0, size=(64, 5)))
    grads = {}
    for backend in ("torch", "native"):
        net = TTFSNetwork((5, 40, 3), seed=3)
        with native.set_backend(backend):
            out = net(x)
            loss = (torch.where(torch.isfinite(out), out, 0) * torch.linspace(-1, 1, 3, dtype=out.dtype)).sum()
            loss.backward()
        grads[backend] = [p.grad for p in net.parameters()]
    for g0, g1 in zip(grads["torch"], grads["native"]):
        assert torch.allclose(g1, g0, rtol=0, atol=1e-9 * g0.abs().max())


@needs_native
def test_threads_do_not_change_results():
    params = NeuronParams()
    rng = np.random.default_rng(9)
    times, weights = random_layer(rng, params, n_in=60, n_out=100, batch=300)  # enough work for threads
    g = torch.tensor(rng.normal(size=(300, 100)))
    before = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            T, S = run("native", spike_times_and_slopes, times, weights, params)
            results.append((T, S) + run("native", implicit_gradients, times, weights, T, S, g, params))
    finally:
        torch.set_num_threads(before)
    (T1, S1, gx1, gw1), (T2, S2, gx2, gw2) = results
    assert torch.equal(T1, T2) and torch.equal(S1, S2) and torch.equal(gx1, gx2)  # per sample: identical
    # grad_w sums blocks of rows fixed by the sizes, in block order: the same bits on any threads
    assert torch.equal(gw1, gw2)


@needs_native
@pytest.mark.parametrize("pool", native.POOLS)
@pytest.mark.parametrize("dtype", (torch.float32, torch.float64))
def test_thread_pools_and_back_off_do_not_change_results(pool, dtype):
    """Both thread pools, and the back-off that runs a parallel call on the calling thread
    alone (run_rows in src/ttfs_native.c), do not change a bit."""
    if pool == "openmp" and native.DEFAULT_POOL != "openmp":
        pytest.skip("torch's libgomp is not loaded")
    params = NeuronParams()
    rng = np.random.default_rng(14)  # 64 % of the neurons fire
    times, weights = random_layer(rng, params, n_in=70, n_out=90, batch=400)
    times, weights = times.to(dtype), weights.to(dtype)
    g = torch.tensor(rng.normal(size=(400, 90)), dtype=dtype)
    delays = torch.tensor(rng.uniform(0, 0.3, size=(70, 90)), dtype=dtype)

    def everything():
        T, S = run("native", spike_times_and_slopes, times, weights, params)
        grads = run("native", implicit_gradients, times, weights, T, S, g, params)
        with native.set_backend("native"):
            d = delays.clone().requires_grad_(True)
            w = weights.clone().requires_grad_(True)
            out = synaptic_spike_times(times, w, d, params)
            torch.where(torch.isfinite(out), out, 0).sum().backward()
        return (T, S) + grads + (out.detach(), w.grad, d.grad)

    before, threads_before = native.thread_pool(pool), native.get_num_threads()
    try:
        native.set_num_threads(1)
        one = everything()
        native.set_num_threads(2)
        native._native.thread_backoff(0)
        two = everything()
        native._native.thread_backoff(10**6)  # every parallel call on the calling thread
        backed_off = everything()
        assert native._native.thread_backoff(0) < 10**6
    finally:
        native.thread_pool(before)
        native.set_num_threads(threads_before)
    assert torch.isfinite(one[0]).any() and not torch.isfinite(one[0]).all()
    for a, b, c in zip(one, two, backed_off):
        assert torch.equal(b, c)
    # the undelayed backward sums fixed blocks of rows: one thread gives the same bits too (the
    # delays' backward sums one block per thread: the same on 2 threads, with or without back-off)
    for a, b in zip(one[:5], two[:5]):
        assert torch.equal(a, b)


@needs_native
def test_set_num_threads():
    params = NeuronParams()
    times, weights = random_layer(np.random.default_rng(4), params, n_in=60, n_out=100, batch=300)
    reference = run("native", spike_times_and_slopes, times, weights, params)
    try:
        for n in (1, 2, 3):
            native.set_num_threads(n)
            assert native._threads(10**9) == n
            assert all(torch.equal(a, b) for a, b in zip(run("native", spike_times_and_slopes, times, weights, params), reference))
    finally:
        native.set_num_threads(None)
    assert native._threads(10**9) == torch.get_num_threads()
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            native.set_num_threads(bad)


# ----------------------------------------------------------------------------- backend switch
def test_set_backend_switches_and_restores():
    start = native.get_backend()
    with native.set_backend("torch"):
        assert native.get_backend() == "torch"
        assert not native.applies(torch.zeros(1, 1, dtype=torch.float64))
    assert native.get_backend() == start
    with pytest.raises(ValueError, match="backend must be one of"):
        native.set_backend("cuda")


def test_torch_backend_never_calls_the_extension(monkeypatch):
    class Exploding:
        def __getattr__(self, name):
            raise AssertionError(f"native kernel {name} called with the torch backend")

    monkeypatch.setattr(native, "_native", Exploding())
    x = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    w = torch.rand(3, 2, dtype=torch.float64, requires_grad=True)
    with native.set_backend("torch"):
        out = first_spike_times(x, w)
        torch.where(torch.isfinite(out), out, 0).sum().backward()


def _python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TTFS_LAB_BACKEND"}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, timeout=300)


def test_environment_variable_selects_torch():
    result = _python("""
        import torch
        from ttfs_lab import native, first_spike_times
        assert native.get_backend() == "torch"
        x = torch.tensor([[0.1, 0.5, 1.0]], dtype=torch.float64)
        print(first_spike_times(x, torch.full((3, 2), 1.5, dtype=torch.float64)).tolist())
    """, TTFS_LAB_BACKEND="torch")
    assert result.returncode == 0, result.stderr
    x = torch.tensor([[0.1, 0.5, 1.0]], dtype=torch.float64)
    expected = run("torch", first_spike_times, x, torch.full((3, 2), 1.5, dtype=torch.float64))
    assert np.allclose(eval(result.stdout), expected.numpy(), rtol=1e-15)


def test_bad_environment_variable_is_an_error():
    result = _python("import ttfs_lab", TTFS_LAB_BACKEND="gpu")
    assert result.returncode != 0 and "TTFS_LAB_BACKEND must be one of" in result.stderr


def test_missing_extension_falls_back_with_one_warning():
    """As after an install without a C compiler: everything works on the torch path."""
    code = """
        import sys, warnings
        sys.modules["ttfs_lab._native"] = None  # makes `from . import _native` fail
        import torch
        from ttfs_lab import native, first_spike_times, TTFSNetwork
        assert not native.available()
        x = torch.tensor([[0.1, 0.5, 1.0]], dtype=torch.float64)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = first_spike_times(x, torch.full((3, 2), 1.5, dtype=torch.float64))
            TTFSNetwork((3, 4, 2), seed=0)(x)
        assert sum(issubclass(w.category, RuntimeWarning) and "_native" in str(w.message) for w in caught) == 1
        print(out.tolist())
    """
    result = _python(code)
    assert result.returncode == 0, result.stderr
    x = torch.tensor([[0.1, 0.5, 1.0]], dtype=torch.float64)
    expected = run("torch", first_spike_times, x, torch.full((3, 2), 1.5, dtype=torch.float64))
    assert np.allclose(eval(result.stdout), expected.numpy(), rtol=1e-15)
    # asking for the native backend explicitly is an error when it is missing
    forced = _python(code, TTFS_LAB_BACKEND="native")
    assert forced.returncode != 0 and "_native" in forced.stderr
