"""LabState: the single source of truth of a lab session.

Controls write to the state; views observe it and redraw (TensorFlow-Playground style). The
state holds settings (plain traits, saved as JSON) and the session objects built from them:
the network (its weights go into a ttfs_lab checkpoint), the trainer and the training record.

The network's weights change in place while training; ``weights_version`` is bumped whenever
they did, and that is the trait views observe to redraw.
"""
from __future__ import annotations

import copy
import json
import math
import threading
from pathlib import Path

import numpy as np
import torch
from traitlets import Any, Bool, Dict, Enum, Float, HasTraits, Instance, Int, List, TraitError, Unicode, observe, validate

from ttfs_lab.atomic import atomic_write
from ttfs_lab import NeuronParams, TTFSNetwork, checkpoint
from ttfs_lab.data import encode, yin_yang
from ttfs_lab.hardware import in_the_loop_config, map_network
from ttfs_lab.train import TrainConfig

from . import substrate as hw_settings

SETTINGS = (
    "hidden", "tau_ratio", "seed", "lr", "epochs", "batch_size", "train_size", "test_size",
    "split", "selected", "neuron_times", "neuron_weights", "neuron_delays", "hardware", "hidden_controls",
)
STATE_FORMAT = "ttfs-lab-state"


class SettingError(TraitError, ValueError):
    """A setting the state rejects (a TraitError for traitlets, a ValueError for everyone)."""


# Traits that define the network's architecture or initialisation: changing one rebuilds it.
_ARCHITECTURE = ("hidden", "seed")


