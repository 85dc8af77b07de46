"""Training: learning happens, runs are reproducible, checkpoints resume bit for bit."""
import threading

import pytest
import torch

from ttfs_lab import checkpoint
from ttfs_lab.data import encode, yin_yang
from ttfs_lab.train import Trainer, TrainConfig, preset
from ttfs_lab.train.bumping import bump_silent_neurons, layer_needing_bump
from resume import resume_mid_epoch

INF = float("inf")


def small_data(n_train=300, n_eval=200):
    def split(name, size):
        x, y = yin_yang(name, size=size)
        return torch.as_tensor(encode(x)), torch.as_tensor(y)

    return {"train": split("train", n_train), "validation": split("validation", n_eval), "test": split("test", n_eval)}


def weights_of(trainer):
    return [w.clone() for w in trainer.network.weights()]


def test_layer_needing_bump_uses_the_tolerances_in_order():
    hidden = torch.tensor([[1.0, INF, INF], [1.0, 1.0, INF]])  # 50 % silent
    output = torch.tensor([[1.0, INF], [1.0, 1.0]])  # 25 % silent
    assert layer_needing_bump([hidden, output], [0.3, 0.0]) == 0
    assert layer_needing_bump([hidden, output], [0.6, 0.0]) == 1
    assert layer_needing_bump([hidden, output], [0.6, 0.3]) is None


def test_bump_raises_only_silent_neurons():
    weight = torch.zeros(3, 3)
    times = torch.tensor([[1.0, INF, 2.0], [1.0, 1.0, INF]])
    assert bump_silent_neurons(weight, times, 0.5) == 2
    assert torch.equal(weight[:, 0], torch.zeros(3))
    assert torch.equal(weight[:, 1:], torch.full((3, 2), 0.5))


def test_bump_doubles_while_the_same_layer_needs_it():
    config = TrainConfig(epochs=1, batch_size=50, hidden=(4,), max_silent_hidden=0.0, bump=0.001)
    trainer = Trainer(config, data=small_data(100, 50), progress=False)
    with torch.no_grad():  # a network that never spikes needs bumps every batch
        for layer in trainer.network.layers:
            layer.weight.fill_(-1.0)
    events = []
    trainer.callbacks.append(events.append)
    trainer.train_batch()
    trainer.train_batch()
    assert [e.bumped for e in events if e.kind == "batch"] == [True, True]
    assert trainer._bump_value == pytest.approx(0.002)
    # hidden bumped twice: 0.001 + 0.002
    torch.testing.assert_close(trainer.network.layers[0].weight, torch.full((5, 4), -1.0 + 0.003, dtype=torch.float64))


def test_same_seed_same_run_and_events_are_emitted():
    config = TrainConfig(epochs=2, batch_size=100, input_noise=0.1)
    data = small_data()
    events = []
    a = Trainer(config, data=data, callbacks=[events.append], progress=False)
    a.run()
    b = Trainer(config, data=data, progress=False)
    b.run()
    for wa, wb in zip(weights_of(a), weights_of(b)):
        assert torch.equal(wa, wb)
    assert [e.kind for e in events].count("epoch") == 2
    assert [e.kind for e in events].count("batch") == 2 * 3
    assert events[-1].network is a.network
    assert len(a.history["validation_accuracy"]) == 2


@pytest.mark.parametrize("stop_after_batches", [3, 4])  # at an epoch boundary and inside an epoch
def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path, stop_after_batches):
    config = TrainConfig(epochs=3, batch_size=100, input_noise=0.2, seed=3)
    data = small_data()
    straight = Trainer(config, data=data, progress=False)
    straight.run()

    first = Trainer(config, data=data, progress=False)
    for _ in range(stop_after_batches):
        first.train_batch()
    first.save(tmp_path / "ckpt.pt")
    resumed = Trainer.load(tmp_path / "ckpt.pt", data=data, progress=False)
    resumed.run()

    assert resumed.epoch == straight.epoch == 3
    for wa, wb in zip(weights_of(straight), weights_of(resumed)):
        assert torch.equal(wa, wb)
    assert resumed.history == straight.history or _same_history_but_timing(resumed.history, straight.history)


