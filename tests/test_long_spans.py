"""Long input spans for tau_m != tau_s (issue 11's fuzz finding), against a 40-digit reference.

Referenced to a sample's first input, the prefix sums' terms cancelled by e^{S |1/tau_s - 1/tau_m|}
at a span S: past S |g| ~ 36 round-off alone fired neurons whose weights were all negative
(-1000 at t = 0 and t = 140, tau_m = 4: T = 140 on both backends). The sums are now referenced
to each interval's start (ttfs_lab.prefix_sums), so any span works. Checked here on spans of
40 to 400 tau_s with tau_m = 2, 4 and 0.5 tau_s (g > 0 closed form, g > 0 and g < 0 root finder):
spike times of every backend (native, torch, the torch reference), float64 and float32, the
per-neuron (chip) path and the delayed path, all against tests/mp_reference.py (mpmath, 40
digits, independent of ttfs_lab), and gradients against finite differences of that reference.
"""
from __future__ import annotations

import math

import mpmath
import pytest
import torch

from mp_reference import first_spike
from ttfs_lab import NeuronParams, fast_torch, first_spike_times, native
from ttfs_lab.delays.core import delayed_spike_times_and_slopes
from ttfs_lab.spike_times import per_neuron_spike_times, set_backend

PARAMS = {"tau_m=2": NeuronParams(tau_m=2.0), "tau_m=4": NeuronParams(tau_m=4.0, threshold=0.3),
          "tau_m=0.5": NeuronParams(tau_m=0.5, threshold=0.2)}
SPANS = [40.0, 150.0, 400.0]
BACKENDS = (["native"] if native.available() else []) + ["torch", "torch-reference"]
# T's own resolution is eps |T|; the solvers converge to a few eps relative (tangential cases
# are left out by the reference's margin)
TOLERANCE = {torch.float64: 64 * 2.0**-52, torch.float32: 64 * 2.0**-23}


def _backend(name):
    reference = fast_torch.use_reference(name == "torch-reference")
    backend = set_backend("native" if name == "native" else "torch")
    return backend, reference


def _layer(span, seed):
    """Input times [1, 8] from 0 to span (a cluster at the end) and weights [8, 4]: column 0 a huge
    negative weight at t = 0 and a firing cluster at the end, column 1 all negative, column 2 all
    positive but small, column 3 mixed."""
    g = torch.Generator().manual_seed(seed)
    middle = torch.sort(torch.rand(3, generator=g, dtype=torch.float64) * (span - 10) + 2)[0]
    times = torch.cat([torch.tensor([0.0]), middle, torch.tensor([span - 3, span - 2, span - 1.5, span])])[None]
    w = torch.empty(8, 4, dtype=torch.float64)
    w[:, 0] = torch.rand(8, generator=g, dtype=torch.float64) * 2.0
    w[4:, 0] += 2.0
    w[0, 0] = -1000.0
    w[:, 1] = -(torch.rand(8, generator=g, dtype=torch.float64) * 1000 + 1)
    w[:, 2] = torch.rand(8, generator=g, dtype=torch.float64) * 0.05
    w[:, 3] = torch.rand(8, generator=g, dtype=torch.float64) * 6 - 2.0
    return times, w


def _reference(times, weights, params):
    return [first_spike(times.tolist(), weights[:, m].tolist(), params.tau_m, params.tau_s, params.c)
            for m in range(weights.shape[1])]


def _compare(result, expected, dtype, what):
    for m, (value, (truth, margin)) in enumerate(zip(result.tolist(), expected)):
        if margin < 1e-3:  # knife-edge: round-off may decide either way
            continue
        if math.isinf(truth):
            assert math.isinf(value), f"{what}, neuron {m}: fires at {value}, the reference is silent"
        else:
            assert abs(value - truth) <= TOLERANCE[dtype] * (1 + abs(truth)), f"{what}, neuron {m}: {value} vs {truth}"


@pytest.mark.parametrize("name", PARAMS)
@pytest.mark.parametrize("span", SPANS)
def test_long_spans_match_the_reference_on_every_backend(name, span):
    params = PARAMS[name]
    fired = 0
    for seed in range(2):
        times, weights = _layer(span, seed)
        expected = _reference(times[0], weights, params)
        assert math.isinf(expected[1][0]) and expected[1][1] >= 1  # all negative: silent, far from c
        fired += sum(math.isfinite(t) for t, _ in expected)
        for dtype in (torch.float64, torch.float32):
            for backend in BACKENDS:
                b, r = _backend(backend)
                with b, r:
                    result = first_spike_times(times.to(dtype), weights.to(dtype), params)[0]
                    chip = per_neuron_spike_times(times.to(dtype), weights.to(dtype), params.tau_m, params.tau_s,
                                                  params.c)[0]
                _compare(result, expected, dtype, f"{backend} {dtype} seed {seed}")
                _compare(chip, expected, dtype, f"per-neuron {backend} {dtype} seed {seed}")
    assert fired >= 3  # the cases are not all silent


