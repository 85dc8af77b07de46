"""TrainingRunner: trains the state's network in a background thread, so the kernel stays free.

The worker loop calls Trainer.train_batch() under ``state.lock`` (views read the network under
the same lock, so they never see a half-applied optimizer step). The trainer's event callback
only records; every so often it *publishes* -- copies the record into ``state.history`` and
bumps ``state.weights_version`` -- and the views redraw, in this thread, right there.

Throttling: after a publish that took ``cost`` seconds the next one waits at least
max(min_interval, cost * (1 - f) / f), so drawing takes at most a fraction f (default 15 %)
of the time. ``draw_seconds`` / ``train_seconds`` measure what it really cost.
"""
from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref

from ttfs_lab import fair_threads
from ttfs_lab.hardware import InTheLoop
from ttfs_lab.hardware.in_the_loop import clamp_to_hardware
from ttfs_lab.train import Trainer

def _warm_up():
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


_RUNNERS = weakref.WeakSet()


@atexit.register
def _stop_all():
    """At interpreter exit, end training threads between batches: a daemon thread killed
    inside torch aborts the process."""
    for runner in list(_RUNNERS):
        runner.pause(wait=60.0)


HISTORY_KEYS = ("step", "loss", "accuracy", "epoch", "epoch_step", "validation_accuracy")


class TrainingRunner:
    def __init__(self, state, min_interval: float = 1.0, max_draw_fraction: float = 0.15, threads: int | None = None):
        if not 0 < max_draw_fraction < 1:
            raise ValueError(f"max_draw_fraction must lie in (0, 1), got {max_draw_fraction!r}")
        self.state = state
        self.min_interval = min_interval
        self.max_draw_fraction = max_draw_fraction
        self.threads = threads  # torch intra-op threads of the training thread (None: inherit)
        self.thread: threading.Thread | None = None
        self.error: str | None = None
        self.draw_seconds = self.train_seconds = self.loop_seconds = self.loop_cpu_seconds = 0.0
        self.publishes = 0
        self._stop = threading.Event()
        self._record = {key: list(state.history.get(key, [])) for key in HISTORY_KEYS}
        self._next_publish = 0.0
        self._drawn_in_batch = 0.0  # publish time spent inside the current train_batch()
        self._publishing = False
        self.listeners = []  # callables(event): "epoch" after each epoch, "stopped" when training stops
        state.observe(self._on_history_reset, names="history")
        _RUNNERS.add(self)
        # The first torch optimizer pulls in torch._dynamo: seconds of imports. Do them now,
        # off the kernel's thread, rather than when the user first presses play or step.
        threading.Thread(target=_warm_up, name="ttfs-lab-warm-up").start()

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
        return self.thread is not None and self.thread.is_alive()

    def start(self):
        """Train in the background until state.epochs epochs are done or pause()."""
        if self.running:
            return
        trainer = self.trainer()
        if self.epochs_left() <= 0:
            raise ValueError(f"all {self.state.epochs} epochs are done: raise 'epochs' or reset")
        self._stop.clear()
        self.error = None
        self.state.status = "running"
        self._next_publish = time.perf_counter() + self.min_interval  # the views are up to date now
        self.thread = threading.Thread(target=self._work, args=(trainer,), name="ttfs-lab-training", daemon=True)
        self.thread.start()

    def pause(self, wait: float | None = None):
        """Stop after the current batch; ``wait`` seconds to join the thread (None: don't)."""
        self._stop.set()
        if wait is not None and self.thread is not None:
            self.thread.join(wait)

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
        if self.thread is not None:
            self.thread.join(timeout)

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

    # ------------------------------------------------------------ worker thread
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
                started, epochs = time.perf_counter(), len(self._record["epoch"])
                with self.state.lock:
                    trainer.train_batch()  # the callback below may publish (and draw) inside
                self.train_seconds += time.perf_counter() - started - self._drawn_in_batch
                self._drawn_in_batch = 0.0
                if len(self._record["epoch"]) > epochs:
                    self._notify("epoch")
                    if self.threads is None:
                        claim.apply()
        except Exception as error:  # shown by the panel; a thread must not die silently
            self.error = f"training stopped: {type(error).__name__}: {error}"
        finally:
            # Training proper, throttled redraws included; the final redraws below are not.
            self.loop_seconds = time.perf_counter() - loop_started
            self.loop_cpu_seconds = time.thread_time() - loop_cpu  # this thread's CPU only
            claim.__exit__(None, None, None)
            self.publish()
            self.state.status = "done" if self.epochs_left() <= 0 else "paused"
            self._notify("stopped")

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
        if threading.current_thread() is self.thread and time.perf_counter() >= self._next_publish:
            self._drawn_in_batch += self.publish()

    def publish(self) -> float:
        """Copy the record into the state and let the views redraw; returns the seconds taken."""
        started = time.perf_counter()
        self._publishing = True
        try:
            self.state.history = {key: list(values) for key, values in self._record.items()}
            self.state.weights_changed()
        finally:
            self._publishing = False
        cost = time.perf_counter() - started
        self.draw_seconds += cost
        self.publishes += 1
        f = self.max_draw_fraction
        self._next_publish = time.perf_counter() + max(self.min_interval, cost * (1 - f) / f)
        return cost

    def _on_history_reset(self, change):
        if not self._publishing:  # reset() or restore(): start from what the state holds
            self._record = {key: list(change["new"].get(key, [])) for key in HISTORY_KEYS}
