"""`python -m ttfs_lab train --out DIR`, run as real processes: Ctrl-C during the save, a folder
that vanishes before the save (rescue), a read-only destination, and the umask.

The Ctrl-C cases are deterministic: a wrapper (written below, run as ``python WRAPPER train ...``,
which runs the ttfs_lab package as ``-m`` would) makes one step of the save pause and touch a
"ready" file; the test sends SIGINT only once that file exists, i.e. while the save is under way.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ttfs_lab import checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = ["train", "yinyang", "--epochs", "1", "--hidden", "4", "--batch-size", "300", "--no-progress"]
OUTPUTS = {"checkpoint.pt", "metrics.json"}

WRAPPER = textwrap.dedent('''
    import os, runpy, signal, sys, time
    mode, ready = os.environ["PAUSE_IN"], os.environ["PAUSE_READY"]
    # Ctrl-C as in a terminal: a test runner started in the background (a CI job, `cmd &`)
    # hands its children SIGINT ignored, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def pause(seconds):
        open(ready, "w").close()
        time.sleep(seconds)          # SIGINT arrives here

    import torch
    import ttfs_lab.cli as cli
    if mode == "metrics":            # half of metrics.json written, checkpoint.pt already staged
        dump = cli._dump_json
        def slow_dump(data, f):
            f.write('{"half": '); f.flush(); pause(120); dump(data, f)
        cli._dump_json = slow_dump
    elif mode == "checkpoint":       # half of checkpoint.pt written
        save = torch.save
        def slow_save(obj, f, *a, **k):
            f.write(b"PK-half"); f.flush(); pause(120); save(obj, f, *a, **k)
        torch.save = slow_save
    elif mode == "commit":           # between the two renames
        replace = os.replace
        def slow_replace(src, dst):
            replace(src, dst)
            if str(dst).endswith("checkpoint.pt"):
                pause(1.0)
        os.replace = slow_replace
    elif mode == "vanish":           # the folder is replaced by a file while the network trains
        import shutil
        from ttfs_lab.train import Trainer
        run = Trainer.run
        def run_then_break(self, *a, **k):
            result = run(self, *a, **k)
            out = sys.argv[sys.argv.index("--out") + 1]
            shutil.rmtree(out); open(out, "w").close()
            return result
        Trainer.run = run_then_break
    sys.argv[0] = "ttfs_lab"
    runpy.run_module("ttfs_lab", run_name="__main__", alter_sys=True)
''')


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TTFS_LAB_CI="1", **extra)
    env.pop("PYTHONSTARTUP", None)
    return env


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
    """A finished run (seed 0): the pair an interrupted later run must leave intact."""
    from ttfs_lab.cli import main

    out = tmp_path_factory.mktemp("old") / "run"
    assert main([*TINY, "--seed", "0", "--out", str(out)]) == 0
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def _seed_of_pair(folder: Path):
    """(seed in checkpoint.pt, seed in metrics.json): equal iff both come from one run."""
    _, state = checkpoint.load(folder / "checkpoint.pt")
    return state["config"]["seed"], json.loads((folder / "metrics.json").read_text())["config"]["seed"]


def _interrupt_during(mode, folder, tmp_path):
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER)
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, str(wrapper), *TINY, "--seed", "7", "--out", str(folder)], cwd=ROOT,
                            env=_env(PAUSE_IN=mode, PAUSE_READY=str(ready)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the save never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stdout, stderr


@pytest.mark.parametrize("mode", ["checkpoint", "metrics"])
def test_ctrl_c_while_writing_leaves_the_old_pair_and_no_temporary_file(old_run, tmp_path, mode):
    folder = tmp_path / "run"
    folder.mkdir()
    for name, data in old_run.items():
        (folder / name).write_bytes(data)
    code, stdout, stderr = _interrupt_during(mode, folder, tmp_path)
    assert code == 130, stderr
    assert "left as it was" in stderr and "Traceback" not in stderr, stderr
    assert {p.name for p in folder.iterdir()} == OUTPUTS  # no .checkpoint.pt.*.tmp, no .metrics.json.*.tmp
    assert {name: (folder / name).read_bytes() for name in OUTPUTS} == old_run
    assert _seed_of_pair(folder) == (0, 0)


def test_ctrl_c_between_the_renames_finishes_the_new_pair(old_run, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    for name, data in old_run.items():
        (folder / name).write_bytes(data)
    code, stdout, stderr = _interrupt_during("commit", folder, tmp_path)
    assert code == 130, stderr
    assert "interrupted after saving" in stderr and "Traceback" not in stderr, stderr
    assert {p.name for p in folder.iterdir()} == OUTPUTS
    assert _seed_of_pair(folder) == (7, 7)  # both new, together


def test_a_save_that_fails_at_the_end_keeps_the_network_in_a_rescue_folder(tmp_path):
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER)
    work = tmp_path / "work"
    work.mkdir()
    out = work / "run"
    done = subprocess.run([sys.executable, str(wrapper), *TINY, "--out", str(out)], cwd=work,
                          env=_env(PAUSE_IN="vanish", PAUSE_READY=str(tmp_path / "ready")),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    rescues = list(work.glob("ttfs-lab-rescue-*"))
    assert len(rescues) == 1 and str(rescues[0]) in lines[0], (lines, rescues)
    assert {p.name for p in rescues[0].iterdir()} == OUTPUTS
    network, state = checkpoint.load(rescues[0] / "checkpoint.pt")
    metrics = json.loads((rescues[0] / "metrics.json").read_text())
    assert network.sizes == (4, 4, 3) and state["epoch"] == 1
    assert f"test_accuracy={metrics['test_accuracy']:.4f}" in done.stdout


# ------------------------------------------------------------------ read-only destinations
def _read_only_runner(locked: Path):
    """A command prefix that runs the child with ``locked`` read-only, truly: root writes into
    any folder whatever its mode, so as root the child gets a private mount namespace with a
    read-only bind mount of ``locked`` (gone with the child; the host's mounts are untouched)."""
    if os.geteuid() != 0:
        locked.chmod(0o555)
        return []
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare, "-m", "sh", "-c", f"mount --bind -o ro '{locked}' '{locked}'"],
                           capture_output=True) if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root without mount namespaces: no read-only folder to test")
    return [unshare, "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(locked)]


@pytest.mark.parametrize("where", ["folder", "inside"])
def test_a_read_only_destination_is_refused_before_training(tmp_path, where):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "keep.txt").write_text("kept")
    prefix = _read_only_runner(locked)
    out = locked if where == "folder" else locked / "sub" / "run"
    try:
        done = subprocess.run([*prefix, sys.executable, "-m", "ttfs_lab", *TINY, "--out", str(out)], cwd=ROOT,
                              env=_env(), capture_output=True, text=True, timeout=300)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = f"python -m ttfs_lab train: error: --out: cannot {'write into' if where == 'folder' else 'create the folder'} {out}"
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(line), done.stderr
    assert "Read-only file system" in done.stderr or "Permission denied" in done.stderr, done.stderr
    assert "epochs=" not in done.stdout  # refused before training
    assert sorted(p.name for p in locked.iterdir()) == ["keep.txt"]


