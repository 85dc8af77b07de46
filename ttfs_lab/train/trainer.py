"""The training loop: Adam on exact spike-time gradients, with weight bumping.

Events let a dashboard follow training without the trainer knowing about widgets: every
callback gets a ``TrainingEvent`` after each batch and each epoch. ``pause()``, ``resume()``
and ``stop()`` may be called from any thread; they take effect between batches.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from tqdm.auto import tqdm

from .. import checkpoint
from ..data import load as load_dataset
from ..delays import arrival_times, network_for, parameter_groups
from ..loss import accuracy, spike_time_loss
from ..network import TTFSNetwork, append_bias_spike
from .adam import Adam, StepLR
from .bumping import bump_silent_neurons, layer_needing_bump
from .clipping import drop_large_weight_updates, recorded_slope
from .config import TrainConfig

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass
class TrainingEvent:
    """What a callback receives. ``kind`` is "batch" or "epoch"."""

    kind: str
    epoch: int  # epochs completed so far ("epoch" events: including this one)
    step: int  # batches processed so far
    loss: float  # batch loss (a batch skipped for a bump: nan unless callbacks listen), or mean
    # training loss of the epoch over its gradient steps (nan if every batch bumped)
    accuracy: float  # batch accuracy, or validation accuracy for "epoch"
    bumped: bool  # batch events: this batch bumped weights instead of a gradient step
    network: TTFSNetwork
    history: dict = field(repr=False, default_factory=dict)


class IdealSubstrate:
    """The ideal model: forward pass and gradients of ttfs_lab's core.

    A substrate has ``spike_times(network, x) -> [x, hidden..., output]`` (differentiable
    with respect to the network's weights) and ``after_update(network)``, called after every
    change of the weights (hardware writes them to the chip there).
    """

    def spike_times(self, network, x):
        return network.spike_times(x)

    def after_update(self, network):
        pass


def load_splits(dataset: str, dtype: torch.dtype) -> dict:
    """{split: (input times [n, N], labels [n])} as tensors."""
    splits = {}
    for split in ("train", "validation", "test"):
        times, labels = load_dataset(dataset, split)
        splits[split] = (torch.as_tensor(times, dtype=dtype), torch.as_tensor(labels, dtype=torch.long))
    return splits


class Trainer:
    """Trains a TTFSNetwork by the protocol in a TrainConfig.

    >>> trainer = Trainer(TrainConfig(epochs=1), progress=False)   # doctest: +SKIP
    >>> history = trainer.run()                                      # doctest: +SKIP
    """

    def __init__(
        self,
        config: TrainConfig = TrainConfig(),
        network: TTFSNetwork | None = None,
        data: dict | None = None,
        callbacks: tuple[Callable[[TrainingEvent], None], ...] = (),
        progress: bool = True,
        substrate=None,
    ):
        self.config = config
        # Where the forward pass runs: the ideal model, or e.g. an emulated chip
        # (ttfs_lab.hardware) whose measured times get the ideal model's gradients.
        self.substrate = substrate if substrate is not None else IdealSubstrate()
        dtype = _DTYPES[config.dtype]
        self.network = network if network is not None else network_for(config)
        if tuple(self.network.sizes) != config.sizes:
            raise ValueError(f"network sizes {self.network.sizes} do not match the config's {config.sizes}")
        self.data = data if data is not None else load_splits(config.dataset, dtype)
        self.callbacks = list(callbacks)
        self.progress = progress
        # Our Adam, bit for bit torch.optim's (ttfs_lab.train.adam): torch.optim would import
        # torch._dynamo and sympy, seconds of CPU and ~68 MB in every dashboard kernel.
        self.optimizer = Adam(parameter_groups(self.network, config.lr, config.delay_lr), lr=config.lr)
        if hasattr(self.network, "project_delays"):  # delays stay >= 0 (ttfs_lab.delays.layer)
            self.optimizer.register_step_post_hook(lambda *_: self.network.project_delays())
        self.scheduler = StepLR(self.optimizer, step_size=config.lr_step, gamma=config.lr_gamma)
        # One generator for everything random in training (shuffling, input noise) makes runs
        # reproducible and resumable from a checkpoint.
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self.epoch = 0
        self.step_count = 0
        self.history = {key: [] for key in (
            "train_loss", "train_accuracy", "validation_loss", "validation_accuracy",
            "bumped_fraction", "seconds_per_epoch",
        )}
        self._bump_value = config.bump
        self._last_bumped_layer = None
        self._order = None  # permutation of the current epoch
        self._batch_index = 0
        self._epoch_stats = _EpochStats()
        self._best = (-1.0, None)  # (validation accuracy, weights) for config.keep_best
        self._average = None  # moving average of the weights for config.weight_average
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._stop = threading.Event()

    # ---------------------------------------------------------------- control
    def pause(self):
        self._unpaused.clear()

    def resume(self):
        self._unpaused.set()

    def stop(self):
        """Ends run() after the current batch (also when paused)."""
        self._stop.set()
        self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    # ---------------------------------------------------------------- training
    def run(self, epochs: int | None = None) -> dict:
        """Train until ``epochs`` epochs (default: config.epochs) are complete in total, or
        until stop(). Returns the history."""
        target = self.config.epochs if epochs is None else int(epochs)
        self._stop.clear()
        with tqdm(total=target, initial=min(self.epoch, target), desc="epochs", disable=not self.progress) as bar:
            while self.epoch < target and not self._stop.is_set():
                self._unpaused.wait()
                if self._stop.is_set():
                    break
                epoch_before = self.epoch
                self._advance()
                if self.epoch > epoch_before:
                    bar.update(1)
                    bar.set_postfix(val_acc=f"{self.history['validation_accuracy'][-1]:.4f}")
        if self.config.keep_best and self.epoch >= target and self._best[1] is not None:
            self._restore(self._best[1])
        elif self._average is not None and self.epoch >= target:
            self._restore(self._average)
        return self.history

    def _advance(self):
        """One unit of run()'s loop: a batch here; FusedTrainer runs the rest of an epoch."""
        self.train_batch()

    def _snapshot(self) -> list[torch.Tensor]:
        """Copies of every parameter (the weights; with delays, each layer's weight then delay)."""
        return [p.detach().clone() for p in self.network.parameters()]

    @torch.no_grad()
    def _restore(self, snapshot):
        for p, value in zip(self.network.parameters(), snapshot):
            p.copy_(value)
        self.substrate.after_update(self.network)

    def train_batch(self) -> TrainingEvent:
        """One mini-batch: a gradient step or a weight bump. Finishes the epoch when due."""
        x_all, y_all = self.data["train"]
        if self._order is None:
            self._order = torch.randperm(len(y_all), generator=self.generator)
            self._batch_index = 0
            self._epoch_stats = _EpochStats()
        size = self.config.batch_size
        rows = self._order[self._batch_index * size:(self._batch_index + 1) * size]
        x, y = x_all[rows], y_all[rows]
        if self.config.input_noise > 0:
            noise = torch.randn(x.shape, generator=self.generator, dtype=x.dtype) * self.config.input_noise
            x = (x + noise).abs()  # reflect at 0 as the paper's code does: times stay >= 0
        loss, acc, bumped = self._learn(x, y)
        self._batch_index += 1
        self.step_count += 1
        self._epoch_stats.add(loss, acc, bumped, len(y))
        event = TrainingEvent("batch", self.epoch, self.step_count, loss, acc, bumped, self.network, self.history)
        self._emit(event)
        if self._batch_index * size >= len(y_all):
            self._finish_epoch()
        return event

    def _learn(self, x, y):
        layer_times = self.substrate.spike_times(self.network, x)[1:]
        output = layer_times[-1]
        tolerances = [self.config.max_silent_hidden] * (len(layer_times) - 1) + [self.config.max_silent_output]
        silence = [t.detach() for t in layer_times]
        if self.config.silent_outputs == "label":  # only a silent correct output counts
            label = torch.nn.functional.one_hot(y, silence[-1].shape[1]).bool()
            silence[-1] = torch.where(label, silence[-1], torch.zeros_like(silence[-1]))
        layer = layer_needing_bump(silence, tolerances)
        step = layer is None or not self.config.skip_step_on_bump
        loss_value = float("nan")
        if step or self.callbacks:  # a skipped batch's loss is only for whoever listens
            loss = spike_time_loss(output, y, self.config.loss)
            loss_value = loss.item()
        if step:
            self.optimizer.zero_grad(set_to_none=True)
            if self.config.max_dw_norm is not None:
                for times in layer_times:
                    times.retain_grad()
                slopes = [recorded_slope(t, layer.weight) for t, layer in zip(layer_times, self.network.layers)]
            loss.backward()
            if self.config.max_dw_norm is not None:
                self._drop_large_weight_updates(x, layer_times, slopes)
            self.optimizer.step()
        if layer is not None:  # after backward: the bump changes the weights in place
            self._bump_value = self._bump_value * 2 if layer == self._last_bumped_layer else self.config.bump
            bump_silent_neurons(self.network.layers[layer].weight, silence[layer], self._bump_value)
        self._last_bumped_layer = layer
        self.substrate.after_update(self.network)
        if self.config.weight_average > 0:
            self._update_average()
        return loss_value, accuracy(output.detach(), y), layer is not None

    def _drop_large_weight_updates(self, x, layer_times, slopes):
        """The paper code's max_dw_norm rule in every layer (ttfs_lab.train.clipping).

        Only where the core computed the times (its forward record holds the slope its backward
        divided by): a substrate with its own backward, e.g. measured times in the loop, used
        other slopes, so per-sample updates re-derived here would not be the ones it added."""
        inputs = [x] + [t.detach() for t in layer_times[:-1]]
        for layer, x_in, times, slope in zip(self.network.layers, inputs, layer_times, slopes):
            if slope is None:
                continue
            x_in = append_bias_spike(x_in.to(layer.weight.dtype), layer.bias_time)
            if getattr(layer, "kind", None) == "synaptic":  # what each neuron received: t + d
                x_in = arrival_times(x_in, layer.delay.detach())
            elif getattr(layer, "kind", None) == "axonal":
                x_in = x_in + layer.delay.detach()
            drop_large_weight_updates(
                layer.weight, x_in, times.detach(), times.grad, layer.params, self.config.max_dw_norm, slope
            )

    @torch.no_grad()
    def _update_average(self):
        d = self.config.weight_average
        if self._average is None:
            self._average = self._snapshot()
        else:
            for average, p in zip(self._average, self.network.parameters()):
                average.mul_(d).add_(p, alpha=1.0 - d)

    def _validate(self):
        """(loss, accuracy, weights) on the validation split; with weight averaging the
        averaged weights are validated (the training continues from the live ones)."""
        if self._average is None:
            return (*self.evaluate("validation"), None)
        live = self._snapshot()
        self._restore(self._average)
        val_loss, val_acc = self.evaluate("validation")
        self._restore(live)
        return val_loss, val_acc, [a.clone() for a in self._average]

    def _finish_epoch(self):
        # also after an epoch made only of weight bumps (no optimizer step), as in the paper
        self.scheduler.step()
        self._order = None
        self.epoch += 1
        stats = self._epoch_stats
        val_loss, val_acc, validated = self._validate()
        h = self.history
        h["train_loss"].append(stats.mean_loss())
        h["train_accuracy"].append(stats.correct / stats.samples)
        h["validation_loss"].append(val_loss)
        h["validation_accuracy"].append(val_acc)
        h["bumped_fraction"].append(stats.bumped / stats.batches)
        h["seconds_per_epoch"].append(time.perf_counter() - stats.started)
        if self.config.keep_best and val_acc > self._best[0]:
            self._best = (val_acc, validated if validated is not None else self._snapshot())
        self._emit(TrainingEvent("epoch", self.epoch, self.step_count, h["train_loss"][-1], val_acc, False, self.network, h))

    @torch.no_grad()
    def evaluate(self, split: str = "test") -> tuple[float, float]:
        """(loss, accuracy) of the current network on a data split."""
        if split not in self.data:
            raise ValueError(f"unknown split {split!r}; choose one of {sorted(self.data)}")
        x, y = self.data[split]
        output = self.substrate.spike_times(self.network, x)[-1]
        return spike_time_loss(output, y, self.config.loss).item(), accuracy(output, y)

    def _emit(self, event):
        for callback in self.callbacks:
            callback(event)

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """Training state (weights_only-safe): config, counters, optimizer, scheduler, RNG."""
        return {
            "config": self.config.to_dict(),
            "epoch": self.epoch,
            "step": self.step_count,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "bump_value": self._bump_value,
            "last_bumped_layer": -1 if self._last_bumped_layer is None else self._last_bumped_layer,
            "order": self._order,
            "batch_index": self._batch_index,
            "epoch_stats": self._epoch_stats.to_dict(),
            "history": {k: list(v) for k, v in self.history.items()},
            "best_validation_accuracy": self._best[0],
            "best_weights": self._best[1],
            "average_weights": self._average,
        }

    def save(self, path):
        """Atomic checkpoint of network + training state; resuming continues bit for bit."""
        return checkpoint.save(path, self.network, self.state_dict())

    @classmethod
    def load(cls, path, data: dict | None = None, callbacks=(), progress: bool = True, substrate=None) -> "Trainer":
        """Resume training from a checkpoint written by Trainer.save."""
        network, state = checkpoint.load(path)
        if state is None:
            raise checkpoint.CheckpointError(f"{path} holds a network but no training state to resume")
        try:
            config = TrainConfig.from_dict(state["config"])
            trainer = cls(config, network=network, data=data, callbacks=callbacks, progress=progress, substrate=substrate)
            trainer.optimizer.load_state_dict(state["optimizer"])
            trainer.scheduler.load_state_dict(state["scheduler"])
            trainer.generator.set_state(state["generator"])
            trainer.epoch, trainer.step_count = int(state["epoch"]), int(state["step"])
            trainer._bump_value = float(state["bump_value"])
            last = int(state["last_bumped_layer"])
            trainer._last_bumped_layer = None if last < 0 else last
            trainer._order, trainer._batch_index = state["order"], int(state["batch_index"])
            trainer._epoch_stats = _EpochStats.from_dict(state["epoch_stats"])
            trainer.history = {k: list(v) for k, v in state["history"].items()}
            trainer._best = (float(state["best_validation_accuracy"]), state["best_weights"])
            trainer._average = state.get("average_weights")
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise checkpoint.CheckpointError(f"{path} has an invalid training state: {error}") from error
        return trainer


class _EpochStats:
    """Running sums over the batches of one epoch."""

    def __init__(self):
        self.loss_sum, self.stepped, self.correct, self.samples, self.bumped, self.batches = 0.0, 0, 0.0, 0, 0, 0
        self.started = time.perf_counter()

    def add(self, loss, acc, bumped, n):
        self.batches += 1
        self.samples += n
        self.correct += acc * n
        if bumped:
            self.bumped += 1
        else:
            self.loss_sum += loss
            self.stepped += 1

    def mean_loss(self):
        return self.loss_sum / self.stepped if self.stepped else float("nan")

    def to_dict(self):
        return {k: v for k, v in vars(self).items() if k != "started"}

    @classmethod
    def from_dict(cls, d):
        stats = cls()
        for k, v in d.items():
            setattr(stats, k, v)
        return stats
