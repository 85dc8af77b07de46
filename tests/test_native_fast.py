"""The forward kernels' fast paths against the walk they replace, bit for bit.

ttfs_lab._native.forward_impl("fast") (the default) sorts 25..128 input times with an AVX-512
network (where the CPU has AVX-512F) and walks blocks of <= 4 neurons (tau_m = tau_s) in
registers; forward_impl("reference") is the counting sort and general block walk of commit
bb5101e, which tests/test_native.py and tests/test_spike_times_groundtruth.py hold to the torch
path and to ground truth. Same order of inputs, same operations: the outputs must be equal to
the last bit, on inputs chosen to hit what a sort or a walk can get wrong -- exact ties,
near-ties (keys a few ulp apart, which the double-precision network orders only up to 127 ulp),
-0 and +0, negative times, silent inputs, no input at all, neurons that never fire.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from ttfs_lab import NeuronParams, native
from ttfs_lab.spike_times import per_neuron_spike_times, spike_times_and_slopes

pytestmark = pytest.mark.skipif(not native.available(), reason="ttfs_lab._native not built")

REGIMES = {
    "equal": NeuronParams(),
    "equal_slow": NeuronParams(tau_m=2.0, tau_s=2.0, threshold=0.6),
    "double": NeuronParams(tau_m=2.0, tau_s=1.0),
    "general": NeuronParams(tau_m=1.7, tau_s=0.8, threshold=0.7),
}


@pytest.fixture(autouse=True)
def thread_limit_always():
    from ttfs_lab import thread_choice

    with thread_choice.fixed():
        yield


@contextlib.contextmanager
def forward_impl(name):
    before = native._native.forward_impl(name)
    try:
        yield
    finally:
        native._native.forward_impl(before)


def nasty_inputs(rng, batch, n_in, dtype):
    """Input times with exact ties, near-ties, signed zeros, negative times and silent inputs."""
    kind = rng.integers(0, 5)
    if kind == 0:  # few distinct values: many exact ties
        times = rng.choice(rng.uniform(-1.0, 3.0, size=int(rng.integers(1, 6))), size=(batch, n_in))
    elif kind == 1:  # near-ties: a few values, each moved by 0..299 ulp (in the inputs' own precision)
        base = torch.tensor(rng.choice(rng.uniform(0.1, 3.0, size=3), size=(batch, n_in)), dtype=dtype)
        bits = base.view(torch.int64 if dtype == torch.float64 else torch.int32)
        ulps = torch.tensor(rng.integers(0, 300, size=(batch, n_in)), dtype=bits.dtype)
        times = (bits + ulps).view(dtype).double().numpy()
    elif kind == 2:  # signed zeros among others
        times = rng.uniform(0.0, 2.0, size=(batch, n_in))
        times[rng.random((batch, n_in)) < 0.3] = 0.0
        times[rng.random((batch, n_in)) < 0.3] = -0.0
    elif kind == 3:  # negative and positive, a wide window
        times = rng.uniform(-3.0, 3.0, size=(batch, n_in))
    else:  # clustered, as a trained hidden layer's times
        times = rng.normal(1.0, 0.05, size=(batch, n_in))
    times[rng.random((batch, n_in)) < rng.uniform(0.0, 0.5)] = np.inf
    if batch > 1:
        times[0] = np.inf  # no input at all
        times[1, 1:] = np.inf  # a single input
    return torch.tensor(times, dtype=dtype)


def layer(rng, params, dtype, n_in, n_out, batch, mean=None):
    times = nasty_inputs(rng, batch, n_in, dtype)
    n_active = max(1.0, float(torch.isfinite(times).sum(dim=1).double().mean()))
    scale = params.c * np.e / n_active * rng.uniform(0.5, 3.0)
    mean = rng.uniform(-0.5, 1.5) if mean is None else mean
    weights = rng.normal(mean, 1.0, size=(n_in, n_out)) * scale
    weights[:, 0] = -abs(weights[:, 0])  # a neuron that never fires
    return times, torch.tensor(weights, dtype=dtype)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.contiguous().view(torch.uint8),
                                                                     b.contiguous().view(torch.uint8))


SIZES = [(5, 120), (5, 3), (24, 3), (25, 3), (40, 4), (64, 2), (65, 3), (100, 1), (121, 3), (128, 10),
         (129, 3), (200, 5), (121, 64), (30, 65)]


def test_the_fast_path_is_the_default():
    assert native._native.forward_impl() == "fast"
    with pytest.raises(ValueError, match="fast"):
        native._native.forward_impl("quick")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(REGIMES))
def test_fast_forward_equals_the_reference_walk(name, dtype):
    params = REGIMES[name]
    rng = np.random.default_rng(sum(map(ord, name)) + (dtype == torch.float32))
    fired = silent = 0
    with native.set_backend("native"):
        for n_in, n_out in SIZES:
            for _ in range(6):
                x, w = layer(rng, params, dtype, n_in, n_out, batch=int(rng.integers(2, 40)))
                with forward_impl("reference"):
                    T0, S0 = spike_times_and_slopes(x, w, params)
                with forward_impl("fast"):
                    T1, S1 = spike_times_and_slopes(x, w, params)
                assert same_bits(T0, T1), f"spike times differ for {n_in} -> {n_out}"
                assert same_bits(S0, S1), f"slopes differ for {n_in} -> {n_out}"
                fired += int(torch.isfinite(T0).sum())
                silent += int((~torch.isfinite(T0)).sum())
    assert fired > 1000 and silent > 1000  # both outcomes are exercised


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fast_sort_equals_the_reference_per_neuron(dtype):
    """forward_per_neuron sorts the same way (an analog chip's per-neuron parameters)."""
    rng = np.random.default_rng(7)
    fired = 0
    with native.set_backend("native"):
        for n_in, n_out in [(30, 3), (121, 3), (100, 12)]:
            x, w = layer(rng, NeuronParams(), dtype, n_in, n_out, batch=20, mean=1.5)
            tau_m = torch.tensor(rng.choice([1.0, 2.0, 1.3], size=n_out), dtype=dtype)
            tau_s = torch.ones(n_out, dtype=dtype)
            c = torch.tensor(rng.uniform(0.8, 1.2, size=(20, n_out)), dtype=dtype)
            with forward_impl("reference"):
                T0 = per_neuron_spike_times(x, w, tau_m, tau_s, c)
            with forward_impl("fast"):
                T1 = per_neuron_spike_times(x, w, tau_m, tau_s, c)
            assert same_bits(T0, T1)
            fired += int(torch.isfinite(T0).sum())
    assert fired > 100


def test_fused_training_is_unchanged():
    """The fused training step walks its layers through the same forward_sample: two epochs give
    the same weights, to the last bit."""
    from ttfs_lab.data import encode, yin_yang
    from ttfs_lab.train import preset
    from ttfs_lab.train.fused import FusedTrainer

    def split(name, size):
        x, y = yin_yang(name, size=size)
        return torch.as_tensor(encode(x)), torch.as_tensor(y)

    data = {"train": split("train", 600), "validation": split("validation", 200), "test": split("test", 200)}
    weights = {}
    for impl in ("reference", "fast"):
        with forward_impl(impl):
            trainer = FusedTrainer(preset("paper", epochs=2, seed=3), data=data, progress=False)
            trainer.run()
        weights[impl] = [p.detach().clone() for p in trainer.network.parameters()]
    assert len(weights["fast"]) == 2
    assert all(same_bits(a, b) for a, b in zip(weights["reference"], weights["fast"]))
