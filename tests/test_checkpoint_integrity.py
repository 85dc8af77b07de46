"""Checkpoints refuse damaged or invalid files with a message that names the problem.

Issue 11, defect 3 (no integrity check: one flipped bit in the weights loaded silently) and
defect 7 (fields not validated: a string ``training`` gave a TypeError traceback from
``evaluate``, a NaN ``bias_time`` the misleading "input_times contains NaN").
"""
from __future__ import annotations

import math
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from ttfs_lab import TTFSNetwork, checkpoint
from ttfs_lab.train import Trainer, TrainConfig

REPO = Path(__file__).resolve().parents[1]
LEGACY = REPO / "notebooks" / "data" / "yinyang_paper.ckpt"  # version 1, written before digests


def small_data(n=150, seed=0):
    from ttfs_lab.data import encode, yin_yang

    def split(size, s):
        f, y = yin_yang("train", size=size, seed=s)
        return torch.as_tensor(encode(f)), torch.as_tensor(y)

    return {"train": split(n, seed), "validation": split(60, seed + 1), "test": split(60, seed + 2)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint with a training state (1 epoch on a small Yin-Yang set)."""
    trainer = Trainer(TrainConfig(epochs=1, batch_size=50, hidden=(7,)), data=small_data(), progress=False)
    trainer.run()
    path = tmp_path_factory.mktemp("ckpt") / "trained.pt"
    trainer.save(path)
    return path


def _tensor_data_span(path: Path, index: int) -> tuple[int, int]:
    """(file offset, length) of the raw bytes of stored tensor number ``index`` (torch's zip
    format keeps tensor storages uncompressed as <archive>/data/<index>)."""
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(f"/data/{index}"))
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def _flip_bit(path: Path, offset: int, bit: int, out: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    out.write_bytes(bytes(data))
    return out


# ---------------------------------------------------------------------- defect 3: digest
@pytest.mark.parametrize("byte, bit", [(0, 0), (3, 7), (7, 6), (7, 7), (13, 2)])  # mantissa, exponent, sign
def test_a_flipped_bit_in_the_weights_is_refused(trained, tmp_path, byte, bit):
    offset, length = _tensor_data_span(trained, 0)  # the first weight matrix
    assert length > byte
    damaged = _flip_bit(trained, offset + byte, bit, tmp_path / "damaged.pt")
    # the flip really changes a weight and the file still unpickles: only the digest can tell
    raw = torch.load(damaged, weights_only=True)
    assert not torch.equal(raw["network"]["weights"][0], torch.load(trained, weights_only=True)["network"]["weights"][0])
    with pytest.raises(checkpoint.CheckpointError, match="damaged.*digest"):
        checkpoint.load(damaged)
    with pytest.raises(checkpoint.CheckpointError, match="digest"):
        Trainer.load(damaged, data=small_data())


def test_a_flipped_bit_in_the_training_state_is_refused(trained, tmp_path):
    with zipfile.ZipFile(trained) as z:
        n_tensors = sum(1 for i in z.infolist() if "/data/" in i.filename and not i.filename.endswith(".pkl"))
    assert n_tensors > 4
    for index in (n_tensors - 1, n_tensors // 2):  # some optimizer moment / the RNG state
        offset, length = _tensor_data_span(trained, index)
        damaged = _flip_bit(trained, offset + length // 2, 1, tmp_path / f"damaged{index}.pt")
        with pytest.raises(checkpoint.CheckpointError, match="digest"):
            checkpoint.load(damaged)


def test_an_edited_field_with_the_old_digest_is_refused(trained, tmp_path):
    payload = torch.load(trained, weights_only=True)
    for edit in (
        lambda p: p["network"].__setitem__("bias_time", 0.8999999999999999),
        lambda p: p["training"].__setitem__("epoch", 7),
        lambda p: p["network"]["params"].__setitem__("threshold", 1.0000001),
        lambda p: p["training"]["config"].__setitem__("lr", 0.5),
    ):
        edited = torch.load(trained, weights_only=True)
        edit(edited)
        assert edited["digest"] == payload["digest"]
        torch.save(edited, tmp_path / "edited.pt")
        with pytest.raises(checkpoint.CheckpointError, match="digest"):
            checkpoint.load(tmp_path / "edited.pt")


def test_a_current_checkpoint_without_its_digest_is_refused(trained, tmp_path):
    payload = torch.load(trained, weights_only=True)
    del payload["digest"]
    torch.save(payload, tmp_path / "stripped.pt")
    with pytest.raises(checkpoint.CheckpointError, match="no digest"):
        checkpoint.load(tmp_path / "stripped.pt")
    payload["digest"] = 12345
    torch.save(payload, tmp_path / "odd.pt")
    with pytest.raises(checkpoint.CheckpointError, match="digest must be"):
        checkpoint.load(tmp_path / "odd.pt")


def test_old_checkpoints_without_a_digest_still_load(tmp_path):
    assert torch.load(LEGACY, weights_only=True)["version"] == 1 and "digest" not in torch.load(LEGACY, weights_only=True)
    network, state = checkpoint.load(LEGACY)
    assert network.sizes == (4, 120, 3) and state is None
    # a version-1 file with a training state, as the trainer wrote it before digests
    trainer = Trainer(TrainConfig(epochs=1, batch_size=50, hidden=(5,)), data=small_data(), progress=False)
    trainer.train_batch()
    torch.save({"format": checkpoint.FORMAT, "version": 1, "network": checkpoint.network_to_dict(trainer.network),
                "training": trainer.state_dict()}, tmp_path / "v1.pt")
    resumed = Trainer.load(tmp_path / "v1.pt", data=small_data(), progress=False)
    assert resumed.step_count == 1
    for a, b in zip(resumed.network.weights(), trainer.network.weights()):
        assert torch.equal(a, b)


def test_the_digest_is_stable_and_covers_every_entry():
    net = TTFSNetwork((2, 3, 2), seed=1)
    a = checkpoint.checkpoint_payload(net)
    b = checkpoint.checkpoint_payload(TTFSNetwork((2, 3, 2), seed=1))
    assert a["digest"] == b["digest"] and a["digest"].startswith("sha256:") and len(a["digest"]) == 7 + 64
    # dict order does not matter; types, values and nesting do
    assert checkpoint.payload_digest({"x": 1, "y": 2.0}) == checkpoint.payload_digest({"y": 2.0, "x": 1})
    variants = [{"x": 1}, {"x": 1.0}, {"x": True}, {"x": "1"}, {"x": [1]}, {"x": (1,)}, {"x": None},
                {"x": torch.tensor([1])}, {"x": torch.tensor([1.0])}, {"x": torch.tensor([[1.0]])}, {"y": 1},
                {"x": {"a": 1}}, {"x": [[1], []]}, {"x": [[], [1]]}]
    digests = [checkpoint.payload_digest(v) for v in variants]
    assert len(set(digests)) == len(variants)


# --------------------------------------------------------------- defect 7: field checks
def _save_v1(payload, path):
    """Write a version-1 (digest-free) file: the legacy path, which validation must guard too."""
    payload = dict(payload)
    payload.pop("digest", None)
    payload["version"] = 1
    torch.save(payload, path)
    return path


def _save_v2(payload, path):
    """Write a current file with a correct digest over the (edited) payload."""
    payload = dict(payload, version=checkpoint.VERSION)
    payload["digest"] = checkpoint.payload_digest(payload)
    torch.save(payload, path)
    return path


def _edit(path, *keys, value=None, delete=False):
    payload = torch.load(path, weights_only=True)
    target = payload
    for key in keys[:-1]:
        target = target[key]
    if delete:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return payload


NETWORK_CASES = [
    (("network", "bias_time"), math.nan, "network.bias_time must be finite"),
    (("network", "bias_time"), math.inf, "network.bias_time must be finite"),
    (("network", "bias_time"), "0.9", "network.bias_time must be a number"),
    (("network", "bias_time"), None, "network.bias_time must be a number"),
    (("network", "sizes"), [4, 2.5, 3], r"network.sizes\[1\] must be an integer"),
    (("network", "sizes"), [4, 0, 3], r"network.sizes\[1\] must lie in"),
    (("network", "sizes"), "4-120-3", "network.sizes must be a list"),
    (("network", "sizes"), [4, 121, 3], r"network.weights\[0\] has shape"),
    (("network", "params", "tau_m"), -1.0, "network.params are invalid.*tau_m"),
    (("network", "params", "tau_s"), math.nan, "network.params.tau_s must be finite"),
    (("network", "params", "threshold"), "1", "network.params.threshold must be a number"),
    (("network", "params", "colour"), 1.0, "network.params has unknown fields"),
    (("network", "dtype"), "float16", "network.dtype must be one of"),
    (("network", "weights"), "weights", "network.weights must be a list"),
    (("network", "weights"), [], "network.weights holds 0 matrices"),
    (("network", "weights", 1), torch.zeros(3, 3, dtype=torch.int64), r"network.weights\[1\] must hold floating"),
    (("network", "weights", 1), torch.full((121, 3), math.nan, dtype=torch.float64), r"network.weights\[1\] contains NaN"),
    (("network", "weights", 0), [[1.0]], r"network.weights\[0\] must be a tensor"),
    (("network", "training_mode"), None, None),  # unknown extra network entries are harmless
    (("training",), "abc", "training must be a dict"),
    (("training",), [1, 2], "training must be a dict"),
]


@pytest.mark.parametrize("keys, value, message", NETWORK_CASES, ids=[f"{'.'.join(map(str, c[0]))}={c[1]!r:.12}" for c in NETWORK_CASES])
@pytest.mark.parametrize("save", [_save_v1, _save_v2], ids=["v1", "v2"])
def test_invalid_network_fields_are_named(tmp_path, keys, value, message, save):
    path = checkpoint.save(tmp_path / "ok.pt", TTFSNetwork((4, 120, 3), seed=0))
    bad = save(_edit(path, *keys, value=value), tmp_path / "bad.pt")
    if message is None:
        checkpoint.load(bad)
        return
    with pytest.raises(checkpoint.CheckpointError, match=message) as info:
        checkpoint.load(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


TRAINING_CASES = [
    (("training", "config"), "paper", "training.config must be a dict"),
    (("training", "config", "dataset"), "cifar", "training.config is invalid.*cifar"),
    (("training", "config", "lr"), "fast", "training.config is invalid"),
    (("training", "config", "hidden"), [8], "training.config describes a 4-8-3 network"),
    (("training", "config", "neuron"), 3, "training.config is invalid"),
    (("training", "epoch"), -1, "training.epoch must lie in"),
    (("training", "epoch"), "1", "training.epoch must be an integer"),
    (("training", "step"), 2.5, "training.step must be an integer"),
    (("training", "last_bumped_layer"), 5, "training.last_bumped_layer must lie in"),
    (("training", "bump_value"), math.nan, "training.bump_value must be finite"),
    (("training", "bump_value"), -0.1, "training.bump_value must be positive"),
    (("training", "generator"), torch.zeros(4), "training.generator must be a 1-D uint8"),
    (("training", "order"), torch.zeros(4), "training.order must be None or a 1-D int64"),
    (("training", "order"), torch.tensor([0, -3]), "training.order holds negative"),
    (("training", "optimizer"), None, "training.optimizer must be a dict"),
    (("training", "history", "train_loss"), ["low"], "training.history.train_loss must be a list of numbers"),
    (("training", "best_weights"), [torch.zeros(2, 2, dtype=torch.float64)], "training.best_weights holds 1 matrices"),
    (("training", "best_validation_accuracy"), "0.9", "training.best_validation_accuracy must be a number"),
]


@pytest.mark.parametrize("keys, value, message", TRAINING_CASES, ids=[".".join(map(str, c[0])) + f"={c[1]!r:.10}" for c in TRAINING_CASES])
def test_invalid_training_fields_are_named(trained, tmp_path, keys, value, message):
    for save in (_save_v1, _save_v2):
        bad = save(_edit(trained, *keys, value=value), tmp_path / "bad.pt")
        with pytest.raises(checkpoint.CheckpointError, match=message):
            checkpoint.load(bad)
        with pytest.raises(checkpoint.CheckpointError, match=message):
            Trainer.load(bad, data=small_data())


def test_a_current_checkpoint_must_hold_the_whole_training_state(trained, tmp_path):
    bad = _save_v2(_edit(trained, "training", "optimizer", delete=True), tmp_path / "bad.pt")
    with pytest.raises(checkpoint.CheckpointError, match="training lacks 'optimizer'"):
        checkpoint.load(bad)


def test_foreign_versions_and_markers_are_refused(trained, tmp_path):
    for version in (0, 3, "2", None, True, 2.0000001):
        payload = torch.load(trained, weights_only=True)
        payload["version"] = version
        torch.save(payload, tmp_path / "v.pt")
        with pytest.raises(checkpoint.CheckpointError, match="version"):
            checkpoint.load(tmp_path / "v.pt")
    for payload in ([1, 2], "ttfs-lab-checkpoint", {"format": "other"}, None):
        torch.save(payload, tmp_path / "f.pt")
        with pytest.raises(checkpoint.CheckpointError, match="not a ttfs-lab checkpoint"):
            checkpoint.load(tmp_path / "f.pt")


def _evaluate(path):
    # cwd: the checkpoint's folder, so that the ttfs_lab on sys.path (not ./ttfs_lab) is imported
    return subprocess.run([sys.executable, "-m", "ttfs_lab", "evaluate", str(path)], capture_output=True, text=True,
                          timeout=120, cwd=path.parent)


@pytest.mark.parametrize("case", ["training-string", "bias-nan", "bit-flip", "folder"])
def test_evaluate_says_what_is_wrong_in_one_line(trained, tmp_path, case):
    """The command line: exit 2 and one line naming the file and the field, no traceback."""
    if case == "training-string":
        bad = _save_v1(_edit(trained, "training", value="abc"), tmp_path / "bad.pt")
        expected = "training must be a dict"
    elif case == "bias-nan":
        bad = _save_v1(_edit(trained, "network", "bias_time", value=math.nan), tmp_path / "bad.pt")
        expected = "network.bias_time must be finite"
    elif case == "bit-flip":
        offset, _ = _tensor_data_span(trained, 0)
        bad = _flip_bit(trained, offset + 5, 3, tmp_path / "bad.pt")
        expected = "damaged"
    else:
        bad = tmp_path / "a-folder.pt"
        bad.mkdir()
        expected = "is a folder"
    result = _evaluate(bad)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr, result.stderr
