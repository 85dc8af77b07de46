"""How fast the interactive views are (headless: the kernel's side of every update).

    python benchmarks/bench_widgets.py [--repeats 15] [--epochs 1] [--json out.json]

Targets (issue 5): decision-map recompute for a 100 x 100 grid and a 5-120-3 network
(4 inputs + bias, 120 hidden, 3 outputs) <= 50 ms; NeuronExplorer redraw after a drag <= 20 ms;
training slowdown with live views on (the runner throttles drawing to <= ~20 %).

Reported: the median wall time and the median CPU time of this process (CPU time is what the
views cost; wall time also shows how busy the machine is -- on a shared 2-core machine other
jobs inflate it), with the backend and thread count in use.

The decision map's kernels run on 2 threads; after a parallel torch operation torch's OpenMP
workers keep spinning for some milliseconds (libgomp's default) and hold the core that the
kernels' second thread needs (the kernels then hand that thread less of the work). With
OMP_WAIT_POLICY=PASSIVE in the environment (before torch starts) they sleep instead.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

from ttfs_lab import TTFSNetwork
from ttfs_lab.native import get_backend, get_num_threads, set_num_threads
from ttfs_lab.probe import decision_grid
from ttfs_lab.widgets import (
    ChipView, DecisionMap, HardwarePanel, LabState, MembraneView, NeuronExplorer, RasterView, TrainingPanel,
)
from ttfs_lab.widgets.decision_map import MAP_DTYPE
from ttfs_lab.widgets.runner import TrainingRunner


def timed(fn, repeats):
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"wall_ms": 1e3 * statistics.median(wall), "cpu_ms": 1e3 * statistics.median(cpu),
            "min_wall_ms": 1e3 * min(wall)}


def line(name, r, target_ms=None):
    verdict = ""
    if target_ms is not None:
        verdict = f"  target <= {target_ms} ms: {'met' if r['wall_ms'] <= target_ms else 'NOT met'} (wall)"
    print(f"{name:<48} median {r['wall_ms']:8.1f} ms wall, {r['cpu_ms']:8.1f} ms CPU, best {r['min_wall_ms']:7.1f} ms{verdict}")


def bench_decision_map(repeats):
    """The map's recompute as DecisionMap does it (network copied to MAP_DTYPE, grid decisions),
    and the whole redraw (also the test accuracy, float64). The float64 core for comparison."""
    state = LabState()  # the paper's 4-120-3 (5-120-3 counting the bias input)
    view = DecisionMap(state)
    net = state.network
    out = {"grid_decisions_float64": timed(lambda: decision_grid(net, 100), repeats)}
    out["grid_decisions_map"] = timed(lambda: decision_grid(view.map_network(), 100), repeats)
    kernel_threads = get_num_threads()
    try:
        set_num_threads(1)
        out["grid_decisions_map_1_thread"] = timed(lambda: decision_grid(view.map_network(), 100), repeats)
    finally:
        set_num_threads(kernel_threads)
    out["decision_map_redraw"] = timed(view.redraw, repeats)
    return out


def bench_explorer(repeats):
    explorer = NeuronExplorer()
    positions = iter(np.linspace(0.2, 0.6, 10_000))

    def drag():
        explorer.inputs.x = np.array([next(positions), 0.7, 1.1, 1.5])  # what the front end sends

    return {"explorer_drag_redraw": timed(drag, repeats)}


def bench_sample_views(repeats):
    state = LabState()
    views = {"membrane_redraw": MembraneView(state), "raster_redraw": RasterView(state), "chip_view_redraw": ChipView(state)}
    return {name: timed(view.redraw, repeats) for name, view in views.items()}


def bench_training(epochs, repeats=2):
    """The same run (seed, batches) without and with the lab's views attached.

    Wall time on a shared machine swings by tens of percent between identical runs, so the
    slowdown is also given in CPU time of the training thread (time.thread_time), with the
    thread on one torch thread so that the native kernels run inside it too.
    """
    out = {}
    for threads in (1, None):
        n = threads or torch.get_num_threads()
        for with_views in (False, True):
            label = f"{'with' if with_views else 'without'} views, {n} thread(s)"
            runs = []
            for _ in range(repeats):
                state = LabState(epochs=epochs)
                runner = TrainingRunner(state, threads=threads)
                state._runner = runner
                if with_views:
                    views = [TrainingPanel(state), DecisionMap(state), RasterView(state), MembraneView(state)]  # noqa: F841
                runner.trainer()  # data and optimizer built outside the timing
                runner.start()
                runner.join()
                runs.append({"wall_s": runner.loop_seconds, "cpu_s": runner.loop_cpu_seconds,
                             "publishes": runner.publishes, "draw_s": runner.draw_seconds,
                             "batches": len(state.history["step"])})
            best = {k: min(r[k] for r in runs) for k in ("wall_s", "cpu_s")}
            out[label] = {"runs": runs, **best}
            print(f"training {epochs} epoch(s) ({runs[0]['batches']} batches), {label:<26} best of {repeats}: "
                  f"{best['wall_s']:6.2f} s wall, {best['cpu_s']:6.2f} s CPU of the training thread; "
                  f"redraws per run {[r['publishes'] for r in runs]}")
        base, live = out[f"without views, {n} thread(s)"], out[f"with views, {n} thread(s)"]
        out[f"slowdown, {n} thread(s)"] = {k: live[k] / base[k] - 1 for k in ("wall_s", "cpu_s")}
        print(f"training slowdown with live views ({n} thread(s)): {100 * (live['wall_s'] / base['wall_s'] - 1):+.0f} % "
              f"wall" + (f", {100 * (live['cpu_s'] / base['cpu_s'] - 1):+.0f} % CPU" if threads == 1 else "")
              + " (target: about 20 % at most)")
    return out


def bench_hardware():
    """From a preset change to the first accuracy shown (100 samples) and to the full test set."""
    state = LabState()
    panel = HardwarePanel(state)
    panel.wait()
    results = {}
    for preset in ("bss2", "noisy"):
        before = panel.accuracy
        started = time.perf_counter()
        panel.preset.value = preset
        while panel.accuracy is before:  # replaced by the background thread when it has a number
            time.sleep(0.005)
        first = time.perf_counter() - started
        panel.wait(None)
        total = time.perf_counter() - started
        results[preset] = {"first_estimate_s": first, "full_test_set_s": total}
        print(f"hardware accuracy after preset {preset!r:<8} first estimate (100 samples) {first:.2f} s, "
              f"whole test set {total:.2f} s (target: within 1 s)")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per training run (0 skips it)")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"backend {get_backend()}, torch threads {torch.get_num_threads()}, cores {os.cpu_count()}, "
          f"load average {load:.1f}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(default)')}")
    results = {"backend": get_backend(), "threads": torch.get_num_threads(), "load_average": load}
    results.update(bench_decision_map(args.repeats))
    line("decision map: core float64, 100x100, 5-120-3", results["grid_decisions_float64"])
    line(f"decision map: as shown ({str(MAP_DTYPE)[6:]}), 1 kernel thread", results["grid_decisions_map_1_thread"])
    line(f"decision map: as shown ({str(MAP_DTYPE)[6:]}), 100x100, 5-120-3", results["grid_decisions_map"], 50)
    line("decision map: DecisionMap.redraw (+ test accuracy)", results["decision_map_redraw"])
    results.update(bench_explorer(args.repeats * 4))
    line("NeuronExplorer: redraw after a drag", results["explorer_drag_redraw"], 20)
    results.update(bench_sample_views(args.repeats))
    for name in ("membrane_redraw", "raster_redraw", "chip_view_redraw"):
        line(name.replace("_", " "), results[name])
    results["hardware"] = bench_hardware()
    if args.epochs > 0:
        results["training"] = bench_training(args.epochs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
