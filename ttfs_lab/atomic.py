"""Atomic file writes: nothing half-written, nothing lost, nothing left behind.

``atomic_write(path, write)`` writes one file; ``AtomicGroup`` writes several that belong
together (a run's checkpoint.pt and metrics.json) so that they all change or none does:

1. every file is written to a temporary file beside its target and fsynced; an error or a
   Ctrl-C here removes the temporary files and leaves every target as it was;
2. then the temporary files are renamed over their targets with SIGINT/SIGTERM held back
   (delivered right after), and a rename that fails puts the targets already renamed back
   (the old files are kept as hard links until the group is complete).

New files get the permissions the umask gives (0666 & ~umask, as ``open()`` would), not
mkstemp's private 0600, so a course's shared folder can read them.

``check_output_folder(folder, names)`` finds, before any long work starts, a destination that
cannot take the outputs (a file where the folder should be, a folder where a file should be,
a read-only or unwritable place) by creating the folder and a probe file in it.
"""
from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable

_DEFERRED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class DestinationError(ValueError):
    """An output destination that cannot be written (one line, says what and where)."""


def current_umask() -> int:
    """The process's umask (read from /proc where possible: setting it to ask is racy)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary_beside(path: Path, kind: str = "tmp"):
    """(fd, name) of a new file in path's folder, with the umask's permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{kind}", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, Path(tmp)


@contextlib.contextmanager
def deferred_signals(signals: Iterable[int] = _DEFERRED_SIGNALS):
    """Hold back SIGINT/SIGTERM/SIGHUP inside the block; re-raise them when it ends.

    Only the main thread can install signal handlers (and Python runs them only there); in
    another thread this does nothing, and no KeyboardInterrupt can arrive there anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {}
    try:
        for signum in signals:
            if signal.getsignal(signum) is None:  # installed outside Python: leave it alone
                continue
            try:
                previous[signum] = signal.signal(signum, lambda s, _frame: received.append(s))
            except (ValueError, OSError):
                continue
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)  # now handled as it would have been (KeyboardInterrupt, exit)


class AtomicGroup:
    """Files that change together or not at all.

        with AtomicGroup() as group:
            group.add(out / "checkpoint.pt", lambda f: torch.save(payload, f))
            group.add(out / "metrics.json", lambda f: json.dump(metrics, f), binary=False)
        # leaving the block without an error commits both; with an error, neither

    ``committed`` tells afterwards whether the targets were replaced.
    """

    def __init__(self):
        self._staged: list[tuple[Path, Path]] = []  # (temporary file, target)
        self.committed = False

    def add(self, path, write: Callable, binary: bool = True) -> Path:
        """Write ``write(file)`` to a temporary file beside ``path`` (fsynced); committed later."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = None
        try:
            fd, tmp = _temporary_beside(path)
            with os.fdopen(fd, "wb" if binary else "w") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise
        self._staged.append((tmp, path))
        return path

    def discard(self):
        """Remove the temporary files; the targets stay as they were."""
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []

    def commit(self):
        """Rename every temporary file over its target, all or none (signals held back)."""
        with deferred_signals():
            backups = {}
            done = []
            try:
                for _, target in self._staged:
                    backups[target] = _keep_old(target)
                for tmp, target in self._staged:
                    os.replace(tmp, target)
                    done.append(target)
                for folder in dict.fromkeys(target.parent for _, target in self._staged):
                    _fsync_folder(folder)
            except BaseException:
                for target in reversed(done):  # put the old files back
                    old = backups.get(target)
                    if old is not None:
                        os.replace(old, target)
                    else:
                        target.unlink(missing_ok=True)
                raise
            finally:
                for old in backups.values():
                    if old is not None:
                        old.unlink(missing_ok=True)
                self.discard()
            self.committed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.discard()  # whatever happened, no temporary file stays behind
        return False


def _keep_old(target: Path) -> Path | None:
    """A hard link to the current target file (to restore it), or None if there is none."""
    try:
        if not stat.S_ISREG(os.stat(target).st_mode):
            return None
    except FileNotFoundError:
        return None
    for attempt in range(100):
        old = target.with_name(f".{target.name}.{os.getpid()}.{attempt}.old")
        try:
            os.link(target, old)
            return old
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system: no rollback for this file
            return None
    return None


def _fsync_folder(folder: Path):
    """Make the renames durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write: Callable, binary: bool = True) -> Path:
    """Call ``write(file)`` on a temporary file, then rename it over ``path``."""
    with AtomicGroup() as group:
        group.add(path, write, binary=binary)
    return Path(path)


def check_output_folder(folder, names: Iterable[str] = (), label: str | None = None) -> Path:
    """Make sure ``folder`` can take the files ``names``: create it, write and remove a probe
    file in it. Raises DestinationError (one line: what is wrong, where; prefixed with
    ``label``, e.g. the option's name) otherwise.

    A probe is the only test that holds for every user: permission bits do not stop root,
    but a read-only mount, an immutable folder or a file in the path do.
    """
    folder = Path(folder)
    try:
        try:
            _check_output_folder(folder, names)
        except OSError as error:  # e.g. a name too long for the file system
            raise DestinationError(f"cannot use {folder}: {error.strerror or error}") from None
    except DestinationError as error:
        raise DestinationError(f"{label}: {error}" if label else str(error)) from None
    return folder


def _check_output_folder(folder: Path, names):
    if folder.exists() and not folder.is_dir():
        raise DestinationError(f"{folder} is a file, not a folder")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DestinationError(f"cannot create the folder {folder}: {parent} is a file")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DestinationError(f"cannot create the folder {folder}: {error.strerror or error}") from None
    for name in names:
        target = folder / name
        if target.is_dir():
            raise DestinationError(f"{target} is a folder; the output file {name} cannot replace it")
    try:
        fd, probe = _temporary_beside(folder / "write-test", kind="probe")
        os.close(fd)
        probe.unlink()
    except OSError as error:
        raise DestinationError(f"cannot write into {folder}: {error.strerror or error}") from None
