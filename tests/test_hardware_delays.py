"""Delays on the emulated chip: resolution, range, fixed pattern, and in-the-loop gradients."""
from __future__ import annotations

import torch

from ttfs_lab import NeuronParams
from ttfs_lab.delays import DelayedTTFSNetwork, synaptic_spike_times
from ttfs_lab.hardware import BrainScaleS2, Emulator, InTheLoop
from ttfs_lab.hardware.delays import (
    DELAY_MAX, DELAY_STEP, MeasuredDelayedLayer, delayed_per_neuron_times, realised_delays, stored_delays,
)
from ttfs_lab.network import append_bias_spike


def test_delays_are_quantised_and_clipped():
    d = torch.tensor([0.0, 0.024, 0.026, 1.0, 3.14, 3.2, 10.0], dtype=torch.float64)
    assert torch.allclose(stored_delays(d), torch.tensor([0.0, 0.0, 0.05, 1.0, 3.15, 3.15, 3.15], dtype=torch.float64))
    assert DELAY_MAX == 63 * DELAY_STEP


def test_fixed_pattern_is_per_chip_and_constant():
    s = stored_delays(torch.rand(5, 7, dtype=torch.float64) * 2)
    a, b, c = realised_delays(s, 0, 0), realised_delays(s, 0, 0), realised_delays(s, 1, 0)
    assert torch.equal(a, b) and not torch.equal(a, c) and (a >= 0).all()
    assert 0.005 < float(((a - s) / s.clamp(min=1e-9))[s > 0.5].std()) < 0.1  # a few percent spread


def test_chip_layer_with_delays_matches_the_core():
    """With nominal neurons the chip's delayed solver equals synaptic_spike_times."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(40, 6, generator=gen, dtype=torch.float64) * 2
    w = torch.randn(6, 5, generator=gen, dtype=torch.float64) + 1.0
    d = torch.rand(6, 5, generator=gen, dtype=torch.float64)
    got = delayed_per_neuron_times(x, w, d, "synaptic", 1.0, 1.0, torch.ones(40, 5, dtype=torch.float64))
    want = synaptic_spike_times(x, w, d, NeuronParams())
    assert torch.equal(torch.isinf(got), torch.isinf(want)) and torch.isfinite(want).any()
    assert torch.allclose(got[torch.isfinite(got)], want[torch.isfinite(want)], atol=1e-9)


def test_ideal_emulator_runs_realised_delays():
    net = DelayedTTFSNetwork((4, 10, 3), seed=1, delay_init=(0.0, 1.0))
    x = torch.rand(30, 4, dtype=torch.float64) * 1.85 + 0.15
    emu = Emulator("ideal", seed=4)
    hidden = emu.run(net, x)[1]
    realised = realised_delays(stored_delays(net.layers[0].delay), 4, 0)
    want = synaptic_spike_times(append_bias_spike(x, 0.9), net.layers[0].weight.detach(), realised)
    assert torch.allclose(hidden.nan_to_num(posinf=-1), want.nan_to_num(posinf=-1), atol=1e-9)


def test_in_the_loop_gradients_are_the_ideal_ones_at_the_measured_times():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(20, 6, generator=gen, dtype=torch.float64) * 2
    w = (torch.randn(6, 4, generator=gen, dtype=torch.float64) + 1.0).requires_grad_()
    d = (torch.rand(6, 4, generator=gen, dtype=torch.float64)).requires_grad_()
    stored = stored_delays(d)
    ideal = synaptic_spike_times(x, w, stored, NeuronParams())
    g_ideal = torch.autograd.grad(ideal.nan_to_num(posinf=0).sum(), (w,))[0]
    stored_req = stored.clone().requires_grad_()
    g_d_ideal = torch.autograd.grad(synaptic_spike_times(x, w, stored_req).nan_to_num(posinf=0).sum(), stored_req)[0]
    measured = MeasuredDelayedLayer.apply(x, w, d, ideal.detach(), w.detach(), stored, NeuronParams(), 1e-6)
    gw, gd = torch.autograd.grad(measured.nan_to_num(posinf=0).sum(), (w, d))
    assert torch.allclose(gw, g_ideal, rtol=1e-9, atol=1e-12) and torch.allclose(gd, g_d_ideal, rtol=1e-9, atol=1e-12)


def test_in_the_loop_training_learns_delays_within_the_chip_range():
    from ttfs_lab.train import Trainer, preset
    from ttfs_lab.hardware import in_the_loop_config
    from ttfs_lab.data import encode, yin_yang

    def split(name, n):
        a, b = yin_yang(name, size=n)
        return torch.as_tensor(encode(a)), torch.as_tensor(b)

    data = {"train": split("train", 150), "validation": split("validation", 60), "test": split("test", 60)}
    config = in_the_loop_config(preset("paper", hidden=(20,), epochs=1, batch_size=50, delays="synaptic",
                                       delay_init=(0.0, 0.1)))
    trainer = Trainer(config, data=data, substrate=InTheLoop(BrainScaleS2("bss2", chip_id=0)), progress=False)
    before = trainer.network.delays()
    trainer.run()
    after = trainer.network.delays()
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    assert all(bool(((d >= 0) & (d <= DELAY_MAX)).all()) for d in after)
