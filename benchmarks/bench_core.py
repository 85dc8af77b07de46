"""Core speed: forward and forward+backward of whole networks, native vs torch vs naive.

    python benchmarks/bench_core.py [--batch 1000] [--repeats 5] [--quick]      # threads table
    python benchmarks/bench_core.py --full [--threads N]                          # + all backends
    python benchmarks/bench_core.py --rounds 5 --variants native                  # 2t/1t min/median
    python benchmarks/bench_core.py --small [--busy-core] [--rounds 3]           # small batches
    python benchmarks/bench_core.py --busy-core --variants native                # other core busy

The first table (always printed): float32, 1 vs 2 threads (torch.set_num_threads, which the
native kernels follow), native vs torch vs "torch-ref", samples/s forward, forward+backward and
a whole training step (forward, paper loss, backward, Adam: what a Trainer batch costs),
min and median of --repeats runs. "torch" is the torch backend as it runs (ttfs_lab.fast_torch),
"torch-ref" the readable reference it replaced (spike_times._solve_chunk, kept callable via
fast_torch.use_reference()): the before/after of the torch path, measured in one run.
"native" runs its threads in torch's OpenMP team (native.thread_pool, the default),
"native-pth" on pthreads started per call (what it did before): the before/after of the
threads, measured in one run.
--small: the native kernels at batches 1, 10, 100 (and 1000 for reference), 1 and 2 threads
timed alternately (ABAB, so drift in the machine's load hits both), each timed run long
enough (>= 20 ms) to be measured; prints each batch's 2-thread / 1-thread *time* ratio
(<= 1.00: two threads are not slower) as min, median and max over --rounds.
--busy-core: the same tables with a CPU hog (a busy loop at this process's nice value)
pinned to the last core, as if another student's kernel trained there; the benchmark itself
may run on every core. The hog's loop rate is printed per thread count: how much of its core
the benchmark took from it.
--full adds the table below (both dtypes, the naive enumeration, per-neuron parameters).

Networks (tau_m = tau_s = 1, threshold 1, bias spike at 0.9 in every layer):
  5-120-3     Yin-Yang (4 encoded features + the bias spike), paper initialisation
  256-246-10  16x16 MNIST test images encoded as in the paper (black pixels never spike, about
              58% of inputs silent) and a dense variant (every input spikes, uniform in
              [0.15, 2]); weights drawn so that about half the hidden and most output neurons
              fire (printed)

Backends: "native" (ttfs_lab._native), "torch" (the vectorised reference in
ttfs_lab/spike_times.py), and "naive": the causal-set enumeration of the original
authors' code, written here: per sample, sort; for every prefix k build the masked [N, M]
weights, sums a_k, b_k for all k at once, scipy.special.lambertw of all of them, then the
first time per neuron that lies in its interval (O(N^2 M) per sample; forward only).
Slow backends are timed on a smaller batch and reported per sample. Timings are wall clock,
best of --repeats (the machine may be shared: compare ratios within one run).

Last, per_neuron_spike_times (an emulated chip: tau_m, tau_s per neuron, c per sample and
neuron) on the two layers of the 5-120-3 network, with BrainScaleS-2-like mismatch (time
constants 3 %, threshold 8 % fixed and 4 % per trial), native vs torch, float64.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import time

import numpy as np
import torch
from _timing import timings
from scipy.special import lambertw

from ttfs_lab import NeuronParams, TTFSNetwork, fast_torch, native, thread_choice
from ttfs_lab.data import load
from ttfs_lab.loss import spike_time_loss
from ttfs_lab.train.adam import Adam
from ttfs_lab.network import append_bias_spike
from ttfs_lab.spike_times import per_neuron_spike_times

PARAMS = NeuronParams()


# ----------------------------------------------------------------------------- naive reference
def naive_layer(times: np.ndarray, weights: np.ndarray, c: float = PARAMS.c) -> np.ndarray:
    """First spike times [B, M] by enumerating every causal set (tau_m = tau_s = 1)."""
    n_batch, n_in = times.shape
    out = np.full((n_batch, weights.shape[1]), np.inf)
    for b in range(n_batch):
        order = np.argsort(times[b], kind="stable")
        t = times[b, order]
        w = weights[order]  # [N, M]
        finite = np.isfinite(t)
        t0 = t[finite][0] if finite.any() else 0.0
        r = np.where(finite, t - t0, 0.0)
        # mask[k, i] = input i belongs to the k-th causal set; [N, N, M] masked weight copies
        mask = (np.arange(n_in)[None, :] <= np.arange(n_in)[:, None]) & finite[None, :]
        masked = mask[:, :, None] * w[None, :, :]
        a = np.einsum("kim,i->km", masked, np.exp(r))
        bb = np.einsum("kim,i->km", masked, r * np.exp(r))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = -(c / a) * np.exp(bb / a)
            T = bb / a - lambertw(z, 0).real
        lo = r[:, None]
        hi = np.append(r[1:], np.inf)
        hi = np.where(np.append(finite[1:], False), hi, np.inf)[:, None]
        valid = (a > 0) & (z >= -1 / math.e) & (T >= lo) & (T < hi) & finite[:, None]
        first = np.where(valid.any(axis=0), valid.argmax(axis=0), -1)
        fired = first >= 0
        out[b, fired] = T[first[fired], np.nonzero(fired)[0]] + t0
    return out


def naive_network(net: TTFSNetwork, x: torch.Tensor) -> np.ndarray:
    h = x.double().numpy()
    for layer in net.layers:
        h = naive_layer(np.concatenate([h, np.full((h.shape[0], 1), layer.bias_time)], axis=1),
                        layer.weight.detach().double().numpy())
    return h


# ----------------------------------------------------------------------------- inputs and weights
def yin_yang_inputs(n: int) -> torch.Tensor:
    times, _ = load("yin_yang", "train", size=n, seed=0)
    return torch.tensor(times)


def mnist_inputs(n: int, dense: bool, rng: np.random.Generator) -> tuple[torch.Tensor, str]:
    if dense:
        return torch.tensor(rng.uniform(0.15, 2.0, size=(n, 256))), "dense: all 256 spike, uniform [0.15, 2]"
    times, _ = load("mnist", "test")
    times = times[:n]
    return torch.tensor(times), f"16x16 MNIST test images, {np.isinf(times).mean():.0%} of inputs silent"


def spiking_fractions(net, x):
    with torch.no_grad(), native.set_backend("native" if native.available() else "torch"):
        return [float(torch.isfinite(t).float().mean()) for t in net.spike_times(x)[1:]]


def calibrated_mnist_network(x: torch.Tensor, rng: np.random.Generator) -> TTFSNetwork:
    """256-246-10 with Gaussian weights whose mean is set (bisection) so that ~50% of the
    hidden and ~80% of the output neurons spike on these inputs."""
    sizes = (256, 246, 10)
    stds = (0.5, 0.3)
    mats = []
    h = x
    for layer, (n_in, n_out), target in zip(range(2), zip(sizes[:-1], sizes[1:]), (0.5, 0.8)):
        noise = rng.normal(size=(n_in + 1, n_out))
        n_active = float(torch.isfinite(h).sum(dim=1).double().mean()) + 1
        scale = PARAMS.c * math.e / n_active
        lo_mu, hi_mu = -2.0, 6.0
        for _ in range(30):
            mu = 0.5 * (lo_mu + hi_mu)
            w = torch.tensor((noise * stds[layer] * 4 + mu) * scale)
            net = TTFSNetwork.from_weights([w], params=PARAMS)
            frac = spiking_fractions(net, h[:200])[0]
            lo_mu, hi_mu = (mu, hi_mu) if frac < target else (lo_mu, mu)
        mats.append(w)
        with torch.no_grad(), native.set_backend("native" if native.available() else "torch"):
            h = TTFSNetwork.from_weights([w], params=PARAMS)(h)
    return TTFSNetwork.from_weights(mats, params=PARAMS)


# ----------------------------------------------------------------------------- timing
def best_time(fn, repeats: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of the fastest of `repeats` runs."""
    fn()  # warm-up (allocations, thread start)
    best = (math.inf, math.inf)
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - started, time.process_time() - cpu))
    return best


