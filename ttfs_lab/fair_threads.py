"""Fair thread counts when many kernels train on one machine (a workshop server).

With K kernels training at once on C cores, each one asking for C threads makes K*C runnable
threads: every parallel region then waits for time slices of its own siblings and nobody gets
faster. The fair share is

    threads = max(1, floor(C / K))

where C = the cores this process may run on (``os.sched_getaffinity``) and K = the kernels
training right now, counted through claim files in a run folder shared by every user of the
machine (``$TTFS_LAB_RUN_DIR``, default ``<tmp>/ttfs-lab-run``, mode 1777 like /tmp): a
training loop creates ``train-<pid>`` there while it runs and removes it when it stops; a file
whose process is gone (a killed kernel) is not counted.

``TTFS_LAB_THREADS=n`` fixes the count (no policy); the default is the policy.

A background training thread also steps back in the queue for the CPU: ``Claim(background=True)``
raises the calling thread's nice value to ``BACKGROUND_NICE`` (Linux: per thread; the threads
it starts inherit it). Training takes whatever CPU is left, but the kernel's main thread, which
answers the student's controls, and the servers between page and kernel run first. With 30
kernels on 2 cores and equal priorities, a control's reply queues behind 30 training threads
(benchmarks/classroom.py: seconds of latency). An unprivileged process cannot lower its nice
value again, so it is set per training thread, which ends when training pauses.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

ENV_THREADS = "TTFS_LAB_THREADS"
ENV_RUN_DIR = "TTFS_LAB_RUN_DIR"
BACKGROUND_NICE = 10  # CFS weight 110 against 1024 at nice 0: ~10 % while interactive work waits


def background_priority(nice: int = BACKGROUND_NICE) -> int | None:
    """Raise the calling thread's nice value to at least ``nice``; returns the value now (None
    where threads have no nice value of their own: not Linux)."""
    if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return None
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:  # a sandbox without the call: train at the same priority
        return None


def run_dir() -> Path:
    """The shared folder of claim files (created world-writable and sticky, like /tmp)."""
    path = Path(os.environ.get(ENV_RUN_DIR) or Path(tempfile.gettempdir()) / "ttfs-lab-run")
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(path, 0o1777)  # every student's kernel adds its own file; none removes another's
        except PermissionError:
            pass
    return path


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def fair_share(n_cores: int, n_training: int) -> int:
    """max(1, n_cores // n_training): threads per training kernel."""
    if n_cores < 1 or n_training < 0:
        raise ValueError(f"need n_cores >= 1 and n_training >= 0, got {n_cores}, {n_training}")
    return max(1, n_cores // max(1, n_training))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def training_kernels(folder: Path | None = None) -> int:
    """Processes that hold a claim file and are still alive."""
    folder = folder or run_dir()
    count = 0
    for path in folder.glob("train-*"):
        try:
            pid = int(path.name.removeprefix("train-"))
        except ValueError:
            continue
        if _alive(pid):
            count += 1
        else:
            path.unlink(missing_ok=True)  # stale (killed kernel); fails quietly for others' files
    return count


def threads_now(folder: Path | None = None) -> int:
    """The thread count this process should use now (TTFS_LAB_THREADS wins)."""
    fixed = os.environ.get(ENV_THREADS, "").strip()
    if fixed:
        try:
            n = int(fixed)
        except ValueError:
            raise ValueError(f"{ENV_THREADS} must be a positive integer, got {fixed!r}") from None
        if n < 1:
            raise ValueError(f"{ENV_THREADS} must be a positive integer, got {fixed!r}")
        return n
    try:
        return fair_share(cores(), training_kernels(folder))
    except OSError:  # the shared folder is unusable: this kernel alone
        return cores()


class Claim:
    """``with Claim() as c: ... c.apply()``: this process counts as training while inside;
    apply() sets the spike-time kernels' and torch's threads (of the calling thread) to the
    fair share and returns it. ``background=True`` (a training thread beside an interactive
    one): the calling thread also gets background_priority()."""

    def __init__(self, folder: Path | None = None, background: bool = False):
        self.folder = Path(folder) if folder is not None else None
        self.background = background
        self.nice: int | None = None
        self.path: Path | None = None
        self.threads: int | None = None
        self._previous = None

    def __enter__(self) -> "Claim":
        try:
            folder = self.folder or run_dir()
            self.path = folder / f"train-{os.getpid()}"
            self.path.touch()
        except OSError:  # no such folder and none can be made: train on, just not counted
            self.path = None
        if self.background:
            self.nice = background_priority()
        from . import native

        self._previous = native.get_num_threads()
        self.apply()
        return self

    def apply(self) -> int:
        import torch

        from . import native

        n = threads_now(self.folder)
        if n != self.threads:
            native.set_num_threads(n)
            torch.set_num_threads(n)  # the calling thread's intra-op pool
            self.threads = n
        return n

    def __exit__(self, *exc):
        from . import native

        native.set_num_threads(self._previous)
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self.path = None
        return False
