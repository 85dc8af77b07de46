"""Yin-Yang with learned delays vs without: test accuracy per seed and seconds per epoch.

    python benchmarks/train_delays.py                       # delays + improved, seeds 0-4, 300 epochs
    python benchmarks/train_delays.py --presets delays --seeds 0 1 --epochs 50
    python benchmarks/train_delays.py --presets delays --set delay_lr=0.02 --set delay_init=0,0.5

Every run prints one line (and appends it as JSON to --log): preset, seed, network size,
number of trainable parameters, test accuracy of the kept network (the best validation
epoch, as the presets say), its validation accuracy, mean seconds per epoch and the load
average (the machine is shared: compare seconds within one invocation).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import time

import torch

from ttfs_lab.train.config import preset
from ttfs_lab.train.trainer import Trainer


def _override(text):
    key, _, value = text.partition("=")
    if not key or not _:
        raise argparse.ArgumentTypeError(f"--set needs key=value, got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    if isinstance(parsed, tuple):
        parsed = tuple(parsed)
    return key, parsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["delays", "improved"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--set", type=_override, action="append", default=[], help="config override key=value")
    parser.add_argument("--log", default=None, help="append one JSON line per run here")
    args = parser.parse_args(argv)
    overrides = dict(args.set)
    torch.set_num_threads(1)  # the machine is shared; one thread per run keeps runs comparable
    results = {}
    for name in args.presets:
        for seed in args.seeds:
            config = preset(name, seed=seed, epochs=args.epochs, **overrides)
            trainer = Trainer(config, progress=False)
            started = time.perf_counter()
            history = trainer.run()
            _, test = trainer.evaluate("test")
            row = {
                "preset": name, "seed": seed, "sizes": list(config.sizes), "delays": config.delays,
                "parameters": sum(p.numel() for p in trainer.network.parameters()),
                "test_accuracy": test, "best_validation": max(history["validation_accuracy"]),
                "seconds_per_epoch": statistics.mean(history["seconds_per_epoch"]),
                "wall_seconds": time.perf_counter() - started, "epochs": args.epochs,
                "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
                "loadavg": os.getloadavg(),
            }
            results.setdefault(name, []).append(test)
            print(f"{name:9s} seed {seed}  sizes {config.sizes}  params {row['parameters']}  test {100 * test:.1f} %  "
                  f"best val {100 * row['best_validation']:.1f} %  {row['seconds_per_epoch']:.3f} s/epoch  "
                  f"load {row['loadavg'][0]:.2f}", flush=True)
            if args.log:
                with open(args.log, "a") as f:
                    f.write(json.dumps(row) + "\n")
    for name, accs in results.items():
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{name:9s} mean test {100 * statistics.mean(accs):.2f} % (std {100 * spread:.2f}) over seeds {args.seeds}")


if __name__ == "__main__":
    main()