# --------------------------------------------------------------------------------- umask
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_outputs_of_a_run_follow_the_umask(tmp_path, umask, mode):
    from ttfs_lab.cli import main

    previous = os.umask(umask)
    try:
        assert main([*TINY, "--out", str(tmp_path / "run")]) == 0
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir()}
    assert modes == {"checkpoint.pt": mode, "metrics.json": mode}


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600), (0o027, 0o640)])
def test_atomic_writes_and_checkpoints_follow_the_umask(tmp_path, umask, mode):
    from ttfs_lab import TTFSNetwork
    from ttfs_lab.atomic import AtomicGroup, atomic_write

    previous = os.umask(umask)
    try:
        checkpoint.save(tmp_path / "net.pt", TTFSNetwork((4, 3, 3)))
        atomic_write(tmp_path / "a.json", lambda f: f.write("{}"), binary=False)
        with AtomicGroup() as group:
            group.add(tmp_path / "b.bin", lambda f: f.write(b"1"))
            group.add(tmp_path / "c.bin", lambda f: f.write(b"2"))
        atomic_write(tmp_path / "a.json", lambda f: f.write("[]"), binary=False)  # replacing too
    finally:
        os.umask(previous)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == dict.fromkeys(
        ["net.pt", "a.json", "b.bin", "c.bin"], mode)


def test_rescue_folder_and_files_follow_the_umask(tmp_path, monkeypatch):
    from ttfs_lab import TTFSNetwork, cli

    monkeypatch.chdir(tmp_path)
    payload = checkpoint.checkpoint_payload(TTFSNetwork((4, 3, 3)))
    previous = os.umask(0o022)
    try:
        folder = cli._rescue(payload, {"test_accuracy": 0.5})
    finally:
        os.umask(previous)
    assert folder.parent == tmp_path and folder.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in folder.iterdir()} == {0o644}
    restored = checkpoint.network_to_dict(checkpoint.load(folder / "checkpoint.pt")[0])["weights"]
    assert all(torch.equal(a, b) for a, b in zip(restored, payload["network"]["weights"]))


# ------------------------------------------------------------------- chip test runs (Also)
@pytest.mark.parametrize("trials", [1, 3])
def test_in_the_loop_metrics_hold_the_mean_of_the_chip_test_runs(tmp_path, capsys, trials):
    import statistics

    from ttfs_lab.cli import main

    assert main([*TINY, "--in-the-loop", "--trials", str(trials), "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    runs = metrics["test_accuracy_runs"]
    assert len(runs) == metrics["test_trials"] == trials and all(0 <= a <= 1 for a in runs)
    assert metrics["test_accuracy"] == pytest.approx(statistics.fmean(runs), abs=1e-12)
    if trials > 1:
        assert metrics["test_accuracy_std"] == pytest.approx(statistics.stdev(runs), abs=1e-12)
    assert capsys.readouterr().out.strip().endswith(f"test_accuracy={statistics.fmean(runs):.4f}")
