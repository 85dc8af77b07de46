"""The train and evaluate commands' hardware options, and the session that evaluates on the chip.

    python -m ttfs_lab train yinyang --hardware bss2 --in-the-loop --out DIR
    python -m ttfs_lab train yinyang --hardware bss2 --chip-id 3          # ideal training, chip test
    python -m ttfs_lab train yinyang --hardware bss2 --in-the-loop --init ideal/checkpoint.pt --epochs 30
    python -m ttfs_lab evaluate DIR/checkpoint.pt --hardware bss2 --chip-id 0 --trials 20

With --hardware (other than ideal) or --in-the-loop, ``test_accuracy`` in metrics.json is
measured on the emulated chip: the mean over ``--trials`` test runs (default 10), each with
new trial-to-trial noise, with every run in ``test_accuracy_runs`` and their sample standard
deviation in ``test_accuracy_std``; metrics.json then also holds ``test_accuracy_ideal`` (the
same weights in the ideal model) and a ``hardware`` record (profile, chip id, mapping, the last
run's report). Chip options (--chip-id, --multiplex, --trials) without a chip are an error.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import torch

from .. import arguments
from .bss2 import BrainScaleS2
from .in_the_loop import InTheLoop, clamp_to_hardware, in_the_loop_config
from .model import PROFILES

# Test runs on the chip after `train --hardware`: one run moves by about +-1 point (new
# trial-to-trial noise each run), the mean of 10 by about +-0.3.
DEFAULT_TRAIN_TRIALS = 10
_chip_id = arguments.integer(0, 2**31 - 1)
_multiplex = arguments.integer(1, 1000)
_trials = arguments.integer(1, 1000)
_CHIP_OPTIONS = ("chip_id", "multiplex", "trials")


def add_arguments(parser):
    """The train command's hardware options."""
    group = parser.add_argument_group("emulated hardware (BrainScaleS-2)")
    group.add_argument("--hardware", choices=sorted(PROFILES), default=None,
                       help="run on the emulated chip with this profile: bss2 (calibrated), uncalibrated, "
                            "noisy, ideal. Without --in-the-loop: train ideally, test on the chip")
    group.add_argument("--in-the-loop", action="store_true",
                       help="train on the chip: forward measured there, ideal gradients at the measured "
                            "times (default profile bss2); the configuration is adapted by "
                            "ttfs_lab.hardware.in_the_loop_config (10 %% silent outputs tolerated, loss "
                            "temperature xi 0.1)")
    _add_chip_arguments(group)
    group.add_argument("--trials", type=_trials, default=None,
                       help=f"test runs on the chip after training, each with new trial-to-trial noise; "
                            f"metrics.json holds their mean as test_accuracy and every run in "
                            f"test_accuracy_runs (default {DEFAULT_TRAIN_TRIALS})")
    group.add_argument("--max-silent-output", type=arguments.fraction, default=None,
                       help="weight bumping: tolerated fraction of silent output (sample, neuron) pairs per "
                            "batch (paper: 0; default with --in-the-loop: 0.1, see ttfs_lab.hardware.in_the_loop)")
    group.add_argument("--init", type=Path, default=None,
                       help="start from the weights of this checkpoint (e.g. an ideally trained network "
                            "to fine-tune in the loop)")


def add_evaluate_arguments(parser):
    """The evaluate command's hardware options."""
    group = parser.add_argument_group("emulated hardware (BrainScaleS-2)")
    group.add_argument("--hardware", choices=sorted(PROFILES), default=None,
                       help="test on the emulated chip with this profile instead of the ideal model (a network "
                            "trained in the loop learned its own chip: give the same --chip-id)")
    _add_chip_arguments(group)
    group.add_argument("--trials", type=_trials, default=None,
                       help="test runs on the chip, each with new trial-to-trial noise; the last line is their "
                            "mean (default 1)")


def _add_chip_arguments(group):
    group.add_argument("--chip-id", type=_chip_id, default=None, help="which chip (seeds its fixed pattern; default 0)")
    group.add_argument("--multiplex", type=_multiplex, default=None,
                       help="how often each input is sent to the chip (default 5, as on the paper's setup)")


def uses_chip(args) -> bool:
    """Whether these train/evaluate arguments run anything on a chip."""
    return args.hardware not in (None, "ideal") or getattr(args, "in_the_loop", False)


def check_arguments(args, command: str):
    """Chip options without a chip would be silently ignored: refuse them (ValueError, one line)
    and fill in the defaults otherwise."""
    if not uses_chip(args):
        given = [f"--{name.replace('_', '-')}" for name in _CHIP_OPTIONS if getattr(args, name, None) is not None]
        if given:
            needs = "--hardware PROFILE or --in-the-loop" if command == "train" else "--hardware PROFILE"
            raise ValueError(
                f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only on a chip: add {needs} "
                f"(without it the ideal model, which is "
                f"deterministic, is {'trained and tested' if command == 'train' else 'evaluated'})"
            )
    defaults = {"chip_id": 0, "multiplex": 5, "trials": DEFAULT_TRAIN_TRIALS if command == "train" else 1}
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


