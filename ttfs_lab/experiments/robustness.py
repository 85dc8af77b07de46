"""Robustness study: what each hardware distortion does to a Yin-Yang network, and how much
hardware-in-the-loop training wins back (the shape of the paper's hardware findings).

For every distortion and strength:
  * "ideal":       the ideally trained network, evaluated under that distortion alone
                   (mean over ``seeds`` chips / noise streams);
  * "in-the-loop": the same network fine-tuned for ``finetune_epochs`` with that distortion
                   in the loop (forward distorted, ideal gradients at the measured times),
                   then tested on the same emulated substrate (same fixed pattern).
The row ("none", 0) is the control: the ideal network as is, and fine-tuned for the same
epochs without distortion (so "in-the-loop" gains are not just "more training").

What to expect (the paper's shape): static and fixed-pattern distortions (weight
quantization and clipping, threshold and time-constant mismatch, dead neurons) cost the ideal
network a lot and training in the loop wins most of it back. Trial-to-trial noise (threshold
noise, jitter, input noise, spike loss) is redrawn every run, so there is no pattern to learn:
training in the loop can only widen the margins, and at small strengths the in-the-loop figure
(one noisy test run) differs from the ideal one by about the run-to-run spread (the ± column).

Fine-tuning uses the paper's protocol except for the output-silence tolerance of weight
bumping (``finetune_config``): under noise some output neuron stays silent for some sample in
most batches, and with the paper's 0 % tolerance such a batch is a weight bump without a
gradient step (we measured 60-80 % of all batches on the emulated chip). We tolerate 10 %,
and the loss's softmax temperature is 0.1 instead of 0.2 (in_the_loop.LOOP_XI: it focuses the
loss on the samples that noise flips). The trainer's max_dw_norm guard is off in the loop (the
slope floor of ttfs_lab.hardware.in_the_loop bounds the steps instead; see in_the_loop_config).

    python -m ttfs_lab robustness --out DIR [--quick] [--network CHECKPOINT]

writes DIR/robustness.json, a list of records
    {"distortion", "strength", "trained": "ideal" | "in-the-loop", "test_accuracy", ...},
rewritten after every record (atomic), and prints the table.
"""
from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import torch

from .. import arguments
from ..atomic import atomic_write, check_output_folder
from ..loss import accuracy

# Strengths of the full study (units: see each distortion's docstring). BrainScaleS-2's
# calibrated values are among them (1/30, 2.1, 0.08, 0.03, 0.04, 0.01).
FULL = {
    "weight_quantization": [1 / 30, 0.1, 0.25, 0.5],
    "weight_clipping": [4.0, 2.1, 1.5, 1.0],
    "threshold_mismatch": [0.08, 0.2, 0.4],
    "time_constant_mismatch": [0.03, 0.1, 0.2],
    "dead_neurons": [0.1, 0.3],
    "threshold_noise": [0.04, 0.1, 0.2],
    "output_jitter": [0.01, 0.1, 0.3],
    "input_noise": [0.1, 0.3],
    "spike_loss": [0.05, 0.2],
}
QUICK = {
    "weight_quantization": [0.25],
    "weight_clipping": [1.5],
    "threshold_mismatch": [0.2],
    "time_constant_mismatch": [0.1],
    "threshold_noise": [0.1],
}


def _model(name: str, strength: float, seed: int):
    from ..hardware import HardwareModel, make

    if name == "none":
        return HardwareModel("none", ())
    return HardwareModel(f"{name}={strength:g}", (make(name, strength, seed),))


@torch.no_grad()
def evaluate_under(network, data, name: str, strength: float, seed: int) -> float:
    from ..hardware import Emulator

    x, y = data["test"]
    return accuracy(Emulator(_model(name, strength, seed)).run(network, x)[-1], y)


def finetune_config(epochs: int, lr: float = 0.002, **overrides):
    """The paper's protocol for fine-tuning in the loop (see the module docstring and
    ttfs_lab.hardware.in_the_loop.in_the_loop_config)."""
    from ..hardware.in_the_loop import in_the_loop_config
    from ..train import preset

    return in_the_loop_config(preset("paper", epochs=epochs, lr=lr)).replace(**overrides)


