"""Command line: ``python -m ttfs_lab train|evaluate|robustness ...``.

Outputs are stable (scripts rely on them): ``train --out DIR`` writes DIR/checkpoint.pt and
DIR/metrics.json; ``evaluate CHECKPOINT`` ends with the line ``test_accuracy=0.9620``;
``robustness --out DIR`` writes DIR/robustness.json.

Nothing is lost, nothing is silent:
- every value is checked while the arguments are parsed (ttfs_lab.arguments), and the
  destination before any training starts (ttfs_lab.atomic.check_output_folder): a problem is
  one line on stderr and exit code 2;
- a run's outputs are committed together (ttfs_lab.atomic.AtomicGroup): after Ctrl-C or an
  error, DIR holds either the previous checkpoint.pt + metrics.json or the new pair, never a
  mix, and no temporary file;
- if saving still fails at the end (the folder became read-only, the disk is full), the
  trained network and its metrics are saved in a rescue folder (``ttfs-lab-rescue-*`` in the
  working directory, the home folder or the temporary folder, the first that works), the
  command says where, and exits with code 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from . import arguments
from .atomic import AtomicGroup, atomic_write, check_output_folder, current_umask

TRAIN_OUTPUTS = ("checkpoint.pt", "metrics.json")

_DATASET_WIDTHS = {"yin_yang": (4, 3), "mnist": (256, 10)}  # inputs, classes
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
    train.add_argument("--epochs", type=arguments.positive_count, help="number of epochs")
    train.add_argument("--batch-size", type=arguments.positive_count, help="mini-batch size")
    train.add_argument("--lr", type=arguments.learning_rate, help="Adam learning rate, in (0, 1]")
    train.add_argument("--hidden", type=arguments.layer_size, nargs="+", help="hidden layer sizes, e.g. --hidden 120")
    train.add_argument("--seed", type=arguments.seed, help="random seed (weights, shuffling, noise), 0 .. 2**63 - 2")
    train.add_argument("--dtype", choices=["float64", "float32"], help="floating point precision")
    train.add_argument("--noise", type=arguments.input_noise,
                       help="std of Gaussian noise on input times during training (tau_s), in [0, 10]")
    train.add_argument("--out", type=arguments.folder, help="folder for checkpoint.pt and metrics.json")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_hardware_arguments(train)

    evaluate = sub.add_parser("evaluate", help="test accuracy of a checkpoint",
                              description="Evaluate a checkpoint on its data set's test split (in the ideal "
                                          "model, or with --hardware on an emulated chip).")
    evaluate.add_argument("checkpoint", type=arguments.file)
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

    if args.out is not None:  # before anything long: a bad destination costs no training
        check_output_folder(args.out, TRAIN_OUTPUTS, label="--out")
    config = config_from_args(args)
    _check_memory(config)
    started = time.perf_counter()
    trainer = Trainer(config, progress=not args.no_progress)
    hardware = _hardware_session(args, trainer)
    trainer.run()
    if hardware:
        test_loss, test_accuracy = hardware.evaluate("test", trials=args.trials)
    else:
        test_loss, test_accuracy = trainer.evaluate("test")
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
    status = _save_run(args.out, trainer, metrics) if args.out else 0
    print(f"epochs={trainer.epoch} seconds_total={metrics['seconds_total']:.1f}")
    if hardware and args.trials > 1:
        print(f"test runs on the chip: {', '.join(f'{a:.4f}' for a in metrics['test_accuracy_runs'])} "
              f"(std {metrics['test_accuracy_std']:.4f})")
    print(f"test_accuracy={test_accuracy:.4f}")
    return status


def _check_memory(config):
    """A network whose weights alone exceed the machine's memory fails in torch's allocator
    (a traceback) or swaps for hours: refuse it before anything is allocated."""
    import os

    n_in, n_out = _DATASET_WIDTHS[config.dataset]
    sizes = (n_in, *config.hidden, n_out)
    itemsize = 8 if config.dtype == "float64" else 4
    # weights, their gradients, Adam's two moments, best and average copies: 6 copies
    needed = 6 * itemsize * sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    needed += 4 * itemsize * config.batch_size * max(sizes)  # a batch's times and gradients per layer
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if needed > available:
        raise ValueError(f"network {'-'.join(map(str, sizes))} with batch size {config.batch_size} needs about "
                         f"{needed / 2**30:.0f} GiB, but this machine has {available / 2**30:.0f} GiB: "
                         "choose smaller --hidden or --batch-size")


def _write_run(folder: Path, payload: dict, metrics: dict, group: AtomicGroup | None = None):
    """checkpoint.pt and metrics.json into ``folder``, both or neither."""
    import torch

    with group if group is not None else AtomicGroup() as group:
        group.add(folder / "checkpoint.pt", lambda f: torch.save(payload, f))
        group.add(folder / "metrics.json", lambda f: _dump_json(metrics, f), binary=False)


def _save_run(folder: Path, trainer, metrics: dict) -> int:
    """Save the run's outputs together; on failure save them in a rescue folder and say where.
    Returns the exit status (0 saved, 1 saved elsewhere or lost)."""
    from . import checkpoint

    payload = checkpoint.checkpoint_payload(trainer.network, trainer.state_dict())
    group = AtomicGroup()
    try:
        _write_run(folder, payload, metrics, group)
        return 0
    except KeyboardInterrupt:
        # A Ctrl-C while the files are written replaces nothing; one during the final renames
        # waits for them to finish (ttfs_lab.atomic.deferred_signals).
        if group.committed:
            print(f"interrupted after saving: {folder} holds this run's {' and '.join(TRAIN_OUTPUTS)}", file=sys.stderr)
        else:
            print(f"interrupted while saving: {folder} was left as it was (no file changed)", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as error:  # the folder changed since the check, the disk is full, ...
        reason = f"{type(error).__name__}: {error}" if not isinstance(error, OSError) else (error.strerror or str(error))
        rescue = _rescue(payload, metrics)
        prog = "python -m ttfs_lab train"
        if rescue is None:
            print(f"{prog}: error: could not save to {folder} ({reason}), nor to a rescue folder "
                  "(working directory, home, temporary folder): the trained network is lost", file=sys.stderr)
        else:
            print(f"{prog}: error: could not save to {folder} ({reason}); the trained network and its "
                  f"metrics are saved in {rescue} instead", file=sys.stderr)
        return 1


def _rescue(payload: dict, metrics: dict) -> Path | None:
    """Write the outputs into a new ttfs-lab-rescue-* folder at the first place that takes them."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for base in (Path.cwd(), Path.home(), Path(tempfile.gettempdir())):
        try:
            folder = Path(tempfile.mkdtemp(prefix=f"ttfs-lab-rescue-{stamp}-", dir=base))
        except Exception:
            continue
        try:  # mkdtemp's folder is private (0700); the outputs in it follow the umask like --out
            folder.chmod(0o777 & ~current_umask())
        except OSError:
            pass
        try:
            _write_run(folder, payload, metrics)
            return folder
        except Exception:
            try:
                folder.rmdir()
            except OSError:
                pass
    return None