def forward_fn(net, x):
    def run():
        with torch.no_grad():
            net(x)
    return run


def forward_backward_fn(net, x):
    coefficients = torch.linspace(-1, 1, net.sizes[-1], dtype=net.dtype)

    def run():
        net.zero_grad()
        out = net(x)
        loss = (torch.where(torch.isfinite(out), out, torch.zeros_like(out)) * coefficients).sum()
        loss.backward()
    return run


def train_step_fn(net, x):
    """One training step as the Trainer takes it: forward, the paper loss, backward, Adam.
    Labels are drawn at random (the cost does not depend on them); lr = 1e-7 keeps the
    network the same to within timing over the repeats."""
    labels = torch.randint(0, net.sizes[-1], (x.shape[0],), generator=torch.Generator().manual_seed(0))
    optimizer = Adam(net.parameters(), lr=1e-7)

    def run():
        optimizer.zero_grad()
        spike_time_loss(net(x), labels).backward()
        optimizer.step()
    return run


MODES = {"forward": forward_fn, "forward+backward": forward_backward_fn, "train step": train_step_fn}


def measure(net, x, backend, mode, batch, repeats):
    """(samples per wall second, the batch timed, samples per CPU second)."""
    xb = x[:batch]
    with native.set_backend(backend):
        fn = MODES[mode](net, xb)
        wall, cpu = best_time(fn, repeats)
    return batch / wall, batch, batch / cpu