def test_the_fuzz_example_is_silent_on_every_backend():
    """The issue's reproduction: -1000 at t = 0 and t = 140, tau_m = 4: T was 140."""
    params = NeuronParams(tau_m=4.0, g_leak=0.5, e_leak=-0.5, threshold=0.2)
    for dtype in (torch.float64, torch.float32):
        for span in (140.0, 400.0, 2000.0):
            times = torch.tensor([[0.0, span]], dtype=dtype)
            for weight, silent in ((-1000.0, True), (3.0, False)):
                weights = torch.full((2, 1), weight, dtype=dtype)
                truth = first_spike([0.0, span], [weight, weight], params.tau_m, params.tau_s, params.c)[0]
                assert math.isinf(truth) == silent
                for backend in BACKENDS:
                    b, r = _backend(backend)
                    with b, r:
                        result = float(first_spike_times(times, weights, params))
                    if silent:
                        assert math.isinf(result), (backend, dtype, span, result)
                    else:
                        assert abs(result - truth) <= TOLERANCE[dtype] * (1 + truth), (backend, dtype, span, result)


@pytest.mark.parametrize("name", PARAMS)
def test_long_spans_with_delays_match_the_reference(name):
    params = PARAMS[name]
    times, weights = _layer(150.0, seed=7)
    delays = torch.rand(weights.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 3
    arrival = times[0][:, None] + delays  # [N, M]
    expected = [first_spike(arrival[:, m].tolist(), weights[:, m].tolist(), params.tau_m, params.tau_s, params.c)
                for m in range(weights.shape[1])]
    for dtype in (torch.float64, torch.float32):
        for backend in ("native", "torch") if native.available() else ("torch",):
            with set_backend(backend):
                result = delayed_spike_times_and_slopes(times.to(dtype), weights.to(dtype), delays.to(dtype), params)[0]
            _compare(result[0], expected, dtype, f"delays {backend} {dtype}")


def _mp_time(times, weights, params):
    with mpmath.workdps(40):
        return first_spike(times, weights, params.tau_m, params.tau_s, params.c)[0]


@pytest.mark.parametrize("name", PARAMS)
@pytest.mark.parametrize("span", [150.0, 400.0])
def test_gradients_at_long_spans_match_finite_differences(name, span):
    """dT/dw and dT/dt of a neuron that fires after a long span, against central differences
    of the 40-digit reference (step 1e-6: the error is ~1e-12, far below the tolerance)."""
    params = PARAMS[name]
    times = torch.tensor([[0.0, 30.0, 70.0, span - 3, span - 2, span - 1.5, span]], dtype=torch.float64)
    weights = torch.tensor([[-1000.0], [0.2], [-0.5], [3.0], [2.5], [-0.4], [2.0]], dtype=torch.float64)
    w = weights[:, 0].tolist()
    t = times[0].tolist()
    T = _mp_time(t, w, params)
    assert math.isfinite(T) and T > span - 3
    h = 1e-6
    fd_w, fd_t = [], []
    for i in range(len(w)):
        up, down = list(w), list(w)
        up[i] += h
        down[i] -= h
        fd_w.append((_mp_time(t, up, params) - _mp_time(t, down, params)) / (2 * h))
        up, down = list(t), list(t)
        up[i] += h
        down[i] -= h
        fd_t.append((_mp_time(up, w, params) - _mp_time(down, w, params)) / (2 * h))
    fd_w, fd_t = torch.tensor(fd_w, dtype=torch.float64), torch.tensor(fd_t, dtype=torch.float64)
    scale = float(max(fd_w.abs().max(), fd_t.abs().max()))
    for dtype, tol in ((torch.float64, 1e-6), (torch.float32, 1e-3)):
        for backend in BACKENDS:
            x = times.to(dtype).clone().requires_grad_(True)
            wt = weights[:, :1].to(dtype).clone().requires_grad_(True)
            b, r = _backend(backend)
            with b, r:
                out = first_spike_times(x, wt, params)
                out.sum().backward()
            assert abs(float(out.detach()) - T) <= TOLERANCE[dtype] * (1 + T), (backend, dtype, out, T)
            assert torch.allclose(wt.grad[:, 0].double(), fd_w, rtol=tol, atol=tol * scale), (backend, dtype, wt.grad, fd_w)
            assert torch.allclose(x.grad[0].double(), fd_t, rtol=tol, atol=tol * scale), (backend, dtype, x.grad, fd_t)
