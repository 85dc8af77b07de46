"""No lost work: a dashboard's state saved in the student's own home, after every epoch and on pause.

Where: ``$TTFS_LAB_STATE_DIR/<app>/`` if that is set, else ``~/.local/share/ttfs-lab/<app>/``
-- the home of whoever runs the kernel (on the workshop hub: that student, folder mode 0700),
never the dashboard's folder (apps/ is shared by every user of a server).

How (so that nothing saved before is ever lost):

    <slot>/state-000012.json + state-000012.ckpt   one generation = LabState.save() (atomic writes)
    <slot>/latest.json                              {"generation": 12, "epoch": .., "saved_at": ..}

A save writes a *new* generation and then moves ``latest.json`` to it (atomic rename), and only
then removes generations older than the previous one. A save that fails half way (disk full,
killed kernel) leaves ``latest.json`` pointing at the last complete generation. Restoring
reads ``latest.json``; if that generation is unreadable it falls back to the one before.

``AutoSave(state, runner)`` hooks into ``TrainingRunner.listeners`` (called after each epoch
and when the training thread stops); ``AutoSavePanel`` offers restore / start fresh / download.

When: after every epoch and on every stop (Pause, the last epoch). While training runs in the
background the training thread only takes a copy (``LabState.capture``, under the state's lock at
the epoch's end: that is what makes a restore resume bit for bit; about a millisecond), and a
saver thread writes it: the JSON, the checkpoint and three fsyncs (~4 ms of CPU, 5-50 ms of wall
time on this machine's disk) would otherwise cost a playground epoch (~50 ms) about 20 %
(benchmarks/bench_widgets.py). If the disk is slower than the epochs, the saver writes the
newest copy and skips the ones it was too late for. A stop waits for the saver, then saves
once more in the stopping thread (the hub's stop and a kernel's shutdown rely on it).
"""
from __future__ import annotations

import base64
import errno
import html
import io
import json
import os
import re
import threading
import time
import zipfile
from pathlib import Path

import ipywidgets as widgets

from ttfs_lab.atomic import atomic_write

from .view import View

POINTER = "latest.json"
POINTER_FORMAT = "ttfs-lab-autosave"
KEEP = 2  # generations on disk: the latest and the one before (fallback if the latest is damaged)
_GENERATION = re.compile(r"state-(\d{6,})\.(json|ckpt)$")


def _base() -> Path:
    root = os.environ.get("TTFS_LAB_STATE_DIR")
    return Path(root).expanduser() if root else Path.home() / ".local" / "share" / "ttfs-lab"


def state_dir(app: str = "playground") -> Path:
    """The per-user folder of one dashboard's saves (see module docstring)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", app) or app.startswith("."):
        raise ValueError(f"app name {app!r}: use letters, digits, '.', '_' or '-'")
    return _base() / app


def user_file(name) -> Path:
    """Where a file the user names on a dashboard goes: an absolute path stays, a relative one
    lands in the user's own ``files`` folder beside the autosaves (never in the dashboard's
    folder, which every user of a server shares)."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else _base() / "files" / path


