"""Scaling of one layer's forward+backward cost with inputs N, neurons M and batch B.

    python benchmarks/scaling.py [--repeats 5] [--threads 1] [--quick]

One layer (tau_m = tau_s = 1, float32), inputs uniform in [0, 2] with 40 % silent, weights set
so that about half the neurons fire; forward (first_spike_times) + backward of a linear loss.
Three sweeps around the base point N = 64, M = 120, B = 1000, varying one size at a time:
inputs 4 ... 256, neurons 30 ... 1000, batch 1 ... 10,000. Printed per backend (native, torch):
seconds per call (min and median of --repeats) and nanoseconds per (sample, input, neuron)
triple, the unit the arithmetic scales with: a linear cost shows as a constant column.

Where and why it departs from linear (what the ns/triple column shows):
  * small sizes (batch < ~30, or N*M small): per-call overhead dominates, i.e. argument checks
    (ttfs_lab.validation), autograd bookkeeping, the sort, allocation of the outputs; for
    torch also ~100 small-op launches per call (the [B, M] solver: Lambert W with 6 Halley
    steps) each costing microseconds regardless of size. The cost per triple falls as 1/size
    until it reaches the arithmetic floor.
  * inputs: each sample sorts its N inputs (N log N, small next to N*M) and the native kernel
    stops at the first interval that fires, so its cost grows less than linearly in N while
    many neurons fire early; silent neurons walk all N inputs. The torch path evaluates every
    interval (no early stop) over the finite inputs only, so it is linear in N.
  * neurons: linear for both once N*M is large; below ~100 neurons native pays the per-sample
    sort and setup, which do not depend on M (30 and 60 neurons cost the same). The torch path
    chunks the batch so that its [b, N, M] buffers stay ~2 MB (L2 is 2 MB per core here); very
    wide layers get small chunks and pay the per-chunk op launches again.
  * batch: linear above ~100 samples; native splits the batch over threads only when the work
    exceeds ~20,000 triples per thread (ttfs_lab.native._threads), so 2 threads help only
    for large batches.
The machine is shared: compare within one run, read the min column.
"""
from __future__ import annotations

import argparse
import math
import os

import torch
from _timing import min_median, timings

from ttfs_lab import NeuronParams, first_spike_times, native

PARAMS = NeuronParams()
BASE = dict(n_in=64, n_out=120, n_batch=1000)
SWEEPS = {
    "n_in": (4, 8, 16, 32, 64, 128, 256),
    "n_out": (30, 60, 120, 250, 500, 1000),
    "n_batch": (1, 10, 100, 1000, 10_000),
}


def layer(n_in, n_out, n_batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_batch, n_in, generator=g) * 2
    x[torch.rand(n_batch, n_in, generator=g) < 0.4] = float("inf")
    n_active = max(1.0, 0.6 * n_in)
    w = torch.randn(n_in, n_out, generator=g) * 1.5 / math.sqrt(n_active) + 2.2 / n_active
    return x, w


def step_fn(x, w):
    coefficients = torch.linspace(-1, 1, w.shape[1])

    def run():
        xr, wr = x.detach().requires_grad_(True), w.detach().requires_grad_(True)
        t = first_spike_times(xr, wr, PARAMS)
        (torch.where(torch.isfinite(t), t, torch.zeros_like(t)) * coefficients).sum().backward()
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="torch on at most 1,000 samples")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backends = ["native", "torch"] if native.available() else ["torch"]
    print(f"forward+backward of one layer, float32, {args.threads} thread(s), load average "
          f"{os.getloadavg()[0]:.1f}; base {BASE}; s = min (median) seconds per call; ns/triple from the min")
    header = f"{'sweep':8} {'value':>6} " + " ".join(f"{b + ' s':>22} {b + ' ns/tri':>13}" for b in backends)
    for sweep, values in SWEEPS.items():
        print("\n" + header)
        print("-" * len(header))
        for value in values:
            sizes = dict(BASE, **{sweep: value})
            x, w = layer(**sizes)
            cells = []
            for backend in backends:
                xb = x[:1000] if (backend == "torch" and args.quick) else x
                with native.set_backend(backend):
                    best, median = min_median(timings(step_fn(xb, w), args.repeats, budget=2.0))
                triples = xb.shape[0] * sizes["n_in"] * sizes["n_out"]
                cells.append(f"{best:10.5f} ({median:9.5f}) {best / triples * 1e9:13.2f}")
            print(f"{sweep:8} {value:6d} " + " ".join(cells))


if __name__ == "__main__":
    main()
