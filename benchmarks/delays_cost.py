"""Seconds per training epoch with learned synaptic delays vs without, same network, one run.

    python benchmarks/delays_cost.py [--epochs 6] [--hidden 200] [--backend auto|native|torch]

Both trainers (preset "delays" and preset "improved", which differ only by the delays) run in
this one process, alternating epoch by epoch, so that the shared machine's load hits both
alike; prints the median seconds per epoch of each, their ratio and os.getloadavg().
"""
from __future__ import annotations

import argparse
import os
import statistics

import torch

from ttfs_lab import native
from ttfs_lab.train.config import preset
from ttfs_lab.train.trainer import Trainer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--backend", default="auto", choices=native.BACKENDS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    native.set_backend(args.backend)
    trainers = {name: Trainer(preset(name, hidden=(args.hidden,), epochs=args.epochs), progress=False)
                for name in ("delays", "improved")}
    print(f"sizes {trainers['delays'].config.sizes}, backend {args.backend}, 1 thread, {args.epochs} epochs each, "
          f"load before {os.getloadavg()}")
    for epoch in range(1, args.epochs + 1):
        for trainer in trainers.values():
            trainer.run(epochs=epoch)
    seconds = {name: statistics.median(t.history["seconds_per_epoch"]) for name, t in trainers.items()}
    for name, t in trainers.items():
        print(f"{name:9s} median {seconds[name]:.3f} s/epoch  (each: {', '.join(f'{s:.2f}' for s in t.history['seconds_per_epoch'])})")
    print(f"ratio delays / improved: {seconds['delays'] / seconds['improved']:.2f}x  load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
