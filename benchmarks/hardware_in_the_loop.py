"""Yin-Yang on the emulated BrainScaleS-2: an ideally trained network deployed as is, versus the
same network fine-tuned with hardware in the loop (SPEC §4; the paper: 95.0 +- 0.9 % on chip).

    python benchmarks/hardware_in_the_loop.py --ideal IDEAL/checkpoint.pt --out DIR
        [--epochs 60] [--lr 0.002] [--lr-step 20] [--lr-gamma 0.5] [--chip-id 0] [--trials 5] [--keep-best]

IDEAL is a checkpoint of `python -m ttfs_lab train yinyang --out IDEAL` (the paper protocol).
Test accuracies on the chip are means over ``--trials`` runs of the test set (each run draws
new trial-to-trial noise; the chip's fixed pattern stays). Writes DIR/hardware_in_the_loop.json
and DIR/checkpoint.pt (the fine-tuned network) and prints one line per result.

Measured (bss2 profile, 5 trials, --epochs 40 --lr-step 10 --lr-gamma 0.5 --keep-best; shared
2-core machine, load average about 6, 2.5-4 minutes wall clock per chip):

    network                                   chip 0          chip 1          chip 2
    4-120-3 (notebooks/data/yinyang_paper)    81.0 -> 93.9 %  88.7 -> 93.5 %  85.7 -> 93.5 %
    4-240-3 (train yinyang --hidden 240
             --epochs 120: 96.1 % ideally)    89.7 -> 95.2 %  84.0 -> 94.8 %  86.9 -> 94.5 %

(deployed as trained -> fine-tuned in the loop). With 120 hidden neurons every variant we tried
on chip 0 ends at 93.4-94.2 % (100 epochs: 94.2; margin loss: 94.0; min_slope 0.5: 93.9;
hidden layer multiplexed twice as well: 93.9; in the loop from scratch, 300 epochs: 93.4;
xi 0.5 and input noise 0.3 were worse, below 90 % after 12-33 epochs): the trial-to-trial
threshold noise (4 %) alone costs the ideal network 3.5 points (96.5 -> 93.1 %), and on chip 0
the fine-tuned network reaches 95.7 % without it. 240 hidden neurons (246 of the 512 circuits) average more of
that noise out.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from ttfs_lab import checkpoint
from ttfs_lab.experiments.robustness import finetune_config, write_json_atomic
from ttfs_lab.hardware import BrainScaleS2, InTheLoop
from ttfs_lab.loss import accuracy
from ttfs_lab.train import Trainer, load_splits


@torch.no_grad()
def chip_accuracy(chip, network, data, trials):
    x, y = data["test"]
    return [accuracy(chip.run(network, x)[-1], y) for _ in range(trials)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ideal", type=Path, required=True, help="checkpoint of an ideally trained Yin-Yang network")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--profile", default="bss2")
    p.add_argument("--chip-id", type=int, default=0)
    p.add_argument("--multiplex", type=int, default=5)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--lr-step", type=int, default=20)
    p.add_argument("--lr-gamma", type=float, default=0.5)
    p.add_argument("--input-noise", type=float, default=0.0,
                   help="std of Gaussian noise on the input times during fine-tuning (tau_s), for robustness")
    p.add_argument("--max-silent-output", type=float, default=None,
                   help="weight bumping tolerance for silent outputs (default ttfs_lab.hardware.in_the_loop.MAX_SILENT_OUTPUT)")
    p.add_argument("--keep-best", action="store_true",
                   help="end with the weights of the epoch with the best validation accuracy on the chip")
    p.add_argument("--trials", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    network, _ = checkpoint.load(args.ideal)
    data = load_splits("yin_yang", network.dtype)
    chip = BrainScaleS2(args.profile, chip_id=args.chip_id, multiplex=args.multiplex)
    x, y = data["test"]
    with torch.no_grad():
        ideal_software = accuracy(network(x), y)
    deployed = chip_accuracy(chip, network, data, args.trials)
    print(f"ideal network, ideal model: test_accuracy={ideal_software:.4f}")
    print(f"ideal network deployed on {chip!r}: test_accuracy={statistics.mean(deployed):.4f} "
          f"(runs: {', '.join(f'{a:.3f}' for a in deployed)})", flush=True)

    # The paper's protocol, tolerating 10 % silent outputs before weight bumping (in_the_loop.MAX_SILENT_OUTPUT).
    config = finetune_config(args.epochs, lr=args.lr, lr_step=args.lr_step, lr_gamma=args.lr_gamma,
                             input_noise=args.input_noise, keep_best=args.keep_best,
                             hidden=tuple(network.sizes[1:-1]))
    if args.max_silent_output is not None:
        config = config.replace(max_silent_output=args.max_silent_output)
    substrate = InTheLoop(chip)
    substrate.after_update(network)
    trainer = Trainer(config, network=network, data=data, substrate=substrate, progress=False,
                      callbacks=[lambda e: e.kind == "epoch" and print(
                          f"epoch {e.epoch}: train_loss={e.loss:.4f} validation_accuracy_on_chip={e.accuracy:.4f}", flush=True)])
    started = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - started
    trained = chip_accuracy(chip, trainer.network, data, args.trials)
    print(f"fine-tuned in the loop ({args.epochs} epochs, {seconds:.0f} s): test_accuracy={statistics.mean(trained):.4f} "
          f"(runs: {', '.join(f'{a:.3f}' for a in trained)})")

    args.out.mkdir(parents=True, exist_ok=True)
    trainer.save(args.out / "checkpoint.pt")
    result = {
        "chip": {"profile": args.profile, "chip_id": args.chip_id, "multiplex": args.multiplex},
        "ideal_test_accuracy_software": ideal_software,
        "deployed_test_accuracy": statistics.mean(deployed), "deployed_runs": deployed,
        "in_the_loop_test_accuracy": statistics.mean(trained), "in_the_loop_runs": trained,
        "finetune": {"epochs": args.epochs, "lr": args.lr, "lr_step": args.lr_step, "lr_gamma": args.lr_gamma,
                     "max_silent_output": config.max_silent_output, "input_noise": args.input_noise,
                     "keep_best": args.keep_best,
                     "seconds": seconds},
        "validation_accuracy_on_chip": trainer.history["validation_accuracy"],
        "hardware_totals_estimate": chip.total,
    }
    write_json_atomic(args.out / "hardware_in_the_loop.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