@torch.no_grad()
def chip_test_outputs(chip, network, input_times, trials=1):
    """Output spike times of each of ``trials`` runs of the data on ``chip`` (each run draws
    new trial-to-trial noise; MappingError if the network does not fit)."""
    chip.map(network)
    x = torch.as_tensor(input_times, dtype=network.dtype)
    return [chip.run(network, x)[-1] for _ in range(trials)]


def chip_test_runs(chip, network, input_times, labels, trials=1) -> list[float]:
    """Accuracy of each of ``trials`` runs of the data on ``chip`` (see chip_test_outputs)."""
    from ..loss import accuracy

    return [accuracy(output, labels) for output in chip_test_outputs(chip, network, input_times, trials)]


class HardwareSession:
    """Holds the chip for one train command; evaluates on it and reports what it did."""

    def __init__(self, trainer, profile_key: str = "bss2", chip_id: int = 0, multiplex: int = 5,
                 in_the_loop: bool = False, init: Path | None = None, max_silent_output: float | None = None):
        self.trainer = trainer
        self.profile_key = profile_key
        self.in_the_loop = in_the_loop
        self.chip = BrainScaleS2(profile_key, chip_id=chip_id, multiplex=multiplex)
        self.mapping = self.chip.map(trainer.network)  # a network that does not fit fails here
        if init is not None:
            load_initial_weights(trainer.network, init)
        if in_the_loop:
            trainer.substrate = InTheLoop(self.chip)
            clamp_to_hardware(self.chip, trainer.network)
            # bumping tolerance for chip noise; no max_dw_norm guard (see in_the_loop_config)
            trainer.config = in_the_loop_config(trainer.config, max_silent_output)
        elif max_silent_output is not None:
            trainer.config = trainer.config.replace(max_silent_output=max_silent_output)
        self.test_report = None
        self.test_runs = None  # accuracy of each test run, after evaluate("test", trials)

    @torch.no_grad()
    def evaluate(self, split: str = "test", trials: int = 1):
        """(loss, accuracy) measured on the emulated chip: means over ``trials`` runs, each with
        new trial-to-trial noise (the accuracies of the test runs are kept in test_runs)."""
        from ..loss import accuracy, spike_time_loss

        x, y = self.trainer.data[split]
        outputs = chip_test_outputs(self.chip, self.trainer.network, x, trials)
        losses = [spike_time_loss(output, y, self.trainer.config.loss).item() for output in outputs]
        accuracies = [accuracy(output, y) for output in outputs]
        if split == "test":
            self.test_report = self.chip.last_report
            self.test_runs = accuracies
        return sum(losses) / trials, sum(accuracies) / trials

    @torch.no_grad()
    def ideal_accuracy(self, split: str = "test") -> float:
        from ..loss import accuracy

        x, y = self.trainer.data[split]
        return accuracy(self.trainer.network(x), y)

    def metrics(self) -> dict:
        m = self.mapping
        record = {
            "profile": self.profile_key,
            "name": self.chip.model.name,
            "chip_id": self.chip.chip_id,
            "multiplex": self.chip.multiplex,
            "in_the_loop": self.in_the_loop,
            "max_silent_output": self.trainer.config.max_silent_output,
            "mapping": {
                "neuron_circuits": m.circuits,
                "rows_per_neuron": [layer.rows_per_neuron for layer in m.layers],
                "circuits_per_neuron": [layer.circuits_per_neuron for layer in m.layers],
            },
            "runs_total": {
                "samples": self.chip.total["samples"],
                "hardware_time_us_estimate": self.chip.total["hardware_time_us"],
                "energy_uJ_estimate": self.chip.total["energy_uj"],
            },
        }
        if self.test_report is not None:
            record["test_run"] = self.test_report.to_dict()  # the last test run
        metrics = {"test_accuracy_ideal": self.ideal_accuracy("test"), "hardware": record}
        if self.test_runs is not None:
            runs = list(self.test_runs)
            std = statistics.stdev(runs) if len(runs) > 1 else 0.0
            metrics.update(test_accuracy_runs=runs, test_accuracy_std=std, test_trials=len(runs))
        return metrics


def load_initial_weights(network, path: Path):
    from .. import checkpoint

    source, _ = checkpoint.load(path)
    if tuple(source.sizes) != tuple(network.sizes):
        raise ValueError(f"--init {path}: network {source.sizes} does not match the configured {network.sizes}")
    with torch.no_grad():
        for layer, w in zip(network.layers, source.weights()):
            layer.weight.copy_(w.to(layer.weight.dtype))


def session_from_args(args, trainer) -> HardwareSession:
    profile_key = args.hardware or "bss2"
    return HardwareSession(trainer, profile_key, chip_id=args.chip_id, multiplex=args.multiplex,
                           in_the_loop=args.in_the_loop, init=args.init, max_silent_output=args.max_silent_output)
