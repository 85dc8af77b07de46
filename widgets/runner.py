"""TrainingRunner: trains the state's network in a background thread, so the kernel stays free,
and redraws the views live from a second thread while it trains.

Two threads while training runs:

- training (``ttfs-lab-training``, niced: fair_threads.Claim(background=True)) runs
  Trainer.train_batch() under ``state.lock`` and, still under it, takes a *snapshot* of the
  weights (a clone: microseconds) -- then goes on at once; it never draws and never waits for
  drawing;
- drawing (``ttfs-lab-drawing``, started from the caller's thread, so at the kernel's
  priority) waits for a new snapshot, then *publishes*: copies the training record into
  ``state.history`` (curves, readouts) and hands the snapshot to the live views
  (``runner.live_views``: callables(snapshot), the decision map), which compute from it without
  any lock, so drawing never waits for a batch. At most every SLOW_INTERVAL s it also bumps
  ``state.weights_version``: the views below the first screen (membranes, rasters, chip, the
  hardware accuracy) follow at that pace.

Pacing (widgets.pacing.Pacer): the next live redraw starts at least
max(min_interval, cpu (1 - f) / (f share)) after the last one, cpu = the drawing thread's CPU
time for it, f = max_draw_fraction, share = this kernel's part of a core when several train.
When training stops, the drawing thread publishes once more (the final record, then the status,
on which the map returns to its full grid) and ends.
"""
from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from dataclasses import dataclass

from ttfs_lab import TTFSNetwork, fair_threads
from ttfs_lab.hardware import InTheLoop
from ttfs_lab.hardware.in_the_loop import clamp_to_hardware
from ttfs_lab.train import Trainer

from .pacing import LIVE_INTERVAL, MAX_DRAW_FRACTION, SLOW_INTERVAL, Pacer, draw_interval


_RUNNERS = weakref.WeakSet()


@atexit.register
def _stop_all():
    """At interpreter exit, end training threads between batches: a daemon thread killed
    inside torch aborts the process."""
    for runner in list(_RUNNERS):
        runner.pause(wait=60.0)


HISTORY_KEYS = ("step", "loss", "accuracy", "epoch", "epoch_step", "validation_accuracy")
BATCH_KEYS, EPOCH_KEYS = ("step", "loss", "accuracy"), ("epoch", "epoch_step", "validation_accuracy")


@dataclass(frozen=True)
class Snapshot:
    """The weights after batch ``steps`` (detached clones: training goes on meanwhile) and what
    is needed to rebuild the network from them; ``epochs`` = epochs finished then."""

    weights: tuple
    params: object
    bias_time: float
    steps: int
    epochs: int

    def network(self, dtype=None) -> TTFSNetwork:
        """A network with these weights (in ``dtype``, default theirs); its own tensors."""
        dtype = dtype or self.weights[0].dtype
        return TTFSNetwork.from_weights(list(self.weights), params=self.params, bias_time=self.bias_time, dtype=dtype)

    @classmethod
    def of(cls, network, steps: int, epochs: int) -> "Snapshot":
        return cls(tuple(w.detach().clone() for w in network.weights()), network.params, network.bias_time,
                   steps, epochs)