def _same_history_but_timing(a, b):
    return all(a[k] == b[k] for k in a if k != "seconds_per_epoch")


def test_pause_and_stop_from_another_thread():
    config = TrainConfig(epochs=50, batch_size=100)
    trainer = Trainer(config, data=small_data(), progress=False)
    started = threading.Event()

    def on_event(event):
        if event.kind == "batch" and event.step == 2:
            trainer.pause()
            started.set()

    trainer.callbacks.append(on_event)
    thread = threading.Thread(target=trainer.run)
    thread.start()
    assert started.wait(60)
    steps_when_paused = trainer.step_count
    thread.join(0.5)
    assert thread.is_alive() and trainer.paused and trainer.step_count == steps_when_paused
    trainer.stop()
    thread.join(60)
    assert not thread.is_alive()
    assert trainer.epoch < 50


def test_corrupted_checkpoint_is_refused_and_old_one_kept(tmp_path):
    config = TrainConfig(epochs=1, batch_size=100)
    trainer = Trainer(config, data=small_data(), progress=False)
    path = tmp_path / "ckpt.pt"
    trainer.save(path)
    good = path.read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="not a readable"):
        checkpoint.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(checkpoint.CheckpointError, match="not a ttfs-lab checkpoint"):
        checkpoint.load(foreign)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "ttfs-lab-checkpoint", "evil": threading.Lock}, pickled)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(pickled)

    # A save that fails half way leaves the previous checkpoint intact.
    class Boom(Exception):
        pass

    original = torch.save

    def failing_save(obj, f, *a, **k):
        f.write(b"partial")
        raise Boom()

    torch.save = failing_save
    try:
        with pytest.raises(Boom):
            trainer.save(path)
    finally:
        torch.save = original
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_network_checkpoint_round_trip(tmp_path):
    trainer = Trainer(TrainConfig(epochs=1), data=small_data(), progress=False)
    checkpoint.save(tmp_path / "net.pt", trainer.network)
    network, state = checkpoint.load(tmp_path / "net.pt")
    assert state is None
    x = small_data()["test"][0]
    assert torch.equal(network(x), trainer.network(x))
    with pytest.raises(checkpoint.CheckpointError, match="no training state"):
        Trainer.load(tmp_path / "net.pt", data=small_data())


def test_bad_config_values_are_named():
    with pytest.raises(ValueError, match="dataset"):
        TrainConfig(dataset="cifar")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("fastest")


def test_short_yin_yang_run_learns():
    """Paper protocol, full Yin-Yang data, 20 epochs: well above chance (1/3)."""
    trainer = Trainer(TrainConfig(epochs=20, seed=0), progress=False)
    trainer.run()
    _, test_accuracy = trainer.evaluate("test")
    print(f"20 epochs: test accuracy {test_accuracy:.4f}")
    assert test_accuracy >= 0.85


def test_keep_best_returns_to_the_best_validation_epoch():
    config = TrainConfig(epochs=4, batch_size=100, keep_best=True, skip_step_on_bump=False, seed=1)
    snapshots = []

    def on_epoch(event):
        if event.kind == "epoch":
            snapshots.append((event.accuracy, event.network.weights()))

    trainer = Trainer(config, data=small_data(), callbacks=[on_epoch], progress=False)
    trainer.run()
    best_accuracy = max(acc for acc, _ in snapshots)
    best_weights = next(w for acc, w in snapshots if acc == best_accuracy)  # first epoch reaching it
    for w, expected in zip(trainer.network.weights(), best_weights):
        assert torch.equal(w, expected)
    assert trainer.evaluate("validation")[1] == best_accuracy


