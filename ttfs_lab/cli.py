"""Command line: ``python -m ttfs_lab train|evaluate|robustness ...``.

Outputs are stable (scripts rely on them): ``train --out DIR`` writes DIR/checkpoint.pt and
DIR/metrics.json; ``evaluate CHECKPOINT`` ends with the line ``test_accuracy=0.9620``;
``robustness --out DIR`` writes DIR/robustness.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .atomic import atomic_write

DATASET_NAMES = {"yinyang": "yin_yang", "yin_yang": "yin_yang", "mnist": "mnist"}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line and exit code 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .train import PRESETS

    parser = _Parser(prog="python -m ttfs_lab", description="ttfs-lab: train and evaluate first-spike-time networks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train a network (the paper's protocol by default)",
                           description="Train on Yin-Yang or 16x16 MNIST with exact spike-time gradients.")
    train.add_argument("dataset", choices=sorted(DATASET_NAMES), help="data set")
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="named configuration (default: 'paper' for yinyang, 'mnist' for mnist)")
    train.add_argument("--epochs", type=_positive_int, help="number of epochs")
    train.add_argument("--batch-size", type=_positive_int, help="mini-batch size")
    train.add_argument("--lr", type=_positive_float, help="Adam learning rate")
    train.add_argument("--hidden", type=_positive_int, nargs="+", help="hidden layer sizes, e.g. --hidden 120")
    train.add_argument("--seed", type=int, help="random seed (weights, shuffling, noise)")
    train.add_argument("--dtype", choices=["float64", "float32"], help="floating point precision")
    train.add_argument("--noise", type=_nonnegative_float, help="std of Gaussian noise on input times during training (tau_s)")
    train.add_argument("--out", type=Path, help="folder for checkpoint.pt and metrics.json")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_hardware_arguments(train)

    evaluate = sub.add_parser("evaluate", help="test accuracy of a checkpoint",
                              description="Evaluate a checkpoint on its data set's test split (in the ideal "
                                          "model, or with --hardware on an emulated chip).")
    evaluate.add_argument("checkpoint", type=Path)
    _add_hardware_arguments(evaluate, "add_evaluate_arguments")
    _add_robustness_command(sub)
    return parser


def _add_robustness_command(sub):
    """``robustness``: the hardware robustness study (ttfs_lab.experiments.robustness)."""
    try:
        from .experiments.robustness import add_parser
    except ImportError:
        return
    add_parser(sub)


def _add_hardware_arguments(parser, adder: str = "add_arguments"):
    """Hook for the hardware emulation (ttfs_lab.hardware) options."""
    try:
        from .hardware import cli as hardware_cli
    except ImportError:
        return
    getattr(hardware_cli, adder)(parser)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _nonnegative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def config_from_args(args):
    from .train import preset

    dataset = DATASET_NAMES[args.dataset]
    name = args.preset or ("mnist" if dataset == "mnist" else "paper")
    overrides = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "dtype": args.dtype, "input_noise": args.noise,
        "hidden": tuple(args.hidden) if args.hidden else None,
    }
    config = preset(name, **{k: v for k, v in overrides.items() if v is not None})
    if config.dataset != dataset:
        raise ValueError(f"preset {name!r} is for {config.dataset}, not {dataset}")
    return config


def cmd_train(args) -> int:
    from .train import Trainer

    config = config_from_args(args)
    started = time.perf_counter()
    trainer = Trainer(config, progress=not args.no_progress)
    hardware = _hardware_session(args, trainer)
    trainer.run()
    test_loss, test_accuracy = hardware.evaluate("test") if hardware else trainer.evaluate("test")
    metrics = {
        "dataset": config.dataset,
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "validation_accuracy": trainer.history["validation_accuracy"][-1] if trainer.history["validation_accuracy"] else None,
        "epochs": trainer.epoch,
        "seconds_total": time.perf_counter() - started,
        "seconds_per_epoch": trainer.history["seconds_per_epoch"],
        "bumped_fraction": trainer.history["bumped_fraction"],
        "config": trainer.config.to_dict(),  # as trained (the hardware session may adapt it)
    }
    if hardware:
        metrics.update(hardware.metrics())
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        trainer.save(args.out / "checkpoint.pt")
        _write_json_atomic(args.out / "metrics.json", metrics)
    print(f"epochs={trainer.epoch} seconds_total={metrics['seconds_total']:.1f}")
    print(f"test_accuracy={test_accuracy:.4f}")
    return 0


def _hardware_session(args, trainer):
    if getattr(args, "hardware", None) in (None, "ideal") and not getattr(args, "in_the_loop", False):
        if getattr(args, "init", None) is not None:  # --init alone: ideal training from these weights
            from .hardware.cli import load_initial_weights

            load_initial_weights(trainer.network, args.init)
        return None
    from .hardware.cli import session_from_args

    return session_from_args(args, trainer)


def cmd_evaluate(args) -> int:
    from . import checkpoint
    from .loss import accuracy
    from .data import load

    network, state = checkpoint.load(args.checkpoint)
    dataset = state["config"]["dataset"] if state else ("yin_yang" if network.sizes[0] == 4 else "mnist")
    times, labels = load(dataset, "test")
    import torch

    delays = f" with {network.kind} delays" if getattr(network, "kind", None) else ""
    name = f"network {'-'.join(map(str, network.sizes))}{delays} on {dataset} test split ({len(labels)} samples)"
    if getattr(args, "hardware", None) not in (None, "ideal"):
        from .hardware import BrainScaleS2
        from .hardware.cli import chip_test_runs

        chip = BrainScaleS2(args.hardware, chip_id=args.chip_id, multiplex=args.multiplex)
        runs = chip_test_runs(chip, network, times, labels, args.trials)
        print(f"{name}, on {chip!r}; test runs: {', '.join(f'{a:.4f}' for a in runs)}")
        print(f"test_accuracy={sum(runs) / len(runs):.4f}")
        return 0
    with torch.no_grad():
        output = network(torch.as_tensor(times, dtype=network.dtype))
    print(name)
    print(f"test_accuracy={accuracy(output, labels):.4f}")
    return 0


def cmd_robustness(args) -> int:
    from .experiments.robustness import run_from_args

    return run_from_args(args)


def _write_json_atomic(path: Path, data: dict):
    atomic_write(path, lambda f: json.dump(data, f, indent=2, default=float), binary=False)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "robustness": cmd_robustness}
    try:
        return commands[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