def _hardware_session(args, trainer):
    if getattr(args, "hardware", None) in (None, "ideal") and not getattr(args, "in_the_loop", False):
        if getattr(args, "init", None) is not None:  # --init alone: ideal training from these weights
            from .hardware.cli import load_initial_weights

            load_initial_weights(trainer.network, args.init)
        if getattr(args, "max_silent_output", None) is not None:  # a bumping tolerance: ideal training too
            trainer.config = trainer.config.replace(max_silent_output=args.max_silent_output)
        return None
    from .hardware.cli import session_from_args

    return session_from_args(args, trainer)


def cmd_evaluate(args) -> int:
    from . import checkpoint
    from .loss import accuracy
    from .data import load

    network, state = checkpoint.load(args.checkpoint)
    if state:
        dataset = state["config"]["dataset"]
    else:  # a network without training state: the data set its input width belongs to
        dataset = {4: "yin_yang", 256: "mnist"}.get(network.sizes[0])
        if dataset is None:
            raise ValueError(f"{args.checkpoint} holds a network with {network.sizes[0]} inputs and no training "
                             "state; evaluate knows Yin-Yang (4 inputs) and 16x16 MNIST (256)")
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


def _check_hardware_arguments(args):
    try:
        from .hardware.cli import check_arguments
    except ImportError:
        return
    check_arguments(args, args.command)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def cmd_robustness(args) -> int:
    from .experiments.robustness import run_from_args

    return run_from_args(args)


def _dump_json(data, f):
    json.dump(data, f, indent=2, default=float)


def _write_json_atomic(path: Path, data: dict):
    atomic_write(path, lambda f: _dump_json(data, f), binary=False)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "robustness": cmd_robustness}
    try:
        if args.command in ("train", "evaluate"):
            _check_hardware_arguments(args)
        return commands[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"{parser.prog} {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        if "can't allocate memory" not in str(error):
            raise
        print(f"{parser.prog} {args.command}: error: out of memory (try a smaller network or batch)", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{parser.prog} {args.command}: error: out of memory (try a smaller network or batch)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