def finetune_in_the_loop(network, data, name, strength, seed, config):
    """(test accuracy on the same substrate, seconds) after fine-tuning a copy in the loop."""
    from ..hardware import Emulator, InTheLoop
    from ..train import Trainer

    net = copy.deepcopy(network)
    emulator = Emulator(_model(name, strength, seed))
    substrate = InTheLoop(emulator)
    substrate.after_update(net)  # clipping: start inside the representable range
    started = time.perf_counter()
    config = config.replace(hidden=tuple(net.sizes[1:-1]))  # the given network's, e.g. from --network
    trainer = Trainer(config, network=net, data=data, progress=False, substrate=substrate)
    trainer.run()
    with torch.no_grad():
        x, y = data["test"]
        acc = accuracy(emulator.run(net, x)[-1], y)
    return acc, time.perf_counter() - started


def run_study(network, data, strengths: dict, finetune_config, seeds=(0, 1, 2), loop_seed: int = 0,
              out: Path | None = None, log=print) -> list[dict]:
    """The study (module docstring); returns the records (and keeps out/robustness.json current)."""
    records = []

    def add(record):
        records.append(record)
        if out is not None:
            write_json_atomic(out / "robustness.json", records)
        log(_row(record))

    conditions = [("none", 0.0)] + [(name, s) for name, values in strengths.items() for s in values]
    for name, strength in conditions:
        accs = [evaluate_under(network, data, name, strength, seed) for seed in seeds]
        add({"distortion": name, "strength": strength, "trained": "ideal", "test_accuracy": _mean(accs),
             "test_accuracy_std": _std(accs), "seeds": list(seeds), "test_accuracy_by_seed": accs})
    for name, strength in conditions:
        acc, seconds = finetune_in_the_loop(network, data, name, strength, loop_seed, finetune_config)
        add({"distortion": name, "strength": strength, "trained": "in-the-loop", "test_accuracy": acc,
             "seeds": [loop_seed], "finetune_epochs": finetune_config.epochs, "finetune_lr": finetune_config.lr,
             "seconds": seconds})
    return records


def table(records) -> str:
    """Markdown table (columns padded, so it also reads in a terminal): one row per
    (distortion, strength) with the ideally trained network's accuracy (mean +- sd over the
    seeds; no spread for deterministic distortions), the same on the in-the-loop run's seed,
    the fine-tuned network's accuracy on that seed, and the difference of the last two (a
    like-for-like comparison: same chip / noise stream)."""
    rows = {}
    for r in records:
        rows.setdefault((r["distortion"], r["strength"]), {})[r["trained"]] = r
    loop_seeds = {r["seeds"][0] for r in records if r["trained"] == "in-the-loop"}
    seed = loop_seeds.pop() if len(loop_seeds) == 1 else None
    same = f"seed {seed}" if seed is not None else "same seed"
    header = ["distortion", "strength", "trained ideally", f"trained ideally, {same}",
              f"in the loop, {same}", "in the loop - ideal"]
    body = []
    for (name, strength), by in rows.items():
        ideal, loop = by.get("ideal"), by.get("in-the-loop")
        cells = [name, f"{strength:.4g}", "", "", "", ""]
        on_seed = None
        if ideal is not None:
            spread = ideal.get("test_accuracy_std", 0.0)
            cells[2] = _percent(ideal["test_accuracy"]) + (f" ± {100 * spread:.1f}" if spread > 1e-9 else "")
        if ideal is not None and loop is not None:
            on_seed = _accuracy_on_seed(ideal, loop["seeds"][0])
            cells[3] = "" if on_seed is None else _percent(on_seed)
        if loop is not None:
            cells[4] = _percent(loop["test_accuracy"])
            if on_seed is not None:
                cells[5] = f"{100 * (loop['test_accuracy'] - on_seed):+.1f}"
        body.append(cells)
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i >= 2 else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule] + [line(cells) for cells in body])


def _accuracy_on_seed(ideal_record, seed):
    """The ideal network's accuracy on one seed (None if that seed was not evaluated)."""
    by_seed = ideal_record.get("test_accuracy_by_seed")
    if by_seed is None or seed not in ideal_record["seeds"]:
        return None
    return by_seed[ideal_record["seeds"].index(seed)]


