"""Autosave of a dashboard's state (widgets.persistence): after epochs and on pause, in the
user's own folder, restorable after a kernel dies, and nothing saved before is lost when a
save fails (full disk) or a file is damaged."""
import errno
import io
import json
import os
import stat
import zipfile

import pytest
import torch

from ttfs_lab.widgets import AutoSave, AutoSavePanel, LabState, TrainingPanel, TrainingRunner
from ttfs_lab.widgets.persistence import POINTER, state_dir


def small_state(**kwargs):
    settings = dict(hidden=[6], train_size=120, test_size=60, batch_size=60, epochs=3, seed=5)
    settings.update(kwargs)
    return LabState(**settings)


def train(state, runner, timeout=120):
    runner.min_interval = 0.0
    runner.start()
    runner.join(timeout)
    assert runner.error is None, runner.error


def weights(state):
    return [w.clone() for w in state.network.weights()]


def test_state_dir_is_the_users_home_or_the_env_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("TTFS_LAB_STATE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_dir("chip") == tmp_path / "home" / ".local" / "share" / "ttfs-lab" / "chip"
    monkeypatch.setenv("TTFS_LAB_STATE_DIR", str(tmp_path / "elsewhere"))
    assert state_dir() == tmp_path / "elsewhere" / "playground"
    with pytest.raises(ValueError, match="app name"):
        state_dir("../apps")


def test_saved_after_every_epoch_and_restore_resumes_bit_for_bit(tmp_path):
    state = small_state()
    runner = TrainingRunner.for_state(state)
    saves = AutoSave(state, runner, folder=tmp_path / "slot")
    seen = []
    saves.on_change.append(lambda a: seen.append(a.last_saved["epoch"]))
    state.epochs = 2
    train(state, runner)
    # Epoch saves (the saver thread may skip epoch 1 for epoch 2 if it was late), then the one
    # when the thread stopped ("on pause"/done), after the saver finished: never out of order.
    assert seen[-2:] == [2, 2] and seen == sorted(seen) and len(seen) == 3 - saves.skipped
    assert saves.latest()["epoch"] == 2 and saves.latest()["reason"] == "on pause"
    assert len(saves.generations()) == 2  # older generations pruned
    assert stat.S_IMODE(os.stat(tmp_path / "slot").st_mode) == 0o700

    # The kernel "dies": a fresh state + runner restores the last save and trains on.
    fresh = small_state(seed=99, hidden=[4])
    fresh_runner = TrainingRunner.for_state(fresh)
    info = AutoSave(fresh, fresh_runner, folder=tmp_path / "slot").restore()
    assert info["epoch"] == 2 and not info["problems"]
    assert fresh.hidden == [6] and fresh.history["epoch"] == [1, 2]
    for a, b in zip(weights(fresh), weights(state)):
        assert torch.equal(a, b)
    fresh.epochs = state.epochs = 3
    train(fresh, fresh_runner)
    train(state, runner)
    for a, b in zip(weights(fresh), weights(state)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # same optimizer, RNG and data order
    assert fresh.history == state.history


def test_background_epochs_are_saved_by_the_saver_thread_newest_first(tmp_path, monkeypatch):
    """The training thread only copies the state; a slow disk delays the saver thread, not
    training, and the saver writes the newest copy. Every stop waits for it and saves last."""
    import threading

    from ttfs_lab.widgets.state import Capture

    state = small_state(epochs=4)
    runner = TrainingRunner.for_state(state)
    saves = AutoSave(state, runner, folder=tmp_path)
    writers, release = [], threading.Event()
    real_write = Capture.write

    def slow_write(capture, path):
        writers.append(threading.current_thread().name)
        if len(writers) == 1:
            release.wait(30)  # the disk hangs on the first save until training is done
        return real_write(capture, path)

    monkeypatch.setattr(Capture, "write", slow_write)
    seen = []
    saves.on_change.append(lambda a: seen.append((a.last_saved["epoch"], a.last_saved["reason"])))
    runner.listeners.append(lambda event: release.set() if event == "epoch" and len(runner.record()["epoch"]) == 4 else None)
    train(state, runner)
    # Epoch 1 waited on the disk while epochs 2-4 trained; 2 and 3 were replaced by 4 (skipped).
    assert seen == [(1, "after an epoch"), (4, "after an epoch"), (4, "on pause")] and saves.skipped == 2
    assert writers[:2] == ["ttfs-lab-autosave"] * 2 and writers[2] != "ttfs-lab-autosave"
    assert saves.latest()["epoch"] == 4 and saves.flush(1.0)
    # The copy is of its moment: the file of epoch 4 holds the weights training ended with.
    fresh = small_state(seed=5)
    AutoSave(fresh, folder=tmp_path).restore()
    for a, b in zip(weights(fresh), weights(state)):
        assert torch.equal(a, b)
    # By hand (Step) the epoch is saved at once, in the calling thread.
    state.epochs = 5
    runner.step(), runner.step()
    assert seen[-1] == (5, "after an epoch") and writers[-1] == threading.current_thread().name


def test_full_disk_keeps_the_last_save_and_says_so(tmp_path, monkeypatch):
    state = small_state()
    runner = TrainingRunner.for_state(state)
    saves = AutoSave(state, runner, folder=tmp_path)
    runner.step(), runner.step()  # one epoch (120 / 60 batches): saved by the epoch hook
    assert saves.latest()["epoch"] == 1
    saved_weights = weights(state)
    before = sorted(p.name for p in tmp_path.iterdir())

    import ttfs_lab.atomic

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ttfs_lab.atomic.os, "fsync", full)
    runner.step(), runner.step()  # epoch 2: the save fails
    assert saves.last_error == "could not save (the disk is full (no space left on device)); the last save is kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no partial files left
    monkeypatch.undo()
    assert saves.latest()["epoch"] == 1
    fresh = small_state()
    AutoSave(fresh, folder=tmp_path).restore()
    for a, b in zip(weights(fresh), saved_weights):
        assert torch.equal(a, b)


def test_damaged_newest_save_falls_back_to_the_one_before(tmp_path):
    state = small_state()
    runner = TrainingRunner.for_state(state)
    saves = AutoSave(state, runner, folder=tmp_path)
    runner.step(), runner.step()  # epoch 1
    epoch1 = weights(state)
    runner.step(), runner.step()  # epoch 2
    newest = saves.latest()
    (tmp_path / newest["file"]).with_suffix(".ckpt").write_bytes(b"PK\x03\x04 not a checkpoint")
    fresh = small_state()
    info = AutoSave(fresh, folder=tmp_path).restore()
    assert info["fallback"] and info["epoch"] == 1
    assert "not a readable ttfs-lab checkpoint" in info["problems"][0]
    for a, b in zip(weights(fresh), epoch1):
        assert torch.equal(a, b)


@pytest.mark.parametrize("content, message", [
    (b"{not json", "saved-state index .* is damaged"),
    (json.dumps({"format": "something-else", "generation": 1}).encode(), "not a ttfs-lab autosave index"),
    (json.dumps([1, 2, 3]).encode(), "not a ttfs-lab autosave index"),
])
def test_malformed_or_foreign_index_is_a_clear_message(tmp_path, content, message):
    (tmp_path / POINTER).write_bytes(content)
    state = small_state()
    panel = AutoSavePanel(state, folder=tmp_path)
    assert "ttfs-error" in panel.status.value and "left as it is" in panel.status.value
    with pytest.raises(ValueError, match=message):
        panel.autosave.restore()
    assert (tmp_path / POINTER).read_bytes() == content  # left as it was


def test_foreign_state_file_is_rejected_and_state_unchanged(tmp_path):
    state = small_state()
    runner = TrainingRunner.for_state(state)
    saves = AutoSave(state, runner, folder=tmp_path)
    runner.step(), runner.step()
    (tmp_path / saves.latest()["file"]).write_text(json.dumps({"format": "jupyter-notebook", "cells": []}))
    other = small_state(seed=1)
    before = weights(other)
    with pytest.raises(ValueError, match="no saved state could be read: save 1: .* is not a ttfs-lab state file"):
        AutoSave(other, folder=tmp_path).restore()
    for a, b in zip(weights(other), before):
        assert torch.equal(a, b)


def test_panel_offers_restore_on_open_and_downloads_a_zip(tmp_path):
    state = small_state()
    panel = TrainingPanel(state)
    saves = AutoSavePanel(state, panel.runner, folder=tmp_path)
    assert saves.offer_box.layout.display == "none"  # nothing saved yet
    saves.buttons["download"].click()
    assert "nothing saved yet" in saves.status.value
    panel.buttons["step"].click(), panel.buttons["step"].click()
    assert "epoch 1 of 3" in saves.readout.value

    reopened = small_state(seed=42)  # a reload: new kernel, new state
    offer = AutoSavePanel(reopened, folder=tmp_path)
    assert offer.offer_box.layout.display != "none" and "epoch 1 of 3" in offer.offer.value
    offer.buttons["restore"].click()
    assert "restored epoch 1 of 3" in offer.status.value and offer.offer_box.layout.display == "none"
    assert reopened.seed == 5 and reopened.history["epoch"] == [1]

    offer.buttons["download"].click()
    href = offer.link.value.split('href="data:application/zip;base64,')[1].split('"')[0]
    import base64

    with zipfile.ZipFile(io.BytesIO(base64.b64decode(href))) as z:
        names = z.namelist()
        doc = json.loads(z.read("lab-state.json"))
    assert doc["format"] == "ttfs-lab-state" and doc["checkpoint"] in names