class LabState(HasTraits):
    """Settings and session of one lab (see module docstring).

    >>> state = LabState(hidden=[10], train_size=300, test_size=100)
    >>> state.network.sizes
    (4, 10, 3)
    """

    # Network (Yin-Yang: 4 inputs, 3 classes)
    hidden = List(Int(), default_value=[120])
    tau_ratio = Float(1.0, help="tau_m / tau_s of every neuron (tau_s = 1 is the time unit)")
    seed = Int(0)
    # Training
    lr = Float(0.005)
    epochs = Int(300)
    batch_size = Int(150)
    train_size = Int(5000, help="first n samples of the published train split")
    test_size = Int(1000, help="first n samples of the published validation and test splits")
    # Selection: the sample the membrane and raster views show
    split = Enum(("train", "test"), default_value="test")
    selected = Int(0)
    # NeuronExplorer's single neuron
    neuron_times = List(Float(), default_value=[0.3, 0.7, 1.1, 1.5])
    neuron_weights = List(Float(), default_value=[2.0, 1.6, 1.2, -0.8])
    # Its transmission delays d_i >= 0 (input i arrives at t_i + d_i); missing entries are 0
    neuron_delays = List(Float(), default_value=[])
    # Hardware profile: {"distortions": {name: strength}, "emulated": bool, "preset": str}
    hardware = Dict(default_value=hw_settings.DEFAULTS, help="hardware settings, see widgets.substrate")
    # Controls a lesson hides, by name (each view lists its names in view.controls)
    hidden_controls = List(Unicode())

    # Session (not settings)
    network = Instance(TTFSNetwork, allow_none=True)
    weights_version = Int(0)
    trainer = Any(None, help="the ttfs_lab.train.Trainer of this session, created on demand")
    status = Enum(("idle", "running", "paused", "done"), default_value="idle")
    history = Dict()
    substrate = Any(None, help="where forward passes run: None = the ideal model, else an object with "
                               "spike_times(network, x) like ttfs_lab.train.IdealSubstrate (an emulated chip)")
    busy = Bool(False, help="a change is being applied (e.g. hardware accuracy recompute)")
    message = Unicode("")

    def __init__(self, **kwargs):
        # Held while the network is read for drawing or replaced (training runs in a thread).
        self.lock = threading.RLock()
        self._data_cache = {}
        self._quiet = False  # set while restore() applies settings one by one
        self._next_substrate = None
        self._runner = None  # widgets.runner.TrainingRunner.for_state
        self._start = None  # (network, weights) of start_from(): what reset() returns to
        super().__init__(**kwargs)
        if self.network is None:
            self.network = self.new_network()
        if self.substrate is None:  # hardware given to the constructor
            self.substrate = hw_settings.build(self.hardware, self.network)

    # ----------------------------------------------------------------- derived
    @property
    def params(self) -> NeuronParams:
        return NeuronParams(tau_m=self.tau_ratio, tau_s=1.0)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (4, *self.hidden, 3)

    def config(self) -> TrainConfig:
        """The training configuration of the current settings; training in the loop adapts it
        (ttfs_lab.hardware.in_the_loop_config: bumping tolerance, loss temperature)."""
        config = TrainConfig(hidden=tuple(self.hidden), epochs=self.epochs, batch_size=self.batch_size,
                             lr=self.lr, seed=self.seed, neuron=self.params)
        if hw_settings.complete(self.hardware)["in_the_loop"]:
            config = in_the_loop_config(config)
        return config

    def new_network(self) -> TTFSNetwork:
        return TTFSNetwork(self.sizes, params=self.params, seed=self.seed)

    def data(self, split: str):
        """(features [n, 4], input times tensor [n, 4], labels [n]) of a split, cached."""
        if split not in ("train", "validation", "test"):
            raise ValueError(f"unknown split {split!r}; choose train, validation or test")
        size = self.train_size if split == "train" else self.test_size
        key = (split, size)
        if key not in self._data_cache:
            features, labels = yin_yang(split, size=size)
            self._data_cache[key] = (features, torch.as_tensor(encode(features)), labels)
        return self._data_cache[key]

    def splits(self) -> dict:
        """Data in the form ttfs_lab.train.Trainer takes."""
        return {s: (self.data(s)[1], torch.as_tensor(self.data(s)[2])) for s in ("train", "validation", "test")}

    def sample(self):
        """(features [4], input times [4], label) of the selected sample."""
        features, times, labels = self.data(self.split)
        return features[self.selected], times[self.selected], int(labels[self.selected])

    def layer_times(self, network, x) -> list:
        """[input, hidden..., output] spike times of ``x`` on the current substrate."""
        with torch.no_grad():
            if self.substrate is None:
                return network.spike_times(x)
            return self.substrate.spike_times(network, x)

    def forward(self, network, x):
        """Output spike times of ``x`` on the current substrate."""
        return self.layer_times(network, x)[-1]

    # ----------------------------------------------------------------- changes
    def weights_changed(self):
        """Call after changing the network's weights in place: views redraw."""
        self.weights_version += 1

    def start_from(self, network: TTFSNetwork):
        """Make ``network`` (e.g. a pre-trained one) this lab's network and the one reset()
        returns to, for as long as the architecture settings stay as they are."""
        if tuple(network.sizes) != self.sizes:
            raise ValueError(f"the start network is {network.sizes}, the settings say {self.sizes}: "
                             f"set hidden={list(network.sizes[1:-1])} first")
        with self.lock:
            self._start = (network, [w.detach().clone() for w in network.weights()])
            self.network = network
            self.trainer = None
            self.weights_changed()

    def start_network(self) -> TTFSNetwork:
        """What reset() builds: a copy of the start_from() network, else a fresh random one."""
        if self._start is None:
            return self.new_network()
        net, weights = self._start
        return TTFSNetwork.from_weights([w.clone() for w in weights], params=self.params,
                                        bias_time=net.bias_time, dtype=net.dtype)

    def reset(self):
        """Back to the start network (start_from(), else a fresh one from the settings);
        forgets trainer and history."""
        if self.status == "running":
            raise ValueError("pause training before resetting the network")
        with self.lock:
            self.trainer = None
            self.history = {}
            self.status = "idle"
            self.network = self.start_network()
            self.weights_changed()

    @validate("lr")
    def _check_positive(self, proposal):
        value = proposal["value"]
        if not (math.isfinite(value) and value > 0):
            raise SettingError(f"{proposal['trait'].name} must be a positive number, got {value!r}")
        return value

    @validate("epochs", "batch_size", "train_size", "test_size")
    def _check_count(self, proposal):
        if proposal["value"] < 1:
            raise SettingError(f"{proposal['trait'].name} must be at least 1, got {proposal['value']!r}")
        return proposal["value"]

    @validate("selected")
    def _check_selected(self, proposal):
        n = self.train_size if self.split == "train" else self.test_size
        if not 0 <= proposal["value"] < n:
            raise SettingError(f"sample index must be in 0..{n - 1}, got {proposal['value']!r}")
        return proposal["value"]

    @validate("neuron_times", "neuron_weights")
    def _check_neuron(self, proposal):
        value = [float(v) for v in proposal["value"]]
        if not all(math.isfinite(v) for v in value):
            raise SettingError(f"{proposal['trait'].name} must be finite numbers, got {value}")
        return value

    @validate("neuron_delays")
    def _check_delays(self, proposal):
        value = [float(v) for v in proposal["value"]]
        if not all(math.isfinite(v) and v >= 0.0 for v in value):
            raise SettingError(f"neuron_delays must be finite numbers >= 0, got {value}")
        return value

    @validate("split")
    def _check_split(self, proposal):
        n = self.train_size if proposal["value"] == "train" else self.test_size
        if self.selected >= n:
            self.selected = 0
        return proposal["value"]

    @validate(*_ARCHITECTURE, "tau_ratio")
    def _check_network_setting(self, proposal):
        # One validator per trait (traitlets keeps only the last one registered for a name).
        name, value = proposal["trait"].name, proposal["value"]
        if self.status == "running" and value != getattr(self, name):
            raise SettingError(f"pause training before changing {name}")
        if name == "hidden":
            value = list(value)
            if not value or any(h < 1 for h in value):
                raise SettingError(f"hidden layer sizes must be positive integers, got {value}")
        if name == "hidden" and hw_settings.complete(self.hardware)["emulated"]:
            try:
                map_network((4, *value, 3), hw_settings.complete(self.hardware)["multiplex"])
            except ValueError as error:
                raise SettingError(f"hidden: {error}") from None
        if name == "tau_ratio" and not (math.isfinite(value) and value > 0):
            raise SettingError(f"tau_ratio must be a positive number, got {value!r}")
        return value

    @validate("hardware")
    def _check_hardware(self, proposal):
        old, new = hw_settings.complete(self.hardware), proposal["value"]
        try:
            new = hw_settings.complete(new)
            if self.status == "running" and (old["in_the_loop"] or new["in_the_loop"]) and old != new:
                raise ValueError("pause training before changing the hardware it trains on")
            self._next_substrate = hw_settings.build(new, self.network) if self.network is not None else None
        except ValueError as error:
            raise SettingError(str(error)) from None
        return new

    @observe("hardware")
    def _hardware_changed(self, change):
        with self.lock:
            self.substrate = self._next_substrate

    def training_substrate(self):
        """What a Trainer's forward pass should run on (ttfs_lab.hardware.InTheLoop or ideal)."""
        return hw_settings.for_training(self.hardware, self.substrate)

    @observe(*_ARCHITECTURE)
    def _architecture_changed(self, change):
        if self.network is not None and not self._quiet:
            self._start = None  # a new architecture or seed: a new random network
            self.reset()

    @observe("tau_ratio")
    def _neuron_changed(self, change):
        """Same weights, new neuron model: shows what the time constants do to a network."""
        if self.network is None or self._quiet:
            return
        with self.lock:
            self.trainer = None  # its optimizer belongs to the old network object
            self.network = TTFSNetwork.from_weights(self.network.weights(), params=self.params,
                                                    bias_time=self.network.bias_time, dtype=self.network.dtype)
            self.weights_changed()

    @observe("train_size", "test_size")
    def _data_changed(self, change):
        self.trainer = None
        if self.selected >= (self.train_size if self.split == "train" else self.test_size):
            self.selected = 0

    # ----------------------------------------------------------------- files
    def settings(self) -> dict:
        return {name: _plain(getattr(self, name)) for name in SETTINGS}

    def save(self, path, history: dict | None = None) -> Path:
        """Write settings to ``path`` (JSON) and the network (and training state, if any)
        to ``path`` with suffix .ckpt (ttfs_lab.checkpoint). Both writes are atomic.
        ``history``: the training record to store (default: state.history)."""
        return self.capture(history).write(path)

    def capture(self, history: dict | None = None) -> "Capture":
        """A copy of what save() writes, taken under the lock (network, optimizer, RNG and
        data position, settings, record): writing it later, in another thread, stores this
        moment even if training goes on meanwhile. About a millisecond for a playground network."""
        with self.lock:
            training = copy.deepcopy(self.trainer.state_dict()) if self.trainer is not None else None
            record = self.history if history is None else history
            return Capture(copy.deepcopy(self.network), training, copy.deepcopy(self.settings()),
                           {key: list(values) for key, values in record.items()})


    def restore(self, path):
        """Load a file written by save() into this state (views follow)."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read lab state {path}: {error}") from error
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise ValueError(f"{path} is not a ttfs-lab state file")
        settings = doc["settings"]
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise ValueError(f"{path} has unknown settings {sorted(unknown)}")
        weights = path.parent / doc["checkpoint"]
        network, training = checkpoint.load(weights)
        if self.status == "running":
            raise ValueError("pause training before loading a saved state")
        with self.lock:
            self._quiet = True  # no rebuilds while settings arrive one by one
            try:
                for name in SETTINGS:
                    if name in settings and name not in ("selected", "hardware"):
                        setattr(self, name, settings[name])
                self.selected = settings.get("selected", 0)
            finally:
                self._quiet = False
            self.trainer = None
            if training is not None:
                from ttfs_lab.train import Trainer

                self.trainer = Trainer.load(weights, data=self.splits(), progress=False)
                network = self.trainer.network
            self.network = network
            self.hardware = settings.get("hardware", {})  # checked against the restored network
            self.history = doc.get("history", {})
            self.status = "idle"
            self.weights_changed()


def _plain(value):
    """JSON-ready copy: lists, dicts and Python numbers (inf and nan are written as
    Python's json writes them, Infinity and NaN, and read back by json.loads)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_atomic(path: Path, text: str):
    atomic_write(path, lambda f: f.write(text), binary=False)


class Capture:
    """What LabState.capture() copied; ``write(path)`` stores it as LabState.save() does."""

    def __init__(self, network, training, settings: dict, history: dict):
        self.network, self.training, self.settings, self.history = network, training, settings, history

    def write(self, path) -> Path:
        path = Path(path)
        weights = path.with_suffix(".ckpt")
        checkpoint.save(weights, self.network, self.training)
        doc = {"format": STATE_FORMAT, "version": 1, "settings": self.settings,
               "history": _plain(self.history), "checkpoint": weights.name}
        _write_atomic(path, json.dumps(doc, indent=1))
        return path