def test_step_and_bump_in_one_batch_keeps_gradients_valid():
    """With skip_step_on_bump=False a batch both steps and bumps; the bump must come after backward."""
    config = TrainConfig(epochs=1, batch_size=50, hidden=(4,), max_silent_hidden=0.0, skip_step_on_bump=False)
    trainer = Trainer(config, data=small_data(100, 50), progress=False)
    before = trainer.network.weights()
    event = trainer.train_batch()
    assert event.bumped
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.network.weights()))


def test_per_layer_init_draws_the_configured_weights():
    """TrainConfig.init sets each layer's (mean, std); None keeps the paper's Yin-Yang values."""
    config = TrainConfig(epochs=1, hidden=(400,), init=[(0.1, 0.4), (-0.5, 0.0)])
    assert config.init == ((0.1, 0.4), (-0.5, 0.0))
    trainer = Trainer(config, data=small_data(100, 50), progress=False)
    hidden, output = trainer.network.weights()
    assert hidden.mean().item() == pytest.approx(0.1, abs=0.03)  # 5 x 400 draws: sd of mean 0.009
    assert hidden.std().item() == pytest.approx(0.4, abs=0.03)
    assert torch.equal(output, torch.full_like(output, -0.5))
    paper = Trainer(TrainConfig(epochs=1, hidden=(400,)), data=small_data(100, 50), progress=False)
    assert paper.network.weights()[0].mean().item() == pytest.approx(1.5, abs=0.1)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="init"):
        TrainConfig(init=[(0.1, 0.4)])  # one layer short
    with pytest.raises(ValueError, match="init"):
        TrainConfig(init=[(0.1, -0.4), (0.6, 0.8)])  # negative std


def _per_sample_weight_grads(layer, x, labels_weight):
    """Gradient of sum_m labels_weight[b, m] * T_bm wrt the weights, one sample b at a time."""
    grads = []
    for b in range(len(x)):
        w = layer.weight.detach().clone().requires_grad_(True)
        from ttfs_lab.network import append_bias_spike
        from ttfs_lab.spike_times import first_spike_times

        t = first_spike_times(append_bias_spike(x[b:b + 1], layer.bias_time), w, layer.params)
        (torch.where(torch.isfinite(t), t, torch.zeros_like(t)) * labels_weight[b:b + 1]).sum().backward()
        grads.append(w.grad)
    return torch.stack(grads)  # [B, N+1, M]


