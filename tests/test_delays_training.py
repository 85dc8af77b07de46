"""Training with learned delays: the preset, the >= 0 rule, checkpoints (version 3; 2 and 1 load), the CLI."""
from __future__ import annotations

import math

import pytest
import torch

from ttfs_lab import TTFSNetwork, checkpoint
from ttfs_lab.cli import main
from ttfs_lab.data import encode, yin_yang
from ttfs_lab.delays import DelayedTTFSNetwork
from ttfs_lab.train import Trainer, TrainConfig, preset
from resume import resume_mid_epoch


def small_data(n_train=300, n_eval=200):
    def split(name, size):
        x, y = yin_yang(name, size=size)
        return torch.as_tensor(encode(x)), torch.as_tensor(y)

    return {"train": split("train", n_train), "validation": split("validation", n_eval), "test": split("test", n_eval)}


def small_delays(**changes):
    return preset("delays", **{"hidden": (30,), "epochs": 2, "batch_size": 100, **changes})


def test_delays_preset_learns_weights_and_delays():
    trainer = Trainer(small_delays(seed=1), data=small_data(), progress=False)
    assert isinstance(trainer.network, DelayedTTFSNetwork) and trainer.network.kind == "synaptic"
    before = trainer.network.delays()
    trainer.run()
    after = trainer.network.delays()
    assert all(bool((d >= 0).all()) for d in after)
    assert all(not torch.equal(a, b) for a, b in zip(before, after))  # delays learned
    assert trainer.history["validation_accuracy"][-1] > 0.4


def test_projection_keeps_delays_non_negative():
    """A step that pushes delays far below zero ends at exactly 0 (projection, not a wrap)."""
    trainer = Trainer(small_delays(delay_lr=10.0), data=small_data(), progress=False)
    layer = trainer.network.layers[0]
    trainer.optimizer.zero_grad()
    for p in trainer.network.parameters():
        p.grad = torch.zeros_like(p)
    layer.delay.grad = torch.ones_like(layer.delay)  # Adam's first step moves by lr = 10 downwards
    trainer.optimizer.step()
    assert torch.equal(layer.delay.detach(), torch.zeros_like(layer.delay))


def test_zero_delay_training_equals_training_without_delays():
    """delay_lr tiny and delays starting at 0: the projection holds them at 0 only if the
    gradient pushes down, so compare the first batch instead, where delays are exactly 0."""
    data = small_data()
    plain = Trainer(preset("improved", hidden=(30,), epochs=1, batch_size=100), data=data, progress=False)
    delayed = Trainer(preset("delays", hidden=(30,), epochs=1, batch_size=100, delay_init=(0.0, 0.0)), data=data,
                      progress=False)
    x = data["train"][0]
    assert torch.equal(plain.network(x), delayed.network(x))
    plain.train_batch()
    delayed.train_batch()
    for a, b in zip(plain.network.weights(), delayed.network.weights()):
        assert torch.equal(a, b)  # the same weight step: gradients wrt weights are bit for bit


