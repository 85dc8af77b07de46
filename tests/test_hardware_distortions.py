"""Hardware distortions and the emulator that applies them.

Ground truth is independent of ttfs_lab.hardware: the core's first_spike_times with one
NeuronParams per neuron (or per sample and neuron), and the brute-force search of
tests/groundtruth.py.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import groundtruth as gt
from ttfs_lab import NeuronParams, TTFSNetwork, first_spike_times
from ttfs_lab.hardware import (
    DISTORTIONS, PROFILES, DeadNeurons, Emulator, HardwareModel, InputNoise, OutputJitter, SpikeLoss,
    ThresholdMismatch, ThresholdNoise, TimeConstantMismatch, WeightClipping, WeightQuantization, make,
    per_neuron_spike_times, profile,
)
from ttfs_lab.network import append_bias_spike

INF = math.inf


def random_layer(n_batch=40, n_in=12, n_out=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_batch, n_in, generator=g, dtype=torch.float64) * 2.0
    x[torch.rand(n_batch, n_in, generator=g) < 0.1] = INF  # some inputs never spike
    w = torch.randn(n_in, n_out, generator=g, dtype=torch.float64) * 0.8 + 0.6
    return x, w


def yin_yang_like(n=64, seed=0):
    """A 4-30-3 network and Yin-Yang-like input times (no data files needed)."""
    net = TTFSNetwork((4, 30, 3), seed=seed)
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64)
    x = 0.15 + torch.cat([xy, 1 - xy], dim=1) * 1.85
    return net, x


def assert_same_times(a, b, atol=1e-10):
    assert torch.equal(torch.isinf(a), torch.isinf(b)), "different neurons are silent"
    finite = torch.isfinite(a)
    if finite.any():
        assert (a[finite] - b[finite]).abs().max().item() <= atol


# ---------------------------------------------------------------- per-neuron solver
@pytest.mark.parametrize("params", [
    NeuronParams(), NeuronParams(tau_m=2.0), NeuronParams(tau_m=1.7), NeuronParams(tau_m=0.6, threshold=0.7),
    NeuronParams(tau_m=0.5, tau_s=0.5, g_leak=0.5, e_leak=-0.3, threshold=0.4),
], ids=["equal", "double", "general_1.7", "general_0.6", "equal_leaky"])
def test_per_neuron_solver_equals_the_core_for_shared_parameters(params):
    x, w = random_layer()
    expected = first_spike_times(x, w, params)
    got = per_neuron_spike_times(x, w, params.tau_m, params.tau_s, params.c)
    assert torch.isfinite(expected).float().mean() > 0.5  # the case is not trivially silent
    assert_same_times(got, expected, atol=1e-10)


def test_per_neuron_solver_matches_one_core_call_per_neuron():
    x, w = random_layer(n_out=12, seed=1)
    g = torch.Generator().manual_seed(5)
    tau_m = 1 + 0.25 * torch.randn(12, generator=g, dtype=torch.float64)
    tau_s = 1 + 0.25 * torch.randn(12, generator=g, dtype=torch.float64)
    tau_m[0] = tau_s[0]  # one neuron in the equal regime, one with tau_m = 2 tau_s
    tau_m[1] = 2 * tau_s[1]
    c = 1 + 0.2 * torch.randn(12, generator=g, dtype=torch.float64)
    got = per_neuron_spike_times(x, w, tau_m, tau_s, c)
    for m in range(12):
        p = NeuronParams(tau_m=float(tau_m[m]), tau_s=float(tau_s[m]), threshold=float(c[m]))
        assert_same_times(got[:, m], first_spike_times(x, w[:, m:m + 1], p)[:, 0], atol=1e-10)


def test_per_neuron_solver_with_a_threshold_per_sample_matches_brute_force():
    x, w = random_layer(n_batch=5, n_in=6, n_out=3, seed=2)
    tau_m = torch.tensor([1.0, 1.3, 0.8], dtype=torch.float64)
    tau_s = torch.tensor([1.0, 0.9, 1.1], dtype=torch.float64)
    c = torch.tensor([[0.8, 1.0, 1.2], [1.1, 0.7, 0.9], [1.0, 1.0, 1.0], [0.6, 1.4, 1.0], [1.3, 0.9, 0.5]],
                     dtype=torch.float64)
    got = per_neuron_spike_times(x, w, tau_m, tau_s, c)
    for b in range(5):
        for m in range(3):
            p = SimpleNamespace(tau_m=float(tau_m[m]), tau_s=float(tau_s[m]), g_leak=1.0, e_leak=0.0,
                                threshold=float(c[b, m]))
            expected = gt.first_spike_bruteforce(x[b].numpy(), w[:, m].numpy(), p)
            if math.isinf(expected):
                assert math.isinf(got[b, m])
            else:
                assert got[b, m].item() == pytest.approx(expected, abs=1e-9)


def test_per_neuron_solver_rejects_bad_parameters():
    x, w = random_layer()
    with pytest.raises(ValueError, match="tau_m"):
        per_neuron_spike_times(x, w, -1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="c must be"):
        per_neuron_spike_times(x, w, 1.0, 1.0, torch.zeros(w.shape[1], dtype=torch.float64))
    with pytest.raises(ValueError, match="need input_times"):
        per_neuron_spike_times(x, w[:-1], 1.0, 1.0, 1.0)


# ---------------------------------------------------------------- strength 0 = identity
@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_every_distortion_at_strength_zero_is_the_identity(name):
    net, x = yin_yang_like()
    emulator = Emulator(HardwareModel("off", (make(name, 0.0, seed=7),)))
    measured = emulator.run(net, x)
    with torch.no_grad():
        ideal = net.spike_times(x)
    for a, b in zip(measured, ideal):
        assert torch.equal(a, b)


def test_every_hook_at_strength_zero_returns_its_input_unchanged():
    x, w = random_layer()
    rng = torch.Generator().manual_seed(0)
    for name in DISTORTIONS:
        d = make(name, 0.0)
        assert torch.equal(d.weights(w, 0), w)
        assert d.fixed_pattern(0, 9) is None
        assert torch.equal(d.received(x, 0, rng), x)
        assert d.threshold_trial((40, 9), rng) is None
        assert torch.equal(d.emitted(x, rng), x)


def test_ideal_profile_reproduces_the_network():
    net, x = yin_yang_like()
    for a, b in zip(Emulator("ideal").run(net, x), net.spike_times(x)):
        assert torch.equal(a, b.detach())


def test_distortions_validate_their_strength():
    with pytest.raises(ValueError, match="strength"):
        ThresholdNoise(-0.1)
    with pytest.raises(ValueError, match="<= 1"):
        SpikeLoss(1.5)
    with pytest.raises(ValueError, match="seed"):
        ThresholdMismatch(0.1, seed=1.5)
    with pytest.raises(ValueError, match="limit"):
        WeightClipping(0.0)
    with pytest.raises(ValueError, match="unknown distortion"):
        make("gamma_rays", 0.1)
    with pytest.raises(ValueError, match="unknown hardware profile"):
        profile("loihi")


# ---------------------------------------------------------------- weights
def test_quantization_gives_exactly_the_allowed_levels():
    _, w = random_layer(n_in=50, n_out=50)
    w = w * 3
    step = 1.0 / 30
    q = WeightQuantization(step).weights(w, 0)
    allowed = torch.arange(-400, 401, dtype=torch.float64) * step  # the levels k * step
    assert torch.isin(q, allowed).all()  # exactly on the grid, bit for bit
    assert (q - w).abs().max().item() <= step / 2 * (1 + 1e-12)  # the nearest level
    assert len(torch.unique(q)) > 100  # many levels in use, not a degenerate case
    # 6 bits of magnitude spanning 63/30: the paper's step
    assert WeightQuantization.from_bits(6, 63 / 30).strength == pytest.approx(1 / 30, rel=1e-15)
    coarse = WeightQuantization(0.5).weights(w, 0)
    assert torch.isin(coarse, torch.arange(-40, 41, dtype=torch.float64) * 0.5).all()


def test_clipping_limits_weights_and_keeps_the_rest():
    _, w = random_layer(n_in=20, n_out=20)
    w = w * 3
    c = WeightClipping(2.1).weights(w, 0)
    assert c.abs().max().item() == pytest.approx(2.1)
    inside = w.abs() <= 2.1
    assert torch.equal(c[inside], w[inside])
    assert torch.equal(c[~inside], torch.sign(w[~inside]) * 2.1)
    assert torch.equal(WeightClipping().weights(w, 0), w)  # limit = inf


# ---------------------------------------------------------------- fixed pattern
def test_fixed_pattern_is_constant_for_a_chip_and_differs_between_chips():
    net, x = yin_yang_like()
    fixed_only = HardwareModel("fixed", (ThresholdMismatch(0.1), TimeConstantMismatch(0.05)))
    a = Emulator(fixed_only, seed=3)
    first = a.run(net, x)[-1]
    again = a.run(net, x)[-1]  # same emulator, later run
    other_process_same_chip = Emulator(fixed_only, seed=3).run(net, x)[-1]
    other_chip = Emulator(fixed_only, seed=4).run(net, x)[-1]
    assert torch.equal(first, again)
    assert torch.equal(first, other_process_same_chip)
    assert not torch.equal(first, other_chip)
    for layer in (0, 1):
        da, db = a.deviation(layer, net.sizes[layer + 1]), Emulator(fixed_only, seed=4).deviation(layer, net.sizes[layer + 1])
        assert not torch.equal(da.threshold, db.threshold)
        assert not torch.equal(da.tau_m, db.tau_m)
        assert not torch.equal(da.tau_m, da.tau_s)  # tau_m != tau_s per neuron


def test_a_float32_network_runs_on_the_same_chip_up_to_round_off():
    """The fixed pattern does not depend on the network's dtype (torch's float32 draws are other
    numbers than its float64 ones): float32 is the float64 pattern rounded, and a float32 copy
    of a network measures the float64 times up to float32 round-off (the live chip map, issue 12)."""
    net, x = yin_yang_like(n=200)
    fixed_only = HardwareModel("fixed", (ThresholdMismatch(0.1), TimeConstantMismatch(0.05), DeadNeurons(0.1)))
    chip = Emulator(fixed_only, seed=3)
    for layer in (0, 1):
        d64, d32 = chip.deviation(layer, net.sizes[layer + 1]), chip.deviation(layer, net.sizes[layer + 1], torch.float32)
        for name in ("threshold", "tau_m", "tau_s"):
            assert getattr(d32, name).dtype == torch.float32
            assert torch.equal(getattr(d32, name), getattr(d64, name).float())
        assert torch.equal(d32.alive, d64.alive)
    net32 = TTFSNetwork.from_weights(net.weights(), params=net.params, bias_time=net.bias_time, dtype=torch.float32)
    t64, t32 = chip.run(net, x)[-1], Emulator(fixed_only, seed=3).run(net32, x.float())[-1]
    assert torch.equal(torch.isinf(t64), torch.isinf(t32))
    finite = torch.isfinite(t64)
    assert finite.sum() >= 150  # the first output fires for every sample, others for some
    torch.testing.assert_close(t32[finite].double(), t64[finite], rtol=0, atol=1e-4)


def test_fixed_pattern_statistics_match_the_strength():
    d = ThresholdMismatch(0.08, seed=1).fixed_pattern(0, 20000)
    assert d.threshold.mean().item() == pytest.approx(1.0, abs=0.003)
    assert d.threshold.std().item() == pytest.approx(0.08, rel=0.03)
    t = TimeConstantMismatch(0.2, seed=1).fixed_pattern(0, 20000)
    assert t.tau_m.std().item() == pytest.approx(0.2, rel=0.03)
    assert abs(np.corrcoef(t.tau_m.numpy(), t.tau_s.numpy())[0, 1]) < 0.03  # independent draws


def test_emulated_mismatch_equals_one_core_call_per_neuron():
    """Threshold and time-constant mismatch: each neuron behaves like a core neuron with its own
    NeuronParams (time constants scaled by its factors, c scaled by its threshold factor)."""
    net, x = yin_yang_like(n=30)
    model = HardwareModel("fixed", (ThresholdMismatch(0.15, seed=2), TimeConstantMismatch(0.1, seed=2)))
    emulator = Emulator(model)
    measured = emulator.run(net, x)
    p = net.params
    for layer in range(2):
        w = net.layers[layer].weight.detach()
        inputs = append_bias_spike(measured[layer], net.bias_time)
        dev = emulator.deviation(layer, w.shape[1])
        for m in range(w.shape[1]):
            pm = NeuronParams(tau_m=p.tau_m * float(dev.tau_m[m]), tau_s=p.tau_s * float(dev.tau_s[m]),
                              threshold=p.threshold * float(dev.threshold[m]))
            assert_same_times(measured[layer + 1][:, m], first_spike_times(inputs, w[:, m:m + 1], pm)[:, 0], atol=1e-9)


def test_dead_neurons_never_spike_and_are_nested():
    net, x = yin_yang_like()
    low, high = DeadNeurons(0.2, seed=1), DeadNeurons(0.5, seed=1)
    dead_low = ~low.fixed_pattern(0, 30).alive
    dead_high = ~high.fixed_pattern(0, 30).alive
    assert bool((dead_high | ~dead_low).all())  # dead at 0.2 => dead at 0.5
    assert 0 < int(dead_low.sum()) < int(dead_high.sum())
    hidden = Emulator(HardwareModel("dead", (high,))).run(net, x)[1]
    assert torch.isinf(hidden[:, dead_high]).all()
    assert torch.isfinite(hidden[:, ~dead_high]).any()


# ---------------------------------------------------------------- trial to trial
def test_threshold_noise_is_redrawn_every_run():
    net, x = yin_yang_like()
    emulator = Emulator(HardwareModel("noise", (ThresholdNoise(0.05, seed=0),)))
    a, b = emulator.run(net, x)[-1], emulator.run(net, x)[-1]
    assert not torch.equal(a, b)
    ideal = net(x).detach()
    both = torch.isfinite(a) & torch.isfinite(ideal)
    shift = (a - ideal)[both].abs()
    assert 0 < shift.median().item() < 0.2  # a few percent of threshold: small time shifts


def test_threshold_noise_acts_as_a_per_sample_threshold():
    net, x = yin_yang_like(n=8)
    d = ThresholdNoise(0.1, seed=0)
    emulator = Emulator(HardwareModel("noise", (d,)))
    rng_copy = torch.Generator()
    rng_copy.set_state(emulator._rngs[0].get_state())
    hidden = emulator.run(net, x)[1]
    factors = d.threshold_trial((8, 30), rng_copy)  # the draws the run used for layer 0
    w = net.layers[0].weight.detach()
    inputs = append_bias_spike(x, net.bias_time)
    for b in range(8):
        for m in (0, 7, 29):
            p = NeuronParams(threshold=float(factors[b, m]))
            assert_same_times(hidden[b, m:m + 1], first_spike_times(inputs[b:b + 1], w[:, m:m + 1], p)[0], atol=1e-9)


def test_output_jitter_has_the_requested_spread():
    times = torch.full((200, 100), 2.0, dtype=torch.float64)
    times[:, :10] = INF
    jittered = OutputJitter(0.01, seed=0).emitted(times, torch.Generator().manual_seed(0))
    assert torch.isinf(jittered[:, :10]).all()  # silent stays silent
    assert (jittered[:, 10:] - 2.0).std().item() == pytest.approx(0.01, rel=0.05)


def test_input_noise_only_touches_the_first_layer_and_reflects_at_zero():
    times = torch.full((300, 50), 0.1, dtype=torch.float64)
    times[:, 0] = INF
    d, rng = InputNoise(0.3), torch.Generator().manual_seed(0)
    assert torch.equal(d.received(times, 1, rng), times)
    noisy = d.received(times, 0, rng)
    assert torch.isinf(noisy[:, 0]).all()
    assert (noisy[:, 1:] >= 0).all()
    assert noisy[:, 1:].std().item() > 0.1


def test_spike_loss_drops_the_expected_fraction():
    times = torch.ones(400, 100, dtype=torch.float64)
    lost = SpikeLoss(0.2, seed=0).received(times, 1, torch.Generator().manual_seed(0))
    assert torch.isinf(lost).double().mean().item() == pytest.approx(0.2, abs=0.01)
    net, x = yin_yang_like()
    hidden_all_lost = Emulator(HardwareModel("loss", (SpikeLoss(1.0),))).run(net, x)
    ideal_bias_only = net.layers[0](torch.full_like(x, INF)).detach()  # only the bias spike arrives
    assert torch.equal(hidden_all_lost[1], ideal_bias_only)


def test_profiles_exist_and_reseed():
    assert set(PROFILES) == {"ideal", "bss2", "uncalibrated", "noisy"}
    assert profile("BrainScaleS-2 (calibrated)") is PROFILES["bss2"]
    reseeded = PROFILES["bss2"].with_seed(9)
    assert all(getattr(d, "seed", 9) == 9 for d in reseeded.distortions)
    assert PROFILES["ideal"].is_ideal and not PROFILES["bss2"].is_ideal