def _percent(value) -> str:
    return f"{100 * value:.1f} %"


def _row(r) -> str:
    return f"{r['distortion']:>24} {r['strength']:<8.4g} {r['trained']:<12} test_accuracy={r['test_accuracy']:.4f}"


def _mean(values):
    return sum(values) / len(values)


def _std(values):
    m = _mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0


def write_json_atomic(path: Path, data):
    atomic_write(path, lambda f: json.dump(data, f, indent=2), binary=False)


# ---------------------------------------------------------------- command line
def add_parser(sub):
    p = sub.add_parser("robustness", help="accuracy under each hardware distortion, trained ideally and in the loop",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for robustness.json")
    p.add_argument("--quick", action="store_true",
                   help="a small, fast version (about a minute of CPU): one strength for five distortions, a "
                        "shorter ideal training (40 epochs at lr 0.01, ~93 %% instead of ~96.5 %%), 2 in-the-loop epochs")
    p.add_argument("--network", type=Path, default=None,
                   help="checkpoint of an ideally trained Yin-Yang network (default: train one, saved as DIR/ideal.pt)")
    p.add_argument("--epochs", type=arguments.positive_count, default=None, help="epochs of ideal training (default 300; quick: 40)")
    p.add_argument("--finetune-epochs", type=arguments.positive_count, default=None,
                   help="in-the-loop epochs per condition (default 15; quick: 2)")
    p.add_argument("--lr", type=arguments.learning_rate, default=0.002,
                   help="learning rate of the in-the-loop fine-tuning (default 0.002)")
    p.add_argument("--seeds", type=arguments.integer(1, 1000), default=None,
                   help="chips/noise streams averaged per ideal evaluation (default 3; quick: 2)")
    p.add_argument("--distortions", nargs="+", default=None, help="only these distortions")
    p.add_argument("--no-progress", action="store_true")
    return p


def run_from_args(args) -> int:
    from .. import checkpoint
    from ..train import Trainer, load_splits, preset

    torch.set_num_threads(1)  # small tensors: a second thread only adds contention
    quick = args.quick
    strengths = dict(QUICK if quick else FULL)
    if args.distortions:
        from ..hardware import DISTORTIONS

        unknown = [d for d in args.distortions if d not in DISTORTIONS]
        if unknown:
            raise ValueError(f"unknown distortions {unknown}; choose from {', '.join(DISTORTIONS)}")
        strengths = {d: (FULL[d] if not quick else QUICK.get(d, FULL[d][:1])) for d in args.distortions}
    for name, value in (("--epochs", args.epochs), ("--finetune-epochs", args.finetune_epochs), ("--seeds", args.seeds)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if not args.lr > 0:
        raise ValueError(f"--lr must be positive, got {args.lr}")
    check_output_folder(args.out, ("robustness.json", "ideal.pt"), label="--out")  # before any training
    data = load_splits("yin_yang", torch.float64)
    started = time.perf_counter()
    if args.network is not None:
        network, _ = checkpoint.load(args.network)
        if network.sizes[0] != 4 or network.sizes[-1] != 3:
            raise ValueError(f"{args.network} is not a Yin-Yang network (sizes {network.sizes})")
    else:
        epochs = args.epochs or (40 if quick else 300)
        # quick: a higher learning rate gets ~93 % in 40 epochs (10 s of CPU), enough to show
        # what each distortion costs; the paper's 300 epochs at 0.005 reach ~96.5 %
        config = preset("paper", epochs=epochs, lr=0.01) if quick else preset("paper", epochs=epochs)
        trainer = Trainer(config, data=data, progress=not args.no_progress)
        trainer.run()
        trainer.save(args.out / "ideal.pt")
        network = trainer.network
    finetune = finetune_config(args.finetune_epochs or (2 if quick else 15), lr=args.lr)
    seeds = tuple(range(args.seeds or (2 if quick else 3)))
    records = run_study(network, data, strengths, finetune, seeds=seeds, out=args.out)
    print(table(records))
    print(f"records={len(records)} seconds_total={time.perf_counter() - started:.1f}")
    print(f"wrote {args.out / 'robustness.json'}")
    return 0
