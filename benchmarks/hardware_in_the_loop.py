"""Yin-Yang on the emulated BrainScaleS-2: an ideally trained network deployed as is, versus
training with hardware in the loop (SPEC §4; the paper: 95.0 +- 0.9 % on chip).

    python benchmarks/hardware_in_the_loop.py --ideal IDEAL/checkpoint.pt --out DIR [--from-scratch]
        [--epochs N] [--lr 0.002] [--lr-step 20] [--lr-gamma 0.5] [--chip-id 0] [--trials 5] [--keep-best]
        [--weight-average D] [--step-on-bump] [--batch-size N] [--max-silent-output F] [--seed S]

IDEAL is a checkpoint of `python -m ttfs_lab train yinyang --out IDEAL` (the paper protocol);
it is deployed on the chip as the baseline. With --from-scratch a fresh network of IDEAL's
size is trained in the loop with the paper protocol adapted by in_the_loop_config (what
`python -m ttfs_lab train yinyang --hardware bss2 --in-the-loop` does; 300 epochs); without,
IDEAL is fine-tuned in the loop. Test accuracies on the chip are means over ``--trials`` runs
of the test set (each run draws new trial-to-trial noise; the chip's fixed pattern stays).
Writes DIR/hardware_in_the_loop.json and DIR/checkpoint.pt (the trained network) and prints
one line per result.

Measured with --from-scratch --trials 20 --ideal notebooks/data/yinyang_paper.ckpt (4-120-3,
96.5 % in the ideal model), one thread, 320-480 s wall clock per chip on the 2-core machine
shared with one or two other runs:

    4-120-3, bss2 profile          chip 0   chip 1   chip 2   mean
    ideal network deployed          81.1     88.5     85.9    85.1 %
    trained in the loop            95.7     96.1     95.6    95.8 %   (single runs 94.7-96.8 %)

The loss temperature xi = 0.1 of in_the_loop_config is what gets there: the runs below used
the paper's xi = 0.2 and ended at 93.4-95.3 % (see ttfs_lab.hardware.in_the_loop.LOOP_XI).

History, fine-tuning an ideal network with xi = 0.2 (before LOOP_XI):
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

Not reached with xi = 0.2: >= 95.0 % as the mean over chips 0-2. Further attempts with the 4-240-3 network
(quiet machine, load average 1.1-3.4, 1-5 minutes wall per chip; the
deployed-as-trained figures are those of the table, the fine-tuning is deterministic):

    variant (4-240-3 unless said; in-the-loop test accuracy)      chip 0   chip 1   chip 2   mean
    --epochs 40 --lr-step 10 --lr-gamma 0.5 --keep-best (above)    95.2     94.8     94.5    94.8
    --epochs 80 --lr 0.001 --lr-step 20 (--keep-best)              94.5     94.9     94.8    94.8
    the same + --step-on-bump --weight-average 0.97                94.6     94.9     94.8    94.8
    40-epoch protocol + --weight-average 0.97                      95.3     94.6     94.6    94.8
    40-epoch protocol + --step-on-bump                               -        -     94.6
    40-epoch protocol + --batch-size 300                             -        -     94.5
    40-epoch protocol + --max-silent-output 0.2 (identical runs)     -        -     94.5
    40-epoch protocol + --lr 0.004                                   -        -     94.4
    4-255-3 (the most that fits: 255 inputs + bias = 512 rows per
      output neuron), train --hidden 255 --epochs 120 (96.0 % ideally)      -        -     93.9 (deployed 86.9)
    train --hidden 240 --epochs 300 (96.2 % ideally)                 -      93.6     94.6 (deployed 83.3 / 91.7)
    train --preset improved --hidden 240 (97.3 % ideally)            -      92.4     93.3 (deployed 79.0 / 84.9)

The first row's networks over 20 test runs each (mean +- std of single runs), fine-tuned vs
deployed as trained: chip 0 95.2 +- 0.6 vs 89.8 +- 0.7, chip 1 94.9 +- 0.6 vs 83.6 +- 0.6,
chip 2 94.5 +- 0.4 vs 87.0 +- 0.6 %; mean over the chips 94.8 vs 86.8 %.

Every fine-tuning variant of the same 4-240-3 network lands at 94.4-95.3 % per chip; single
test runs of one network spread with a std of 0.4-0.7 points (trial-to-trial noise), so the differences above are within the noise. A better
ideal network is not a better start: the ones trained longer or with the improved preset lose
more on the chip and end lower after fine-tuning. Ideal training with input noise (--noise 0.1 /
0.3) costs too much ideally (91.3 / 84.3 %).
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
from ttfs_lab.hardware import BrainScaleS2, InTheLoop, in_the_loop_config
from ttfs_lab.hardware.cli import chip_test_runs
from ttfs_lab.loss import accuracy
from ttfs_lab.network import TTFSNetwork
from ttfs_lab.train import Trainer, load_splits, preset


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ideal", type=Path, required=True, help="checkpoint of an ideally trained Yin-Yang network")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--profile", default="bss2")
    p.add_argument("--chip-id", type=int, default=0)
    p.add_argument("--multiplex", type=int, default=5)
    p.add_argument("--epochs", dest="epochs_given", type=int, default=None, help="default 60 (fine-tuning), 300 (--from-scratch)")
    p.add_argument("--lr", type=float, default=0.002, help="fine-tuning learning rate (--from-scratch: the paper's 0.005)")
    p.add_argument("--lr-step", type=int, default=20)
    p.add_argument("--lr-gamma", type=float, default=0.5)
    p.add_argument("--input-noise", type=float, default=0.0,
                   help="std of Gaussian noise on the input times during fine-tuning (tau_s), for robustness")
    p.add_argument("--max-silent-output", type=float, default=None,
                   help="weight bumping tolerance for silent outputs (default ttfs_lab.hardware.in_the_loop.MAX_SILENT_OUTPUT)")
    p.add_argument("--keep-best", action="store_true",
                   help="end with the weights of the epoch with the best validation accuracy on the chip")
    p.add_argument("--weight-average", type=float, default=0.0,
                   help="decay d of a moving average of the weights over the batches (TrainConfig.weight_average; 0: off)")
    p.add_argument("--step-on-bump", action="store_true",
                   help="make the gradient step also in batches that bump silent neurons (TrainConfig.skip_step_on_bump=False)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the paper's 150")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--from-scratch", action="store_true",
                   help="train a fresh network of the same size in the loop (the paper protocol adapted by "
                        "in_the_loop_config, --epochs default 300, lr 0.005) instead of fine-tuning IDEAL")
    p.add_argument("--seed", type=int, default=0, help="initial weights with --from-scratch")
    args = p.parse_args(argv)
    args.epochs = args.epochs_given if args.epochs_given is not None else (300 if args.from_scratch else 60)
    torch.set_num_threads(1)

    network, _ = checkpoint.load(args.ideal)
    data = load_splits("yin_yang", network.dtype)
    chip = BrainScaleS2(args.profile, chip_id=args.chip_id, multiplex=args.multiplex)
    x, y = data["test"]
    with torch.no_grad():
        ideal_software = accuracy(network(x), y)
    deployed = chip_test_runs(chip, network, *data["test"], args.trials)
    print(f"ideal network, ideal model: test_accuracy={ideal_software:.4f}")
    print(f"ideal network deployed on {chip!r}: test_accuracy={statistics.mean(deployed):.4f} "
          f"(runs: {', '.join(f'{a:.3f}' for a in deployed)})", flush=True)

    if args.from_scratch:
        # the paper's protocol, adapted by in_the_loop_config, on a fresh network of the same size
        config = in_the_loop_config(preset("paper", epochs=args.epochs, hidden=tuple(network.sizes[1:-1]), seed=args.seed,
                                           input_noise=args.input_noise, keep_best=args.keep_best,
                                           weight_average=args.weight_average))
        network = TTFSNetwork(network.sizes, params=network.params, bias_time=network.bias_time, seed=args.seed)
    else:
        # The paper's protocol adapted by in_the_loop_config (10 % silent outputs tolerated, xi 0.1)
        config = finetune_config(args.epochs, lr=args.lr, lr_step=args.lr_step, lr_gamma=args.lr_gamma,
                                 input_noise=args.input_noise, keep_best=args.keep_best,
                                 weight_average=args.weight_average,
                                 hidden=tuple(network.sizes[1:-1]))
    if args.step_on_bump:
        config = config.replace(skip_step_on_bump=False)
    if args.batch_size is not None:
        config = config.replace(batch_size=args.batch_size)
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
    trained = chip_test_runs(chip, trainer.network, *data["test"], args.trials)
    what = "trained in the loop from scratch" if args.from_scratch else "fine-tuned in the loop"
    print(f"{what} ({args.epochs} epochs, {seconds:.0f} s): test_accuracy={statistics.mean(trained):.4f} "
          f"(runs: {', '.join(f'{a:.3f}' for a in trained)})")

    args.out.mkdir(parents=True, exist_ok=True)
    trainer.save(args.out / "checkpoint.pt")
    result = {
        "chip": {"profile": args.profile, "chip_id": args.chip_id, "multiplex": args.multiplex},
        "ideal_test_accuracy_software": ideal_software,
        "deployed_test_accuracy": statistics.mean(deployed), "deployed_runs": deployed,
        "in_the_loop_test_accuracy": statistics.mean(trained), "in_the_loop_runs": trained,
        "finetune": {"from_scratch": args.from_scratch, "epochs": args.epochs, "lr": config.lr, "xi": config.loss.xi,
                     "lr_step": config.lr_step, "lr_gamma": config.lr_gamma,
                     "max_silent_output": config.max_silent_output, "input_noise": args.input_noise,
                     "keep_best": args.keep_best, "weight_average": args.weight_average,
                     "skip_step_on_bump": config.skip_step_on_bump, "batch_size": config.batch_size,
                     "seconds": seconds},
        "validation_accuracy_on_chip": trainer.history["validation_accuracy"],
        "hardware_totals_estimate": chip.total,
    }
    write_json_atomic(args.out / "hardware_in_the_loop.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
