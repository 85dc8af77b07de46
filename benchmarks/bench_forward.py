"""The native forward walk per layer, fast paths against the walk they replace, in one run.

    python benchmarks/bench_forward.py [--repeats 9] [--epochs 30]

Layers as the targets see them, on one kernel thread (CPU time per sample, best of --repeats,
the two implementations interleaved: ttfs_lab._native.forward_impl("reference") is the walk of
commit bb5101e, "fast" the default; the outputs are compared bit for bit):
  map     the playground's 100 x 100 decision map at rest (float32, the untrained LabState
          network) and its 1000 test points (float64), layers 5 -> 120 and 121 -> 3;
  train   5000 Yin-Yang training samples through the paper network after --epochs of
          training (float64), the forward of every batch of bench_training.py;
then the whole 100 x 100 map + 1000 test points through TTFSNetwork (as DecisionMap.redraw
computes them, without the drawing), both ways. Target (issues 12, 13): the map at rest
<= 30 ms on one thread; the 300-epoch protocol toward <= 10 s.

Profile before (perf record -e cpu-clock on replays of these layers, bb5101e build, shares of
the layer's time): 5 -> 120 float32: the walk with candidate packing 50 %, exact tests 29 %,
Lambert-W solves 21 %; 121 -> 3: sorting the ~120 hidden times 62 % (counting sort: prefix sums
over 4n buckets and the insertion pass over crowded buckets), the 3-neuron walk 28 %, exact
tests and solves 10 %.
What changed (ttfs_native.c, ttfs_kernels.inc; same bits, tests/test_native_fast.py):
  - 25..128 input times sorted by an AVX-512 bitonic network on (key, position) words
    (float64: the key's low 7 bits give way to the position, one insertion pass on the true
    keys puts keys within 127 ulp back in order); CPUs without AVX-512F keep the counting sort;
  - blocks of <= 4 neurons (an output layer) walked with the block size a constant, sums and
    flags in registers;
  - float32 blocks: the exact test over the whole block (vectorised) instead of packing the
    candidates; float64: packing and recording branch-free.
Profile after (same method), 121 -> 3 float64 (training): walk ~65 %, sort ~28 %, solves 7 %;
5 -> 120 is now the larger layer: walk and packing ~50 %, exact tests ~28 %, solves ~22 %.

Measured 2026-12-07 12:33 UTC (2 cores, the coordinator's QUIET measurement running, niced, CPU time;
`python benchmarks/bench_forward.py`, load average 6.00 before / 5.60 after):
    map   float32 10000 x   5 -> 120: reference  1.278 us/sample, fast  1.160 us/sample, 1.10x, same bits True
    map   float32 10000 x 121 ->   3: reference  1.219 us/sample, fast  0.725 us/sample, 1.68x, same bits True
    map   float64  1000 x   5 -> 120: reference  1.739 us/sample, fast  1.740 us/sample, 1.00x, same bits True
    map   float64  1000 x 121 ->   3: reference  1.327 us/sample, fast  0.895 us/sample, 1.48x, same bits True
    train float64  5000 x   5 -> 120: reference  1.779 us/sample, fast  1.737 us/sample, 1.02x, same bits True
    train float64  5000 x 121 ->   3: reference  1.538 us/sample, fast  1.151 us/sample, 1.34x, same bits True
    map at rest, native forward of all its layers (100x100 float32 + 1000 float64), 1 thread: reference 28.0 ms, fast 21.4 ms CPU (1.31x)
    DecisionMap.redraw at rest (100x100 + test accuracy), 1 kernel thread: reference 29.6 ms, fast 22.6 ms wall (best of 9)
  bench_training.py --epochs 300 --seeds 0 --only new, forward_impl set before the run (load 8.09 -> 6.52):
    reference: total 8.01 s wall, 8.01 s CPU, median 0.0232 s/epoch, test accuracy 0.9570, bumped 75.4 %
    fast:      total 6.88 s wall, 6.88 s CPU, median 0.0197 s/epoch, test accuracy 0.9570, bumped 75.4 % (1.16x)
  (the same trajectory: same bits, so the same accuracy and bumps). Not reached / what is left:
  the 5 -> 120 layer (~1.2 us float32, ~1.7 us float64 per sample) is now most of a forward:
  candidate packing and recording, exact tests (one exp each) and the Lambert-W solves.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from ttfs_lab import native


def capture(fn):
    """The (x, w, params, span_limit) of every native.forward call fn makes."""
    calls, original = [], native.forward

    def record(x, w, params, span_limit):
        calls.append((x.clone(), w.clone(), params, span_limit))
        return original(x, w, params, span_limit)

    native.forward = record
    try:
        fn()
    finally:
        native.forward = original
    return calls


def map_calls():
    from ttfs_lab.widgets.decision_map import DecisionMap
    from ttfs_lab.widgets.state import LabState

    view = DecisionMap(LabState())
    return view, capture(view.redraw)


def train_calls(epochs):
    from ttfs_lab.data import encode, yin_yang
    from ttfs_lab.train import preset
    from ttfs_lab.train.fused import FusedTrainer

    trainer = FusedTrainer(preset("paper", epochs=epochs, seed=0), progress=False)
    trainer.run()
    features, _ = yin_yang("train", size=5000)
    x = torch.as_tensor(encode(features)).to(torch.float64)
    with torch.no_grad():
        return capture(lambda: trainer.network(x))


def time_layer(call, repeats):
    x, w, params, limit = call
    best, out = {"reference": float("inf"), "fast": float("inf")}, {}
    for _ in range(repeats):
        for impl in best:
            previous = native._native.forward_impl(impl)
            try:
                started = time.process_time()
                out[impl] = native.forward(x, w, params, limit)[:2]
                best[impl] = min(best[impl], time.process_time() - started)
            finally:
                native._native.forward_impl(previous)
    same = all(torch.equal(a.view(torch.uint8), b.view(torch.uint8)) for a, b in zip(out["reference"], out["fast"]))
    return best, same


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    native.set_num_threads(1)
    print(f"load average before {os.getloadavg()[0]:.2f}; forward_impl default {native._native.forward_impl()!r}")
    view, rest = map_calls()
    groups = {"map": rest, "train": train_calls(args.epochs)}
    for group, calls in groups.items():
        for call in calls:
            (x, w, params, _), (best, same) = call, time_layer(call, args.repeats)
            B, N = x.shape
            print(f"{group:5s} {str(w.dtype)[6:]:7s} {B:5d} x {N:3d} -> {w.shape[1]:3d}: reference "
                  f"{1e6 * best['reference'] / B:6.3f} us/sample, fast {1e6 * best['fast'] / B:6.3f} us/sample, "
                  f"{best['reference'] / best['fast']:.2f}x, same bits {same}", flush=True)
    totals = {"reference": float("inf"), "fast": float("inf")}
    for _ in range(args.repeats):
        for impl in totals:
            previous = native._native.forward_impl(impl)
            try:
                started = time.process_time()
                for x, w, params, limit in rest:
                    native.forward(x, w, params, limit)
                totals[impl] = min(totals[impl], time.process_time() - started)
            finally:
                native._native.forward_impl(previous)
    print(f"map at rest, native forward of all its layers (100x100 float32 + 1000 float64), 1 thread: reference "
          f"{1e3 * totals['reference']:.1f} ms, fast {1e3 * totals['fast']:.1f} ms CPU "
          f"({totals['reference'] / totals['fast']:.2f}x)")
    redraw = {"reference": float("inf"), "fast": float("inf")}
    for _ in range(args.repeats):
        for impl in redraw:
            previous = native._native.forward_impl(impl)
            try:
                started = time.perf_counter()
                view.redraw()
                redraw[impl] = min(redraw[impl], time.perf_counter() - started)
            finally:
                native._native.forward_impl(previous)
    print(f"DecisionMap.redraw at rest (100x100 + test accuracy), 1 kernel thread: reference "
          f"{1e3 * redraw['reference']:.1f} ms, fast {1e3 * redraw['fast']:.1f} ms wall (best of {args.repeats})")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