def test_resume_with_delays_equals_uninterrupted_run(tmp_path):
    config = small_delays(epochs=2, seed=2)
    data = small_data()
    straight = Trainer(config, data=data, progress=False)
    straight.run()
    resumed = resume_mid_epoch(Trainer, config, data, 4, tmp_path / "ckpt.pt")
    for a, b in zip(straight.network.parameters(), resumed.network.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_version_3_carries_delays_and_versions_2_and_1_still_load(tmp_path):
    net = DelayedTTFSNetwork((4, 10, 3), seed=0, delay_init=(0.0, 1.0))
    checkpoint.save(tmp_path / "d.pt", net)
    raw = torch.load(tmp_path / "d.pt", weights_only=True)
    assert raw["version"] == checkpoint.VERSION == 3 and raw["network"]["delays"]["kind"] == "synaptic"
    loaded, _ = checkpoint.load(tmp_path / "d.pt")
    x = torch.rand(20, 4, dtype=torch.float64) + 0.15
    assert isinstance(loaded, DelayedTTFSNetwork) and torch.equal(loaded(x), net(x))
    # a file written by the previous version (1): no "delays" key
    plain = TTFSNetwork((4, 10, 3), seed=0)
    old = {"format": checkpoint.FORMAT, "version": 1, "training": None, "network": {
        "sizes": [4, 10, 3], "params": {"tau_m": 1.0, "tau_s": 1.0, "g_leak": 1.0, "e_leak": 0.0, "threshold": 1.0},
        "bias_time": 0.9, "dtype": "float64", "weights": plain.weights()}}
    torch.save(old, tmp_path / "v1.pt")
    loaded, _ = checkpoint.load(tmp_path / "v1.pt")
    assert type(loaded) is TTFSNetwork and torch.equal(loaded(x), plain(x))
    # a file of version 2 (digest, no "delays")
    v2 = dict(old, version=2)
    v2["digest"] = checkpoint.payload_digest(v2)
    torch.save(v2, tmp_path / "v2.pt")
    loaded, _ = checkpoint.load(tmp_path / "v2.pt")
    assert type(loaded) is TTFSNetwork and torch.equal(loaded(x), plain(x))
    # negative delays in a file (with a valid digest) are refused with the field and the reason
    raw["network"]["delays"]["values"][0][0, 0] = -1.0
    raw["digest"] = checkpoint.payload_digest(raw)
    torch.save(raw, tmp_path / "neg.pt")
    with pytest.raises(checkpoint.CheckpointError, match=r"network.delays.values\[0\] must be >= 0"):
        checkpoint.load(tmp_path / "neg.pt")
    raw["network"]["delays"]["values"][0][0, 0] = 0.0
    raw["network"]["delays"]["kind"] = "dendritic"
    raw["digest"] = checkpoint.payload_digest(raw)
    torch.save(raw, tmp_path / "kind.pt")
    with pytest.raises(checkpoint.CheckpointError, match="network.delays.kind"):
        checkpoint.load(tmp_path / "kind.pt")
    raw["network"]["delays"]["kind"] = "synaptic"
    v2["network"] = dict(v2["network"], delays=raw["network"]["delays"])
    v2["network"]["weights"] = net.weights()
    v2["digest"] = checkpoint.payload_digest(v2)
    torch.save(v2, tmp_path / "v2d.pt")
    with pytest.raises(checkpoint.CheckpointError, match="needs checkpoint version 3"):
        checkpoint.load(tmp_path / "v2d.pt")


def test_axonal_delays_train_and_round_trip(tmp_path):
    trainer = Trainer(small_delays(delays="axonal", epochs=1), data=small_data(), progress=False)
    trainer.run()
    assert trainer.network.layers[0].delay.shape == (5,)
    trainer.save(tmp_path / "a.pt")
    loaded = Trainer.load(tmp_path / "a.pt", data=small_data(), progress=False)
    assert loaded.network.kind == "axonal"
    assert all(torch.equal(a, b) for a, b in zip(loaded.network.delays(), trainer.network.delays()))


def test_bad_delay_config_is_named():
    with pytest.raises(ValueError, match="delays must be one of"):
        TrainConfig(delays="dendritic")
    with pytest.raises(ValueError, match="delay_init"):
        TrainConfig(delays="synaptic", delay_init=(-1.0, 0.0))
    with pytest.raises(ValueError, match="delay_init"):
        TrainConfig(delays="synaptic", delay_init=(0.0, math.inf))
    with pytest.raises(ValueError, match="delay_lr"):
        TrainConfig(delay_lr=0.0)


def test_cli_train_delays_and_evaluate_both_versions(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "yinyang", "--preset", "delays", "--epochs", "1", "--hidden", "20", "--no-progress",
                 "--out", str(out)]) == 0
    trained = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["evaluate", str(out / "checkpoint.pt")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert "synaptic delays" in printed[0] and printed[-1] == trained  # same network, same test split
    plain = TTFSNetwork((4, 20, 3), seed=0)
    old = {"format": checkpoint.FORMAT, "version": 1, "training": None, "network": {
        "sizes": [4, 20, 3], "params": {"tau_m": 1.0, "tau_s": 1.0, "g_leak": 1.0, "e_leak": 0.0, "threshold": 1.0},
        "bias_time": 0.9, "dtype": "float64", "weights": plain.weights()}}
    torch.save(old, tmp_path / "v1.pt")
    assert main(["evaluate", str(tmp_path / "v1.pt")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("test_accuracy=")
