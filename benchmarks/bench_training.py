"""Time the paper's Yin-Yang protocol (SPEC §2): 300 epochs, batch 150, Adam, weight bumping.

    python benchmarks/bench_training.py [--epochs 300] [--seed 0] [--threads 1] [--preset paper]

Prints seconds per epoch (median, min, max), the total wall and CPU time (setup = generating
the data set, training, and the final test evaluation), the load average before and after
(other processes on a shared machine stretch wall-clock time, CPU time much less), and the
test accuracy reached. Target: the full 300-epoch protocol in <= 60 s on a 2-core machine.

Measured (2 cores shared with other jobs, 2026-11-29): load 1.2 -> total 41.7 s wall, 41.4 s
CPU, median 0.126 s per epoch, test accuracy 0.9620; load 3.1 -> 57.4 s wall, 42.1 s CPU;
load 6.4 -> 96.7 s wall, 44.6 s CPU.
Most of the CPU time is the spike-time kernels (ttfs_lab.native) and their Python wrappers,
called twice per batch (10,200 batches) and once per epoch for validation.
"""
import argparse
import os
import statistics
import time

import torch

from ttfs_lab.spike_times import get_backend
from ttfs_lab.train import Trainer, preset


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these small tensors)")
    parser.add_argument("--preset", default="paper")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    load_before = os.getloadavg()
    started, cpu_started = time.perf_counter(), time.process_time()
    trainer = Trainer(preset(args.preset, epochs=args.epochs, seed=args.seed), progress=False)
    setup = time.perf_counter() - started
    trainer.run()
    _, test_accuracy = trainer.evaluate("test")
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    per_epoch = trainer.history["seconds_per_epoch"]
    bumped = statistics.mean(trainer.history["bumped_fraction"])
    print(f"preset={args.preset} epochs={args.epochs} seed={args.seed} threads={args.threads} backend={get_backend()}")
    print(f"seconds_per_epoch median={statistics.median(per_epoch):.3f} min={min(per_epoch):.3f} max={max(per_epoch):.3f}")
    print(f"setup_seconds={setup:.2f} total_seconds={total:.1f} cpu_seconds={cpu:.1f}")
    print("load_average_1min before={:.2f} after={:.2f}".format(load_before[0], os.getloadavg()[0]))
    print(f"bumped_batches={bumped:.1%} test_accuracy={test_accuracy:.4f}")


if __name__ == "__main__":
    main()