class TrainingRunner:
    def __init__(self, state, min_interval: float = LIVE_INTERVAL, max_draw_fraction: float = MAX_DRAW_FRACTION,
                 threads: int | None = None, slow_interval: float = SLOW_INTERVAL):
        draw_interval(0.0, min_interval, max_draw_fraction)  # ValueError for a fraction outside (0, 1)
        self.state = state
        self.min_interval = min_interval
        self.max_draw_fraction = max_draw_fraction
        self.slow_interval = slow_interval
        self.threads = threads  # torch intra-op threads of the training thread (None: inherit)
        self.thread: threading.Thread | None = None
        self.drawer: threading.Thread | None = None
        self.error: str | None = None
        self.draw_seconds = self.draw_cpu_seconds = self.train_seconds = self.train_cpu_seconds = 0.0
        self.loop_seconds = self.loop_cpu_seconds = 0.0
        self.publishes = 0  # publishes of the record (live, slow, step and final ones)
        self.live_publishes = 0  # of them, live ones from the drawing thread
        self.pacer: Pacer | None = None  # the live redraws' pacing, per run
        self.live_views = []  # callables(Snapshot): redrawn at every live publish (the drawing thread)
        self._stop = threading.Event()
        self._fresh = threading.Event()  # a snapshot newer than the last one drawn
        self._training_done = threading.Event()
        self._snapshot: Snapshot | None = None
        self._record = {key: list(state.history.get(key, [])) for key in HISTORY_KEYS}
        self._publishing = False
        self.listeners = []  # callables(event): "epoch" after each epoch, "stopped" when training stops
        state.observe(self._on_history_reset, names="history")
        _RUNNERS.add(self)

    @classmethod
    def for_state(cls, state) -> "TrainingRunner":
        """The one runner of a LabState (shared by the training and hardware panels)."""
        runner = getattr(state, "_runner", None)
        if runner is None:
            runner = state._runner = cls(state)
        return runner

    # ------------------------------------------------------------ control (main thread)
    @property
    def running(self) -> bool:
        """Training, or the drawing thread still publishing its end."""
        return any(t is not None and t.is_alive() for t in (self.thread, self.drawer))

    def start(self):
        """Train in the background until state.epochs epochs are done or pause()."""
        if self.running:
            return
        trainer = self.trainer()
        if self.epochs_left() <= 0:
            raise ValueError(f"all {self.state.epochs} epochs are done: raise 'epochs' or reset")
        self._stop.clear()
        self._fresh.clear()
        self._training_done.clear()
        self._snapshot = None
        self.error = None
        self.state.status = "running"
        self.pacer = Pacer(self.min_interval, self.max_draw_fraction)
        self.pacer.next_at = time.perf_counter() + self.min_interval  # the views are up to date now
        self.thread = threading.Thread(target=self._work, args=(trainer,), name="ttfs-lab-training", daemon=True)
        self.drawer = threading.Thread(target=self._draw, name="ttfs-lab-drawing", daemon=True)
        self.thread.start()
        self.drawer.start()

    def pause(self, wait: float | None = None):
        """Stop after the current batch; ``wait`` seconds to join the threads (None: don't)."""
        self._stop.set()
        if wait is not None:
            self.join(wait)

    def step(self):
        """One batch in the calling thread (when not running), then publish."""
        if self.running:
            raise ValueError("training is running: pause it first to step batch by batch")
        trainer = self.trainer()
        epochs = len(self._record["epoch"])
        with self.state.lock:
            trainer.train_batch()
        self.publish()
        if self.state.status != "done":
            self.state.status = "paused"
        if len(self._record["epoch"]) > epochs:
            self._notify("epoch")

    def reset(self):
        self.pause(wait=30.0)
        self.state.reset()

    def join(self, timeout: float | None = None):
        """Wait for training and its final publish (``timeout`` s for each thread)."""
        for thread in (self.thread, self.drawer):
            if thread is not None:
                thread.join(timeout)

    # ------------------------------------------------------------ trainer
    def trainer(self) -> Trainer:
        """The state's trainer, (re)built when the settings it was made with changed; a new
        one continues from the current weights with a fresh optimizer."""
        state = self.state
        config = state.config()
        trainer = state.trainer
        if trainer is None or trainer.network is not state.network or trainer.config.replace(epochs=config.epochs) != config:
            trainer = Trainer(config, network=state.network, data=state.splits(), progress=False)
            state.trainer = trainer
        if self._on_event not in trainer.callbacks:
            trainer.callbacks.append(self._on_event)
        trainer.substrate = state.training_substrate()
        if isinstance(trainer.substrate, InTheLoop):
            with state.lock:  # start inside the weight range the chip can hold
                clamp_to_hardware(trainer.substrate.hardware, trainer.network)
        return trainer

    def epochs_left(self) -> int:
        return self.state.epochs - len(self._record["epoch"])

    # ------------------------------------------------------------ training thread
    def _work(self, trainer):
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)  # this thread only (OpenMP's count is per thread)
        # Else the fair share of the cores among the kernels training now (re-checked per epoch).
        # It also yields the CPU to the kernel's main thread (controls) and the servers.
        claim = fair_threads.Claim(background=True) if self.threads is None else contextlib.nullcontext()
        loop_started, loop_cpu = time.perf_counter(), time.thread_time()
        try:
            claim.__enter__()
            while not self._stop.is_set() and self.epochs_left() > 0:
                started, cpu, epochs = time.perf_counter(), time.thread_time(), len(self._record["epoch"])
                with self.state.lock:
                    trainer.train_batch()
                    self._snapshot = Snapshot.of(trainer.network, len(self._record["step"]),
                                                 len(self._record["epoch"]))
                self._fresh.set()
                self.train_seconds += time.perf_counter() - started
                self.train_cpu_seconds += time.thread_time() - cpu
                if len(self._record["epoch"]) > epochs:
                    self._notify("epoch")
                    if self.threads is None:
                        claim.apply()
        except Exception as error:  # shown by the panel; a thread must not die silently
            self.error = f"training stopped: {type(error).__name__}: {error}"
        finally:
            self.loop_seconds = time.perf_counter() - loop_started
            self.loop_cpu_seconds = time.thread_time() - loop_cpu  # this thread's CPU only
            claim.__exit__(None, None, None)
            self._training_done.set()
            self._fresh.set()  # wake the drawing thread: it publishes the end

    # ------------------------------------------------------------ drawing thread
    def _draw(self):
        last_slow = time.perf_counter()
        if self.threads is None:
            # Drawing, like training, steps back behind the kernel's main thread and the servers.
            # At the kernel's priority, the drawing threads of a classroom took the cores from
            # everyone's (background) training threads, and a training thread preempted while
            # holding the GIL kept its kernel's main thread from answering the controls
            # (benchmarks/classroom.py, 5 students: control -> redraw p50 3 s, p95 18 s).
            fair_threads.background_priority()
        try:
            while True:
                self._fresh.wait()
                if self._training_done.is_set():
                    break
                wait = self.pacer.wait_seconds()
                if wait > 0 and self._training_done.wait(wait):
                    break
                self._fresh.clear()
                snapshot = self._snapshot
                if snapshot is None:
                    continue
                started, cpu = time.perf_counter(), time.thread_time()
                slow = started - last_slow >= self.slow_interval
                self._publish_live(snapshot, slow)
                if slow:
                    last_slow = started
                cost = time.thread_time() - cpu
                self.draw_cpu_seconds += cost
                self.draw_seconds += time.perf_counter() - started
                self.pacer.drawn(started, cost)
        except Exception as error:
            self.error = f"live drawing stopped: {type(error).__name__}: {error}"
            self._training_done.wait()
        finally:
            self.thread.join()
            try:  # the end of the run: the whole record, then the status (the map's full grid)
                self.publish()
            finally:
                self.state.status = "done" if self.epochs_left() <= 0 else "paused"
                self._notify("stopped")

    def _publish_live(self, snapshot: Snapshot, slow: bool):
        """The record up to the snapshot into the state, the snapshot to the live views; with
        ``slow`` also weights_version (every view)."""
        r = self._record
        history = {key: r[key][:snapshot.steps] for key in BATCH_KEYS}  # the lists only grow meanwhile
        history.update({key: r[key][:snapshot.epochs] for key in EPOCH_KEYS})
        self._publishing = True
        try:
            self.state.history = history
            for view in list(self.live_views):
                view(snapshot)
            if slow:
                self.state.weights_changed()
        finally:
            self._publishing = False
        self.publishes += 1
        self.live_publishes += 1

    def _notify(self, event: str):
        """Tell the listeners (e.g. widgets.persistence.AutoSave); one that fails never stops training."""
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception as error:
                self.error = f"{event} listener failed: {type(error).__name__}: {error}"

    def record(self) -> dict:
        """A copy of the training record (ahead of state.history between publishes)."""
        return {key: list(values) for key, values in self._record.items()}

    def _on_event(self, event):
        r = self._record
        if event.kind == "batch":
            r["step"].append(len(r["step"]) + 1)
            r["loss"].append(event.loss)
            r["accuracy"].append(event.accuracy)
        else:
            r["epoch"].append(len(r["epoch"]) + 1)
            r["epoch_step"].append(len(r["step"]))
            r["validation_accuracy"].append(event.accuracy)

    def publish(self) -> float:
        """Copy the record into the state and let every view redraw; returns the seconds taken."""
        started = time.perf_counter()
        self._publishing = True
        try:
            self.state.history = self.record()
            self.state.weights_changed()
        finally:
            self._publishing = False
        self.publishes += 1
        return time.perf_counter() - started

    def _on_history_reset(self, change):
        if not self._publishing:  # reset() or restore(): start from what the state holds
            self._record = {key: list(change["new"].get(key, [])) for key in HISTORY_KEYS}
