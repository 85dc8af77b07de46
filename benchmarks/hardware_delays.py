"""Emulated BrainScaleS-2 in the loop, with learned synaptic delays vs without (chips 0-2).

    python benchmarks/hardware_delays.py [--epochs 30] [--chips 0 1 2] [--trials 20] [--variants delays plain]

Each run trains a 4-120-3 network from scratch in the loop (the paper preset adapted by
in_the_loop_config, as `train yinyang --hardware bss2 --in-the-loop`; "delays" adds learned
synaptic delays starting uniform in [0, 0.1] tau_s, on the chip's emulated delay lines:
ttfs_lab.hardware.delays), then tests it on the same chip: the mean of --trials runs of the
test set (trial-to-trial noise redrawn each run). Prints one line per (variant, chip) with
seconds per epoch and os.getloadavg().
"""
from __future__ import annotations

import argparse
import os
import statistics

import torch

from ttfs_lab.hardware import BrainScaleS2, InTheLoop, in_the_loop_config
from ttfs_lab.hardware.cli import chip_test_runs
from ttfs_lab.train.config import preset
from ttfs_lab.train.trainer import Trainer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--chips", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--variants", nargs="+", default=["delays", "plain"], choices=["delays", "plain"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for variant in args.variants:
        means = []
        for chip_id in args.chips:
            extra = {"delays": "synaptic", "delay_init": (0.0, 0.1)} if variant == "delays" else {}
            config = in_the_loop_config(preset("paper", epochs=args.epochs, **extra))
            chip = BrainScaleS2("bss2", chip_id=chip_id)
            trainer = Trainer(config, substrate=InTheLoop(chip), progress=False)
            trainer.run()
            x, y = trainer.data["test"]
            runs = chip_test_runs(chip, trainer.network, x, y, args.trials)
            means.append(statistics.mean(runs))
            print(f"{variant:6s} chip {chip_id}  {args.epochs} epochs in the loop  test on chip: mean {100 * means[-1]:.1f} % "
                  f"over {args.trials} runs (min {100 * min(runs):.1f}, max {100 * max(runs):.1f})  "
                  f"{statistics.mean(trainer.history['seconds_per_epoch']):.2f} s/epoch  load {os.getloadavg()[0]:.2f}",
                  flush=True)
        print(f"{variant:6s} mean over chips {args.chips}: {100 * statistics.mean(means):.1f} %", flush=True)


if __name__ == "__main__":
    main()
