"""The training loop with its batches fused into one native call (src/ttfs_train.inc).

A paper-protocol batch does about 10^4 flops per sample; run through torch autograd, an
optimizer and a few dozen small tensor operations, most of its time was per-batch overhead.
``FusedTrainer`` is a Trainer whose batches run in C: forward of every layer, the silent-neuron
count, the loss and its gradient, backward, the max_dw_norm rule, Adam and the weight bump,
with buffers allocated once per call and no Python between batches. Everything else is the
Trainer's: data, shuffling (one torch.randperm per epoch from the same generator), epochs,
the learning-rate schedule (StepLR on the same optimizer, ttfs_lab.train.adam, whose exp_avg /
exp_avg_sq / step state the kernel updates in place), validation, callbacks, checkpoints (interchangeable
with the Trainer's: a fused run resumes in the Trainer and back).

The Trainer stays the reference the fused step is tested against (tests/test_fused_training.py):
same spike times and gradients bit for bit (the kernel calls the native layer functions), the
loss, Adam and the clipping rule in the same formulas with their roundings as close as C gets
to torch's vectorised kernels (agreement to round-off, not bit for bit).

Without callbacks the rest of an epoch runs in one call (pause() and stop() still act after the
current batch: the kernel reads a flag after each batch); with callbacks one call per batch, so
each gets its TrainingEvent.

What it does not fuse (a clear error at construction, use Trainer): delays, input noise,
weight averaging, the margin loss, a substrate other than the ideal model, devices other than
the CPU, or a build without the native extension.
"""
from __future__ import annotations

import math

import torch

from .. import native
from ..spike_times import _MIN_SLOPE
from ..validation import _HEADROOM_LOG
from .adam import scalar_dtype
from .clipping import kernel_peak
from .config import TrainConfig
from .trainer import IdealSubstrate, Trainer, TrainingEvent, _EpochStats

# The scalar table's order (enum TS_* in src/ttfs_train.inc); one bump tolerance per layer follows.
_SCALARS = (
    "bias_time", "xi", "alpha", "beta", "loss_tau", "silent_time", "label_only", "skip_step",
    "bump", "max_dw_norm", "kernel_peak", "lr", "beta1", "beta2", "adam_eps", "exp_span", "half_log_max",
)
_REGIME_CODES = {"equal": 0, "double": 1, "general": 2}


def unsupported(config: TrainConfig, substrate=None) -> str | None:
    """Why this configuration cannot run fused (None: it can)."""
    if config.delays != "none":
        return "delays"
    if config.input_noise > 0:
        return "input noise"
    if config.weight_average > 0:
        return "weight averaging"
    if config.loss.kind != "paper":
        return f"the {config.loss.kind!r} loss"
    if substrate is not None and type(substrate) is not IdealSubstrate:
        return f"the substrate {type(substrate).__name__}"
    if not native.available():
        return "a build without the native extension (ttfs_lab._native)"
    return None