def explain(error: BaseException) -> str:
    """One plain sentence for an error of saving or restoring."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "the disk is full (no space left on device)"
    if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write there ({error.strerror})"
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class AutoSave:
    """Save ``state`` into ``folder`` (default: state_dir(app)) as numbered generations."""

    def __init__(self, state, runner=None, app: str = "playground", folder=None):
        self.state = state
        self.runner = runner
        self.folder = Path(folder) if folder is not None else state_dir(app)
        self._write_lock = threading.Lock()  # one writer at a time: generation numbers, pruning
        self._queue = threading.Condition()
        self._pending = None  # (capture, reason) for the saver thread, newest only
        self._writing = False
        self._saver = None
        self.skipped = 0  # background copies replaced by a newer one before they were written
        self.last_error: str | None = None
        self.last_saved: dict | None = None
        self.on_change = []  # callables(autosave), e.g. the panel's readout
        if runner is not None:
            runner.listeners.append(self._on_runner)

    # ------------------------------------------------------------ reading
    def latest(self) -> dict | None:
        """The pointer of the last complete save ({"generation", "epoch", ...}) or None."""
        path = self.folder / POINTER
        if not path.exists():
            return None
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"the saved-state index {path} is damaged ({explain(error)})") from error
        if not isinstance(info, dict) or info.get("format") != POINTER_FORMAT or not isinstance(info.get("generation"), int):
            raise ValueError(f"{path} is not a ttfs-lab autosave index")
        return info

    def generations(self) -> list[int]:
        """Generation numbers with a settings file on disk, newest first."""
        if not self.folder.is_dir():
            return []
        found = {int(m.group(1)) for p in self.folder.iterdir() if (m := _GENERATION.match(p.name)) and m.group(2) == "json"}
        return sorted(found, reverse=True)

    def _path(self, generation: int) -> Path:
        return self.folder / f"state-{generation:06d}.json"

    # ------------------------------------------------------------ saving
    def save(self, reason: str = "saved") -> dict | None:
        """Write a new generation and point latest.json at it, now. Never raises for disk errors:
        returns None and sets ``last_error`` (the previous save stays intact)."""
        return self._write(self._capture(), reason)

    def save_later(self, reason: str = "saved"):
        """Copy the state now; the saver thread writes it (the newest copy wins)."""
        capture = self._capture()
        with self._queue:
            if self._pending is not None:
                self.skipped += 1
            self._pending = (capture, reason)
            if self._saver is None or not self._saver.is_alive():
                self._saver = threading.Thread(target=self._save_loop, name="ttfs-lab-autosave", daemon=True)
                self._saver.start()
            self._queue.notify_all()

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until the saver thread has written what it was given; False on time-out."""
        with self._queue:
            return self._queue.wait_for(lambda: self._pending is None and not self._writing, timeout)

    def _save_loop(self):
        while True:
            with self._queue:
                if not self._queue.wait_for(lambda: self._pending is not None, timeout=30.0):
                    self._saver = None  # idle: end; the next save_later starts another
                    return
                (capture, reason), self._pending = self._pending, None
                self._writing = True
            try:
                self._write(capture, reason)
            finally:
                with self._queue:
                    self._writing = False
                    self._queue.notify_all()

    def _capture(self):
        runner = getattr(self.state, "_runner", None)
        return self.state.capture(history=runner.record() if runner is not None else None)

    def _write(self, capture, reason: str) -> dict | None:
        with self._write_lock:
            return self._write_locked(capture, reason)

    def _write_locked(self, capture, reason: str) -> dict | None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            generation = max(self.generations(), default=0) + 1
            path = self._path(generation)
            capture.write(path)
            h = capture.history
            accuracy = h.get("validation_accuracy") or [None]
            info = {"format": POINTER_FORMAT, "generation": generation, "file": path.name,
                    "epoch": len(h.get("epoch", [])), "epochs": self.state.epochs,
                    "batch": len(h.get("step", [])), "validation_accuracy": accuracy[-1],
                    "reason": reason, "saved_at": time.time()}
            atomic_write(self.folder / POINTER, lambda f: f.write(json.dumps(info)), binary=False)
        except (OSError, ValueError, RuntimeError) as error:
            self.last_error = f"could not save ({explain(error)}); the last save is kept"
            self._cleanup_partial()
            self._changed()
            return None
        self.last_error, self.last_saved = None, info
        self._prune(generation)
        self._changed()
        return info

    def _cleanup_partial(self):
        """Remove files of generations newer than the pointer (a failed save's leftovers)."""
        try:
            latest = (self.latest() or {}).get("generation", 0)
        except ValueError:
            return
        for p in self._files():
            if int(_GENERATION.match(p.name).group(1)) > latest:
                p.unlink(missing_ok=True)

    def _prune(self, newest: int):
        keep = {g for g in self.generations() if g <= newest}
        keep = set(sorted(keep, reverse=True)[:KEEP])
        for p in self._files():
            g = int(_GENERATION.match(p.name).group(1))
            if g < newest and g not in keep:
                p.unlink(missing_ok=True)

    def _files(self):
        if not self.folder.is_dir():
            return []
        return [p for p in self.folder.iterdir() if _GENERATION.match(p.name)]

    # ------------------------------------------------------------ restoring
    def restore(self) -> dict:
        """Load the latest save into the state (the one before, if the latest is damaged).
        Returns the pointer info of what was loaded; raises ValueError with the reason."""
        info = self.latest()
        if info is None:
            raise ValueError(f"nothing saved yet in {self.folder}")
        candidates = [info["generation"]] + [g for g in self.generations() if g < info["generation"]]
        problems = []
        for generation in candidates:
            try:
                self.state.restore(self._path(generation))
            except (ValueError, OSError, KeyError, TypeError) as error:
                problems.append(f"save {generation}: {explain(error)}")
                continue
            loaded = dict(info) if generation == info["generation"] else {
                "generation": generation, "epoch": len(self.state.history.get("epoch", [])), "fallback": True}
            loaded["problems"] = problems
            return loaded
        raise ValueError("no saved state could be read: " + "; ".join(problems))

    # ------------------------------------------------------------ download
    def archive(self) -> bytes:
        """The latest save (settings JSON + checkpoint) as a zip file's bytes."""
        info = self.latest()
        if info is None:
            raise ValueError("nothing saved yet: train an epoch or press Pause first")
        path = self._path(info["generation"])
        doc = json.loads(path.read_text())
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, "lab-state.json")
            z.write(self.folder / doc["checkpoint"], doc["checkpoint"])
        return buffer.getvalue()

    # ------------------------------------------------------------ runner hook
    def _on_runner(self, event: str):
        if event == "stopped":
            self.flush()
            self.save(reason="on pause")
        elif event == "epoch" and self._in_background():
            self.save_later(reason="after an epoch")
        elif event == "epoch":
            self.save(reason="after an epoch")

    def _in_background(self) -> bool:
        """Training runs in the runner's thread (not a Step by hand)."""
        thread = getattr(self.runner, "thread", None)
        return thread is not None and thread.is_alive()

    def _changed(self):
        for callback in list(self.on_change):
            callback(self)


