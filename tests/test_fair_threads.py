"""ttfs_lab.fair_threads: thread counts shared fairly among the kernels training on a machine."""
import os
import subprocess
import sys

import pytest

from ttfs_lab import fair_threads, native


@pytest.mark.parametrize("cores, training, expected", [(2, 0, 2), (2, 1, 2), (2, 2, 1), (2, 30, 1), (8, 3, 2), (8, 2, 4)])
def test_fair_share(cores, training, expected):
    assert fair_threads.fair_share(cores, training) == expected


def test_counts_live_claims_only(tmp_path, monkeypatch):
    monkeypatch.delenv(fair_threads.ENV_THREADS, raising=False)
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(3)]
    try:
        for p in sleepers:
            (tmp_path / f"train-{p.pid}").touch()
        (tmp_path / "train-notapid").touch()
        assert fair_threads.training_kernels(tmp_path) == 3
        assert fair_threads.threads_now(tmp_path) == max(1, fair_threads.cores() // 3)
        sleepers[0].kill(), sleepers[0].wait()  # a kill -9'd kernel leaves its file behind
        assert fair_threads.training_kernels(tmp_path) == 2
        assert not (tmp_path / f"train-{sleepers[0].pid}").exists()  # stale claim removed
    finally:
        for p in sleepers:
            p.kill(), p.wait()


def test_claim_sets_and_restores_native_threads(tmp_path, monkeypatch):
    monkeypatch.delenv(fair_threads.ENV_THREADS, raising=False)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / f"train-{other.pid}").touch()
        native.set_num_threads(None)
        with fair_threads.Claim(tmp_path) as claim:
            assert (tmp_path / f"train-{os.getpid()}").exists()
            assert claim.threads == native.get_num_threads() == max(1, fair_threads.cores() // 2)
        assert native.get_num_threads() is None and not (tmp_path / f"train-{os.getpid()}").exists()
    finally:
        other.kill(), other.wait()


def test_env_fixes_the_count_and_rejects_garbage(tmp_path, monkeypatch):
    monkeypatch.setenv(fair_threads.ENV_THREADS, "3")
    assert fair_threads.threads_now(tmp_path) == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(fair_threads.ENV_THREADS, bad)
        with pytest.raises(ValueError, match="TTFS_LAB_THREADS must be a positive integer"):
            fair_threads.threads_now(tmp_path)


def test_run_dir_is_shared_and_sticky(tmp_path, monkeypatch):
    monkeypatch.setenv(fair_threads.ENV_RUN_DIR, str(tmp_path / "run"))
    path = fair_threads.run_dir()
    assert path == tmp_path / "run" and (path.stat().st_mode & 0o7777) == 0o1777


def test_unusable_run_dir_never_stops_training(tmp_path, monkeypatch):
    monkeypatch.delenv(fair_threads.ENV_THREADS, raising=False)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv(fair_threads.ENV_RUN_DIR, str(locked / "run"))
    monkeypatch.setattr(fair_threads.Path, "mkdir", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with fair_threads.Claim() as claim:
        assert claim.path is None and claim.threads == fair_threads.cores()


def test_background_claim_lowers_only_the_training_threads_priority(tmp_path, monkeypatch):
    monkeypatch.delenv(fair_threads.ENV_THREADS, raising=False)
    import threading

    seen = {}

    def train():
        with fair_threads.Claim(tmp_path, background=True) as claim:
            seen["claim"] = claim.nice
            seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            child = threading.Thread(target=lambda: seen.update(child=os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
            child.start(), child.join()

    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = threading.Thread(target=train)
    worker.start(), worker.join()
    expected = max(main_before, fair_threads.BACKGROUND_NICE)
    assert seen == {"claim": expected, "thread": expected, "child": expected}  # its own threads inherit it
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before  # the main thread keeps its own
    with fair_threads.Claim(tmp_path) as claim:  # not background: nothing changes
        assert claim.nice is None and os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before