class FusedTrainer(Trainer):
    """Trainer whose batches run in one native call (module doc); same arguments.

    >>> trainer = FusedTrainer(TrainConfig(epochs=1), progress=False)   # doctest: +SKIP
    >>> history = trainer.run()                                           # doctest: +SKIP
    """

    def __init__(self, config: TrainConfig = TrainConfig(), network=None, data=None, callbacks=(),
                 progress: bool = True, substrate=None):
        reason = unsupported(config, substrate)
        if reason is not None:
            raise ValueError(f"FusedTrainer cannot train with {reason}; use ttfs_lab.train.Trainer")
        super().__init__(config, network=network, data=data, callbacks=callbacks, progress=progress,
                         substrate=substrate)
        weights = [layer.weight for layer in self.network.layers]
        dtype = weights[0].dtype
        if any(w.dtype != dtype or w.device.type != "cpu" or not w.is_contiguous() for w in weights):
            raise ValueError("FusedTrainer needs contiguous CPU weights of one dtype (float32 or float64)")
        group = self.optimizer.param_groups
        if len(group) != 1 or group[0]["weight_decay"] != 0 or group[0]["amsgrad"] or group[0]["maximize"]:
            raise ValueError("FusedTrainer runs plain Adam only (one parameter group, no weight decay)")
        x, y = self.data["train"]
        self._x = x.to(dtype).contiguous()
        if torch.isnan(self._x).any() or (self._x == -math.inf).any():
            raise ValueError("training input times must be finite or +inf (no spike)")
        self._y = y.to(torch.long).contiguous()
        if len(self._y) != len(self._x) or len(self._y) == 0:
            raise ValueError(f"training data: {len(self._x)} input rows for {len(self._y)} labels")
        if self._y.min() < 0 or self._y.max() >= config.n_classes:
            raise ValueError(f"training labels must lie in [0, {config.n_classes - 1}]")
        self._sizes = torch.tensor(self.network.sizes, dtype=torch.int64)
        self._state = torch.tensor([self._bump_value, -1.0, 0.0], dtype=torch.float64)
        # read by the kernel after every batch: set by pause() and stop() from any thread
        self._stop_flag = torch.zeros(1, dtype=torch.int32)

    # ---------------------------------------------------------------- control
    def pause(self):
        super().pause()
        self._stop_flag[0] = 1

    def stop(self):
        super().stop()
        self._stop_flag[0] = 1

    # ---------------------------------------------------------------- training
    def _advance(self):
        self._train_batches(1 if self.callbacks else None)

    def train_batch(self) -> TrainingEvent:
        """One mini-batch (a gradient step or a weight bump), run by the fused kernel."""
        return self._train_batches(1)

    def _batches_per_epoch(self) -> int:
        return -(-len(self._y) // self.config.batch_size)

    def _adam_state(self):
        """The optimizer's state tensors (created as its Adam.step creates them)."""
        tensors = []
        steps = set()
        for p in self.network.parameters():
            state = self.optimizer.state[p]
            if not state:
                state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            for key in ("exp_avg", "exp_avg_sq"):
                if not state[key].is_contiguous() or state[key].dtype != p.dtype:
                    state[key] = state[key].to(p.dtype).contiguous()
            steps.add(float(state["step"]))
            tensors.append(state)
        if len(steps) != 1:
            raise ValueError(f"the optimizer's parameters have different step counts {sorted(steps)}")
        return tensors, steps.pop()

    def _scalars(self) -> torch.Tensor:
        c, params = self.config, self.network.layers[0].params
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        dtype = self.network.dtype
        values = dict(
            bias_time=self.network.layers[0].bias_time, xi=c.loss.xi, alpha=c.loss.alpha, beta=c.loss.beta,
            loss_tau=c.loss.tau_s, silent_time=c.loss.silent_time, label_only=float(c.silent_outputs == "label"),
            skip_step=float(c.skip_step_on_bump), bump=c.bump,
            max_dw_norm=c.max_dw_norm if c.max_dw_norm is not None else 0.0,
            kernel_peak=kernel_peak(params), lr=group["lr"], beta1=beta1, beta2=beta2, adam_eps=group["eps"],
            exp_span=native.span_limit(dtype, params),
            half_log_max=0.5 * (math.log(torch.finfo(dtype).max) - _HEADROOM_LOG),
        )
        n_hidden = len(self.network.layers) - 1
        tolerances = [c.max_silent_hidden] * n_hidden + [c.max_silent_output]
        return torch.tensor([float(values[name]) for name in _SCALARS] + tolerances, dtype=torch.float64)

    def _train_batches(self, count: int | None) -> TrainingEvent | None:
        """Up to ``count`` batches (None: the rest of the epoch) in one native call; the
        epoch's bookkeeping as Trainer.train_batch does it. Returns the last batch's event."""
        size = self.config.batch_size
        if self._order is None:
            self._order = torch.randperm(len(self._y), generator=self.generator)
            self._batch_index = 0
            self._epoch_stats = _EpochStats()
        n_batches = self._batches_per_epoch()
        first = self._batch_index
        last = n_batches if count is None else min(n_batches, first + count)
        order = self._order if self._order.dtype == torch.int64 and self._order.is_contiguous() \
            else self._order.to(torch.int64).contiguous()
        adam, step = self._adam_state()
        layers = self.network.layers
        weights = [layer.weight.detach() for layer in layers]
        pointers = torch.tensor(
            [w.data_ptr() for w in weights] + [s["exp_avg"].data_ptr() for s in adam]
            + [s["exp_avg_sq"].data_ptr() for s in adam], dtype=torch.int64)
        scalars = self._scalars()
        state = self._state
        state[0] = self._bump_value
        state[1] = -1.0 if self._last_bumped_layer is None else float(self._last_bumped_layer)
        state[2] = step
        loss = torch.empty(last - first, dtype=torch.float64)
        correct = torch.empty(last - first, dtype=torch.int64)
        bumped = torch.empty(last - first, dtype=torch.int64)
        params = layers[0].params
        # cleared before the events are looked at: a pause() or stop() from now on is seen
        self._stop_flag[0] = 0
        if self._stop.is_set() or not self._unpaused.is_set():
            last = first + 1  # run() only gets here when it means to run a batch: do one
        with torch.no_grad():
            done = native._native.train_batches(
                self.network.dtype == torch.float64, len(layers), self._sizes.data_ptr(), pointers.data_ptr(),
                scalars.data_ptr(), state.data_ptr(), self._x.data_ptr(), self._y.data_ptr(), order.data_ptr(),
                len(self._y), size, first, last, loss.data_ptr(), correct.data_ptr(), bumped.data_ptr(),
                self._stop_flag.data_ptr(), _REGIME_CODES[params.regime], params.tau_m, params.tau_s, params.c,
                _MIN_SLOPE,
            )
        self._bump_value = float(state[0])
        self._last_bumped_layer = None if state[1] < 0 else int(state[1])
        for s in adam:
            s["step"].fill_(float(state[2]))
        event = None
        n_samples = len(self._y)
        for i in range(done):
            batch = first + i
            n = min(size, n_samples - batch * size)
            layer = int(bumped[i])
            stepped = layer < 0 or not self.config.skip_step_on_bump
            # as Trainer._learn: a skipped batch's loss only for whoever listens
            loss_value = float(loss[i]) if stepped or self.callbacks else float("nan")
            acc = int(correct[i]) / n
            self._batch_index += 1
            self.step_count += 1
            self._epoch_stats.add(loss_value, acc, layer >= 0, n)
            if self.callbacks or i == done - 1:
                event = TrainingEvent("batch", self.epoch, self.step_count, loss_value, acc, layer >= 0,
                                      self.network, self.history)
                self._emit(event)
        self.substrate.after_update(self.network)
        if self._batch_index * size >= n_samples:
            self._finish_epoch()
        return event