def describe(info: dict) -> str:
    """"epoch 12 of 300, validation 85.3 %, saved 14:02:11" for a pointer."""
    parts = [f"epoch {info.get('epoch', '?')} of {info.get('epochs', '?')}", f"batch {info.get('batch', '?')}"]
    if isinstance(info.get("validation_accuracy"), (int, float)):
        parts.append(f"validation {100 * info['validation_accuracy']:.1f} %")
    if isinstance(info.get("saved_at"), (int, float)):
        parts.append("saved " + time.strftime("%H:%M:%S", time.localtime(info["saved_at"])))
    return ", ".join(parts)


class AutoSavePanel(View):
    """``AutoSavePanel(state, runner, app="playground")``: says what is saved, offers to restore
    the last save on open, and a download link of it."""

    def __init__(self, state=None, runner=None, app: str = "playground", folder=None, **kwargs):
        super().__init__(state, **kwargs)
        if runner is None:
            from .runner import TrainingRunner

            runner = TrainingRunner.for_state(self.state)
        self.autosave = AutoSave(self.state, runner, app=app, folder=folder)
        self.readout = widgets.HTML()
        self.readout.add_class("ttfs-autosave-readout")
        self.offer = widgets.HTML()
        self.offer.add_class("ttfs-autosave-offer")
        self.buttons = {}
        for name, label, tip in (("restore", "Restore", "load your last saved state"),
                                 ("fresh", "Start fresh", "keep the saved state on disk, start from the settings"),
                                 ("download", "Download", "download your last saved state as a zip file")):
            self.buttons[name] = self.add_control(f"autosave_{name}", widgets.Button(description=label, tooltip=tip,
                                                                                     layout=widgets.Layout(width="110px")))
            self.buttons[name].on_click(self.guard(getattr(self, f"on_{name}")))
        self.link = widgets.HTML()
        self.link.add_class("ttfs-autosave-link")
        self.autosave.on_change.append(lambda _: self._update())
        wrap = lambda: widgets.Layout(flex_flow="row wrap", align_items="center")  # noqa: E731 (narrow columns)
        self.offer_box = widgets.HBox([self.offer, self.buttons["restore"], self.buttons["fresh"]], layout=wrap())
        self.children = [self.offer_box, widgets.HBox([self.readout, self.buttons["download"], self.link], layout=wrap()),
                         self.status]
        try:
            found = self.autosave.latest()
        except ValueError as error:
            found = None
            self.show_message(f"{error}; it was left as it is")
        if found is None:
            self.offer_box.layout.display = "none"
        else:
            self.offer.value = f"<b>Saved work found</b> ({html.escape(describe(found))})"
        self._update()

    def on_restore(self, _=None):
        info = self.autosave.restore()
        self.offer_box.layout.display = "none"
        note = f" (the newest save was unreadable: {'; '.join(info['problems'])})" if info.get("problems") else ""
        self.show_message(f"restored {describe(info)}{note}", kind="info")
        self._update()

    def on_fresh(self, _=None):
        self.offer_box.layout.display = "none"
        self.clear_message()

    def on_download(self, _=None):
        data = base64.b64encode(self.autosave.archive()).decode()
        self.link.value = (f'<a download="ttfs-lab-state.zip" href="data:application/zip;base64,{data}">'
                           "save ttfs-lab-state.zip</a>")

    def _update(self):
        a = self.autosave
        if a.last_error:
            self.show_message(a.last_error)
        where = html.escape(str(a.folder).replace(str(Path.home()), "~", 1))
        tip = f'title="saved after every epoch and on Pause, in {where} (only you can read it)"'
        if a.last_saved:
            self.readout.value = f'<span {tip}>Saved: {html.escape(describe(a.last_saved))}</span>'
        else:
            self.readout.value = f'<span {tip}>Your work is saved after every epoch and on Pause.</span>'