# variant: (backend, torch reference?, native thread pool)
# "native-fixed": always the thread limit (no ttfs_lab.thread_choice), as before it
TORCH_VARIANTS = {"native": ("native", False, None), "native-fixed": ("native", False, None),
                  "native-pth": ("native", False, "pthreads"),
                  "torch": ("torch", False, None), "torch-ref": ("torch", True, None)}


def thread_table(cases, batch, repeats, quick, variants=tuple(TORCH_VARIANTS), hog=None):
    """float32 samples/s, 1 vs 2 threads, native vs torch vs torch-ref (module docstring);
    returns {(network, inputs, pass, variant, threads): (best, median)}."""
    small = {"native": batch, "native-fixed": batch, "native-pth": batch, "torch": min(batch, 200 if quick else 1000), "torch-ref": min(batch, 20 if quick else 50)}
    threads_before = torch.get_num_threads()
    print(f"\nfloat32 samples/s (wall; min/median of {repeats} runs as 'best (median)'), [batch timed]; "
          f"load average {os.getloadavg()[0]:.1f}")
    header = f"{'network':11} {'inputs':18} {'pass':17} {'backend':9} {'1 thread':>22} {'2 threads':>22} {'2t/1t':>6}" \
        + ("   hog Mloops/s 1t  2t" if hog else "")
    print(header)
    print("-" * len(header))
    results = {}
    for name, label, net64, x, _ in cases:
        net = TTFSNetwork.from_weights(net64.weights(), params=PARAMS, dtype=torch.float32)
        xf = x.float()
        short = label.split(",")[0].split(":")[0][:18]
        for mode in MODES:
            for variant in variants:
                backend, reference, pool = TORCH_VARIANTS[variant]
                if backend == "native" and not native.available():
                    continue
                pool_before = native.thread_pool(pool or native.DEFAULT_POOL) if backend == "native" else None
                n = small[variant]
                cells, hog_rates = [], []
                for threads in (1, 2):
                    torch.set_num_threads(threads)
                    loops, started = (hog.loops() if hog else 0), time.perf_counter()
                    choice = thread_choice.fixed() if variant == "native-fixed" else thread_choice.measured()
                    with native.set_backend(backend), fast_torch.use_reference(reference), choice:
                        ts = timings(MODES[mode](net, xf[:n]), repeats)
                    if hog:
                        hog_rates.append((hog.loops() - loops) / (time.perf_counter() - started) / 1e6)
                    cells.append((n / ts[0], n / ts[len(ts) // 2]))
                    results[(name, short, mode, variant, threads)] = cells[-1]
                if pool_before:
                    native.thread_pool(pool_before)
                print(f"{name:11} {short:18} {mode:17} {variant:9} "
                      + " ".join(f"{best:9.0f} ({median:7.0f}) " for best, median in cells)
                      + f"[{n}] {cells[1][0] / cells[0][0]:5.2f}x"
                      + (f"   {hog_rates[0]:8.1f} {hog_rates[1]:5.1f}" if hog else ""))
    torch.set_num_threads(threads_before)
    print("\ntorch / torch-ref (best, same threads):")
    for (name, short, mode, variant, threads), (best, _) in results.items():
        if variant == "torch" and (name, short, mode, "torch-ref", threads) in results:
            ref = results[(name, short, mode, "torch-ref", threads)][0]
            print(f"  {name:11} {short:18} {mode:17} {threads} thread(s): {best / ref:6.1f}x")
    return results


SMALL_BATCHES = (1, 10, 100, 1000)


def _repeated(fn, calls: int):
    def run():
        for _ in range(calls):
            fn()
    return run


def small_batch_table(cases, repeats: int, rounds: int, hog=None):
    """Native float32, batches SMALL_BATCHES: 1 vs 2 threads timed alternately; per batch the
    2t/1t ratio of the best seconds per call (min, median, max over rounds), for "native"
    (2 threads where ttfs_lab.thread_choice measured them faster) and "fixed" (always 2, as
    before thread_choice). Returns {(network, pass, batch, variant): sorted ratios}."""
    if not native.available():
        print("\n--small: the native extension is not built; nothing to time")
        return {}
    threads_before = torch.get_num_threads()
    print(f"\nnative float32, small batches: microseconds per call (best of {repeats} runs of >= 20 ms), "
          f"1 vs 2 threads alternately, {rounds} round(s); 2t/1t = ratio of times (<= 1: 2 threads not slower); "
          f"load average {os.getloadavg()[0]:.1f}" + ("; hog busy on the last core" if hog else ""))
    header = f"{'network':11} {'pass':17} {'batch':>5} {'threads':7} {'1 thread us':>12} {'2 threads us':>13} " \
             f"{'2t/1t min':>9} {'median':>7} {'max':>6}" + ("   hog Mloops/s 1t  2t" if hog else "")
    print(header)
    print("-" * len(header))
    results = {}
    for name, label, net64, x, _ in cases:
        if name == "256-246-10" and label.startswith("dense"):
            continue  # MNIST inputs are the realistic case; dense only adds work per sample
        net = TTFSNetwork.from_weights(net64.weights(), params=PARAMS, dtype=torch.float32)
        xf = x.float()
        for mode, batch, variant in [(m, b, v) for m in ("forward", "forward+backward") for b in SMALL_BATCHES
                                     for v in ("native", "fixed")]:
                if batch > len(xf):
                    continue
                thread_choice.reset()
                choice = thread_choice.fixed() if variant == "fixed" else thread_choice.measured()
                with native.set_backend("native"), choice:
                    fn = forward_fn(net, xf[:batch]) if mode == "forward" else forward_backward_fn(net, xf[:batch])
                    torch.set_num_threads(1)
                    fn()
                    started = time.perf_counter()
                    fn()
                    calls = max(1, int(0.02 / max(time.perf_counter() - started, 1e-7)))
                    best = {1: math.inf, 2: math.inf}
                    hog_rates = {1: [], 2: []}
                    ratios = []
                    for _ in range(rounds):
                        per_round = {}
                        for threads in (1, 2):
                            torch.set_num_threads(threads)
                            loops = hog.loops() if hog else None
                            started = time.perf_counter()
                            ts = timings(_repeated(fn, calls), repeats)
                            if hog:
                                hog_rates[threads].append((hog.loops() - loops) / (time.perf_counter() - started))
                            per_round[threads] = ts[0] / calls
                            best[threads] = min(best[threads], per_round[threads])
                        ratios.append(per_round[2] / per_round[1])
                ratios.sort()
                results[(name, mode, batch, variant)] = ratios
                hog_cell = (f"   {np.median(hog_rates[1]) / 1e6:8.1f} {np.median(hog_rates[2]) / 1e6:5.1f}" if hog else "")
                print(f"{name:11} {mode:17} {batch:5d} {variant:7} {best[1] * 1e6:12.1f} {best[2] * 1e6:13.1f} "
                      f"{ratios[0]:9.2f} {ratios[len(ratios) // 2]:7.2f} {ratios[-1]:6.2f}" + hog_cell)
    torch.set_num_threads(threads_before)
    return results


class Hog:
    """A busy loop in a child process pinned to one core, at this process's nice value;
    loops() reads how many iterations it has run (shared memory)."""

    def __init__(self, core: int):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.counter = context.Value("Q", 0, lock=False)
        self.core = core
        self.process = context.Process(target=_hog_loop, args=(self.counter, core), daemon=True)

    def __enter__(self):
        self.process.start()
        deadline = time.time() + 30
        while self.counter.value == 0 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        return self

    def loops(self) -> int:
        return self.counter.value

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.join(5)
        return False


def _hog_loop(counter, core):
    os.sched_setaffinity(0, {core})
    n = 0
    while True:
        for _ in range(10_000):
            pass
        n += 10_000
        counter.value = n


def print_ratio_summary(rounds):
    """min and median over rounds of each row's 2-thread/1-thread ratio (of the best times)."""
    print(f"\n2 threads / 1 thread over {len(rounds)} rounds (ratio of each round's best; min, median, each round in order), "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = sorted({key[:4] for key in rounds[0]}, key=list(dict.fromkeys(k[:4] for k in rounds[0])).index)
    for row in rows:
        in_order = [r[row + (2,)][0] / r[row + (1,)][0] for r in rounds]
        ratios = sorted(in_order)
        name, short, mode, variant = row
        print(f"  {name:11} {short:18} {mode:17} {variant:9} min {ratios[0]:5.2f}x  median {ratios[len(ratios) // 2]:5.2f}x"
              f"  rounds {' '.join(f'{x:.2f}' for x in in_order)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="smaller batches for the slow backends")
    parser.add_argument("--full", action="store_true", help="also the table of every backend, both dtypes")
    parser.add_argument("--rounds", type=int, default=1,
                        help="print the threads table this many times, then min/median of each row's 2t/1t")
    parser.add_argument("--small", action="store_true",
                        help="native at batches 1, 10, 100, 1000: 2-thread vs 1-thread time (instead of the threads table)")
    parser.add_argument("--busy-core", action="store_true",
                        help="run the tables with a busy loop pinned to the last core (another student's kernel)")
    parser.add_argument("--variants", default=",".join(TORCH_VARIANTS),
                        help=f"comma-separated, of {', '.join(TORCH_VARIANTS)} (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}, "
          f"os.cpu_count() = {os.cpu_count()}, {platform.processor() or platform.machine()}")
    print(f"native extension available: {native.available()}; batch {args.batch}; best of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.1f} (other processes share the {os.cpu_count()} cores)")
    if not native.available():
        print("WARNING: ttfs_lab._native is not built; only the torch and naive backends are timed")

    slow_batch = {"torch": 50 if args.quick else 200, "naive": 5 if args.quick else 20}
    cases = []
    x_yy = yin_yang_inputs(args.batch)
    net_yy = TTFSNetwork((4, 120, 3), params=PARAMS, seed=0)
    cases.append(("5-120-3", "Yin-Yang train, paper init", net_yy, x_yy, {"torch": args.batch}))
    for dense in (False, True):
        x_mn, label = mnist_inputs(args.batch, dense, rng)
        net_mn = calibrated_mnist_network(x_mn, rng)
        cases.append(("256-246-10", label, net_mn, x_mn, {}))

    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    unknown = set(variants) - set(TORCH_VARIANTS)
    if unknown or not variants:
        parser.error(f"--variants: choose from {', '.join(TORCH_VARIANTS)}, got {args.variants!r}")
    hog = Hog(core=max(os.sched_getaffinity(0))) if args.busy_core else contextlib.nullcontext()
    with hog:
        if args.busy_core:
            print(f"busy core: a busy loop pinned to core {hog.core} (pid {hog.process.pid}); "
                  f"load average {os.getloadavg()[0]:.1f}")
        if args.small:
            small_batch_table(cases, args.repeats, max(1, args.rounds), hog if args.busy_core else None)
            return
        rounds = [thread_table(cases, args.batch, args.repeats, args.quick, variants, hog if args.busy_core else None)
                  for _ in range(max(1, args.rounds))]
    if len(rounds) > 1:
        print_ratio_summary(rounds)
    if not args.full:
        return
    rows = []
    for name, label, net64, x, overrides in cases:
        fractions = spiking_fractions(net64, x)
        print(f"\n{name}: {label}; spiking fraction hidden {fractions[0]:.2f}, output {fractions[1]:.2f}")
        # the naive reference must agree with the other backends, or its timing means nothing
        n_check = 3
        ref = naive_network(net64, x[:n_check])
        with torch.no_grad(), native.set_backend("native" if native.available() else "torch"):
            got = net64(x[:n_check]).numpy()
        same = np.array_equal(np.isfinite(ref), np.isfinite(got))
        both = np.isfinite(got) & np.isfinite(ref)
        diff = np.abs(got[both] - ref[both]).max() if both.any() else 0.0
        print(f"  naive vs {'native' if native.available() else 'torch'} on {n_check} samples: "
              f"same silent set {same}, max |dT| {diff:.1e}")
        started = time.perf_counter()
        naive_n = min(slow_batch["naive"], args.batch)
        naive_network(net64, x[:naive_n])
        naive_rate = naive_n / (time.perf_counter() - started)
        for dtype in (torch.float64, torch.float32):
            net = TTFSNetwork.from_weights(net64.weights(), params=PARAMS, dtype=dtype)
            xd = x.to(dtype)
            for mode in ("forward", "forward+backward"):
                rates = {}
                for backend in ("native", "torch"):
                    if backend == "native" and not native.available():
                        continue
                    batch = overrides.get(backend, args.batch if backend == "native" else slow_batch[backend])
                    rates[backend] = measure(net, xd, backend, mode, min(batch, args.batch), args.repeats)
                short = {"Yin-Yang train": "Yin-Yang", "dense": "dense synthetic"}.get(label.split(",")[0].split(":")[0],
                                                                                  "MNIST 16x16 (test)")
                rows.append((name, short, str(dtype).replace("torch.", ""), mode, rates,
                             naive_rate if (mode == "forward" and dtype == torch.float64) else None, naive_n))

    print("\nsamples/s (wall clock, best of %d); [batch timed]; native also per CPU-second (all threads)"
          % args.repeats)
    header = f"{'network':11} {'inputs':22} {'dtype':8} {'pass':17} {'native':>16} {'(CPU)':>8} {'torch':>14} " \
             f"{'naive':>12} {'native/torch':>12} {'native/naive':>12}"
    print(header)
    print("-" * len(header))
    for name, inputs, dtype, mode, rates, naive_rate, naive_n in rows:
        nat = rates.get("native")
        tor = rates.get("torch")
        cells = [f"{nat[0]:9.0f} [{nat[1]}]" if nat else "-", f"{nat[2]:8.0f}" if nat else "",
                 f"{tor[0]:7.1f} [{tor[1]}]" if tor else "-",
                 f"{naive_rate:6.1f} [{naive_n}]" if naive_rate else "",
                 f"{nat[0] / tor[0]:11.0f}x" if nat and tor else "",
                 f"{nat[0] / naive_rate:11.0f}x" if nat and naive_rate else ""]
        print(f"{name:11} {inputs:22} {dtype:8} {mode:17} {cells[0]:>16} {cells[1]:>8} {cells[2]:>14} {cells[3]:>12} "
              f"{cells[4]:>12} {cells[5]:>12}")
    yy = [r for r in rows if r[0] == "5-120-3" and r[2] == "float64" and r[3] == "forward+backward"]
    if yy and "native" in yy[0][4]:
        print(f"\n5-120-3 float64 forward+backward at batch 150 (one training step):")
        net = TTFSNetwork((4, 120, 3), params=PARAMS, seed=0)
        wall, cpu = best_time(forward_backward_fn(net, x_yy[:150]), max(args.repeats, 20))
        print(f"  native: {wall * 1e3:.2f} ms per step (CPU {cpu * 1e3:.2f} ms) -> 10,000 steps in {wall * 1e4:.1f} s")

    print_per_neuron(net_yy, x_yy, args.repeats, slow_batch["torch"])


def print_per_neuron(net, x, repeats, torch_batch):
    """Per-neuron parameters on both layers of `net` (module docstring), native vs torch."""
    g = torch.Generator().manual_seed(0)
    print("\nper_neuron_spike_times, float64 (samples/s, wall and CPU; best of %d):" % repeats)
    with torch.no_grad(), native.set_backend("native" if native.available() else "torch"):
        layer_inputs = net.spike_times(x)[:-1]
    for layer, inputs in zip(net.layers, layer_inputs):
        xb = append_bias_spike(inputs, layer.bias_time)
        w = layer.weight.detach()
        n_out = w.shape[1]
        tau_m = 1 + 0.03 * torch.randn(n_out, generator=g, dtype=torch.float64)
        tau_s = 1 + 0.03 * torch.randn(n_out, generator=g, dtype=torch.float64)
        c = (1 + 0.08 * torch.randn(n_out, generator=g, dtype=torch.float64)) * (
            1 + 0.04 * torch.randn(len(xb), n_out, generator=g, dtype=torch.float64))
        rates = {}
        for backend in ("native", "torch"):
            if backend == "native" and not native.available():
                continue
            n = len(xb) if backend == "native" else min(torch_batch, len(xb))
            with native.set_backend(backend):
                wall, cpu = best_time(lambda: per_neuron_spike_times(xb[:n], w, tau_m, tau_s, c[:n]), repeats)
            rates[backend] = (n / wall, n / cpu)
            print(f"  {w.shape[0]:>3} -> {n_out:<3} {backend:6} [{n}] {n / wall:9.0f} /s wall {n / cpu:9.0f} /s CPU")
        if len(rates) == 2:
            print(f"  {w.shape[0]:>3} -> {n_out:<3} native/torch {rates['native'][0] / rates['torch'][0]:.0f}x wall, "
                  f"{rates['native'][1] / rates['torch'][1]:.0f}x CPU")


if __name__ == "__main__":
    main()