@pytest.mark.parametrize("tau_m", [1.0, 2.0])
def test_max_dw_norm_drops_exactly_the_large_per_sample_updates(tau_m):
    """Against per-sample autograd gradients: the (sample, neuron) columns whose largest entry
    exceeds the limit are removed from the batch gradient, all others kept."""
    from ttfs_lab.network import TTFSLayer, append_bias_spike
    from ttfs_lab.params import NeuronParams
    from ttfs_lab.spike_times import slope_at
    from ttfs_lab.train.clipping import drop_large_weight_updates, recorded_slope

    params = NeuronParams(tau_m=tau_m)
    layer = TTFSLayer(4, 6, params, generator=torch.Generator().manual_seed(2))
    x = small_data(40, 10)["train"][0][:40]
    delta = torch.randn(40, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    times = layer(x)
    slope = recorded_slope(times, layer.weight)
    x_in = append_bias_spike(x, layer.bias_time)
    torch.testing.assert_close(slope, slope_at(x_in, layer.weight.detach(), times.detach(), params))
    (torch.where(torch.isfinite(times), times, torch.zeros_like(times)) * delta).sum().backward()

    per_sample = _per_sample_weight_grads(layer, x, delta)
    norms = per_sample.abs().amax(dim=1)  # [B, M]
    ranked = norms[torch.isfinite(times.detach())].sort().values
    k = len(ranked) // 2
    limit = ((ranked[k] + ranked[k + 1]) / 2).item()  # between two norms: drops about half, no ties
    expected = torch.where((norms > limit)[:, None, :], torch.zeros_like(per_sample), per_sample).sum(0)
    torch.testing.assert_close(layer.weight.grad, per_sample.sum(0))  # before: the exact batch gradient
    dropped = drop_large_weight_updates(layer.weight, x_in, times.detach(), delta, params, limit, slope)
    assert dropped == int((norms > limit).sum()) > 0
    torch.testing.assert_close(layer.weight.grad, expected, rtol=1e-9, atol=1e-12)


def test_kernel_peak_is_the_kernel_maximum():
    from ttfs_lab.kernel import kernel
    from ttfs_lab.params import NeuronParams
    from ttfs_lab.train.clipping import kernel_peak

    s = torch.linspace(0, 10, 100001, dtype=torch.float64)
    for params in (NeuronParams(), NeuronParams(tau_m=2.0), NeuronParams(tau_m=0.7, tau_s=1.3)):
        assert kernel_peak(params) == pytest.approx(kernel(s, params).max().item(), rel=1e-8)
        assert kernel_peak(params) >= kernel(s, params).max().item()


def test_label_only_bumping_ignores_silent_wrong_outputs():
    """silent_outputs="label": a wrong output that never spikes is no reason to bump; a silent
    correct output is, and only that neuron is raised."""
    data = small_data(100, 50)
    x, y = data["train"]
    keep = y != 2
    data["train"] = (x[keep][:50], y[keep][:50])  # no sample has label 2
    for mode, expect_bump in (("any", True), ("label", False)):
        config = TrainConfig(epochs=1, batch_size=50, skip_step_on_bump=False, silent_outputs=mode)
        trainer = Trainer(config, data=data, progress=False)
        with torch.no_grad():
            trainer.network.layers[1].weight[:, 2] = -1.0  # output 2 never spikes
        event = trainer.train_batch()
        assert event.bumped is expect_bump
    # label mode, output 2 is the label of a sample but silent: bump output 2 only
    data["train"] = (x[:50], torch.full((50,), 2))
    trainer = Trainer(TrainConfig(epochs=1, batch_size=50, silent_outputs="label", bump=0.25), data=data, progress=False)
    with torch.no_grad():
        trainer.network.layers[1].weight[:, 2] = -1.0
    before = trainer.network.weights()[1]
    assert trainer.train_batch().bumped
    after = trainer.network.weights()[1]
    assert torch.equal(after[:, :2], before[:, :2])  # skip_step_on_bump: nothing else changes
    assert torch.equal(after[:, 2], before[:, 2] + 0.25)
    with pytest.raises(ValueError, match="silent_outputs"):
        TrainConfig(silent_outputs="some")


def test_weight_average_is_the_moving_average_of_the_batches_and_resumes(tmp_path):
    config = TrainConfig(epochs=2, batch_size=100, weight_average=0.5, skip_step_on_bump=False, seed=2)
    data = small_data()
    live = []

    def on_batch(event):
        if event.kind == "batch":
            live.append(event.network.weights())

    trainer = Trainer(config, data=data, callbacks=[on_batch], progress=False)
    trainer.run()
    expected = live[0]
    for weights in live[1:]:
        expected = [0.5 * a + 0.5 * w for a, w in zip(expected, weights)]
    assert len(live) == 6
    for w, e in zip(trainer.network.weights(), expected):
        torch.testing.assert_close(w, e, rtol=1e-12, atol=1e-14)
    assert any(not torch.equal(w, e) for w, e in zip(live[-1], expected))  # the average is not the last

    resumed = resume_mid_epoch(Trainer, config, data, 4, tmp_path / "avg.pt")
    for w, e in zip(resumed.network.weights(), trainer.network.weights()):
        assert torch.equal(w, e)
    with pytest.raises(ValueError, match="weight_average"):
        TrainConfig(weight_average=1.0)
