"""How fast the interactive views are (headless: the kernel's side of every update).

    python benchmarks/bench_widgets.py [--repeats 15] [--play-seconds 10] [--epochs 30] [--pairs 3] [--json out.json]

Targets (issue 5): decision-map recompute for a 100 x 100 grid and a 5-120-3 network
(4 inputs + bias, 120 hidden, 3 outputs) <= 50 ms; NeuronExplorer redraw after a drag <= 20 ms.
Issue 12: while training, >= 5 live redraws per second (playground and chip dashboards) with
<= 20 % training slowdown; the decision map <= 30 ms on one core for the live grid and for the
100 x 100 map at rest.

Live figures (issue 12), each dashboard built in this process and its TrainingRunner started
as Play does:
- "playground live" / "chip live": publishes per second of the drawing thread over
  --play-seconds of Play, and its CPU ms per publish (before = the settings before issue 12
  that are still callable, after = the defaults; see bench_live_playground/bench_live_chip);
- "map live" / "map at rest": one DecisionMap.draw_live from a snapshot (1 kernel thread, as
  the drawing thread runs it) and one full redraw at rest;
- "training run": alternating runs without and with the playground's views, --epochs each;
  the slowdown is the median over the --pairs pairs of the with/without ratio.

Measured last session (2 cores, normal priority, load ~0.9, main 0995a81): training slowdown
with live views +27.8 % wall / +18.1 % training-thread CPU, chip live 4.3 redraws/s.

After landing (main 3c821de; QUIET, so `nice -n 19 python benchmarks/bench_widgets.py --repeats 5`,
OMP_WAIT_POLICY=PASSIVE, uptime load 6.88 before / 3.81 after; both chip runs draw at 63x63):
    chip map live 32x32 float64 (readout from the loop's batches), before median     56.6 ms wall,     56.1 ms CPU, best    50.9 ms
    chip map live 32x32 float32 (readout from the loop's batches), after median     40.2 ms wall,     38.9 ms CPU, best    40.1 ms
    playground live, after  (min_interval 0.14 s, live grid 64x64): 70 publishes in 10 s = 7.0/s, drawing thread 15.7 ms CPU (35.6 ms wall) per publish, 6057 batches trained, core share >= 1.00 (target >= 5/s)
    chip live, before      (live grid 32x32 float64, readout in-the-loop batches): 48 publishes in 10 s = 4.8/s, drawing thread 51.5 ms CPU (98.6 ms wall) per publish, 568 batches trained in the loop, core share >= 1.00 (target >= 5/s)
    chip live, after       (live grid 32x32 float32, readout in-the-loop batches): 66 publishes in 10 s = 6.6/s, drawing thread 37.4 ms CPU (81.7 ms wall) per publish, 506 batches trained in the loop, core share >= 1.00 (target >= 5/s)
    training slowdown, with views, before (autosave after every epoch), median of 3 alternating rounds: +28.7 % wall, +10.9 % training-thread CPU  (target: <= +20 %)
    training slowdown, with views, after (autosave at most every 5 s), median of 3 alternating rounds: +6.7 % wall, +5.4 % training-thread CPU  (target: <= +20 %)

Measured this session (at 56d2485, before merging main; the coordinator was measuring, so
`nice -n 19 python benchmarks/bench_widgets.py --causes`, uptime load 9.76 before / 6.34 after,
OMP_WAIT_POLICY unset; wall times are inflated by the load, CPU times are the figures):
    chip map live 50x50 float64 (+ 300 test points), issue start median    477.8 ms wall,    143.0 ms CPU, best   443.8 ms
    chip map live 32x32 float64 (readout from the loop's batches), before median    172.9 ms wall,     52.0 ms CPU, best   152.5 ms
    chip map live 32x32 float32 (readout from the loop's batches), after median    117.8 ms wall,     36.0 ms CPU, best   111.9 ms
    playground live, after  (min_interval 0.14 s, live grid 64x64): 67 publishes in 10 s = 6.7/s, drawing thread 18.7 ms CPU (87.4 ms wall) per publish, 2178 batches trained, core share >= 1.00 (target >= 5/s)
    chip live, before      (live grid 32x32 float64, readout in-the-loop batches): 50 publishes in 10 s = 5.0/s, drawing thread 49.7 ms CPU (100.0 ms wall) per publish, 630 batches trained in the loop, core share >= 1.00 (target >= 5/s)
    chip live, after       (live grid 32x32 float32, readout in-the-loop batches): 66 publishes in 10 s = 6.6/s, drawing thread 36.3 ms CPU (91.1 ms wall) per publish, 476 batches trained in the loop, core share >= 1.00 (target >= 5/s)
    training slowdown, with views, before (autosave after every epoch), median of 3 alternating rounds: +15.0 % wall, +9.2 % training-thread CPU  (target: <= +20 %)
    training slowdown, with views, after (autosave at most every 5 s), median of 3 alternating rounds: -17.4 % wall, -15.8 % training-thread CPU  (target: <= +20 %)
  The training ratios at that load are noise (runs of ~2 s; the run without views was slower
  than the ones with them). The cause was found by profiling, not by these ratios: the
  playground's autosave wrote a new generation (3 fsyncs: 5-56 ms wall, ~4 ms CPU, measured on
  10 saves) in the training thread after every epoch of ~50 ms; at load ~2, 30 epochs x 3
  rounds: with views +51 % wall / +25 % training-thread CPU, the same without the autosave
  listener +27 % / +4 %, drawing thread niced to 10 +28 % / +12 %, switch interval 0.5 ms
  +31 % / +11 % (neither helps). --causes also runs a drawer of 20 ms CPU per redraw that holds
  the GIL (a Python loop) against one that does not (hashlib): the GIL-holding one slowed
  training (+13.4 % wall, 5 epochs; +0.0 % at the noisy load above), the other did not (+1.6 %);
  the real drawing thread spends ~85 % of its CPU in the GIL-free C kernels (cProfile).

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

from ttfs_lab import TTFSNetwork, fair_threads
from ttfs_lab.native import get_backend, get_num_threads, set_num_threads
from ttfs_lab.probe import decision_grid
from ttfs_lab.widgets import (
    ChipView, DecisionMap, HardwarePanel, LabState, MembraneView, NeuronExplorer, RasterView, TrainingPanel,
)
from ttfs_lab.widgets.decision_map import LIVE_GRID_SIZE, MAP_DTYPE
from ttfs_lab.widgets import pacing
from ttfs_lab.widgets.pacing import LIVE_INTERVAL
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


def _training_run(epochs, views=None, autosave_sync=False, draw_nice=None, switch_interval=None, synthetic=None):
    """One run through the default runner (the training thread as the dashboard runs it): a fresh
    LabState, ``epochs`` epochs. views: None (no views) or "playground" (the whole dashboard:
    live map, curves, readouts, the views below the first screen, the autosave); autosave_sync:
    its epoch saves written in the training thread (as before the saver thread). draw_nice: the drawing thread's nice
    value; switch_interval: sys.setswitchinterval for the run; synthetic: ("gil" | "nogil",
    ms) a live view that burns that much CPU holding the GIL (a Python loop) or not (hashlib,
    which drops the GIL) instead of the views."""
    state = LabState(epochs=epochs)
    runner = TrainingRunner.for_state(state)
    if views == "playground":
        from ttfs_lab.widgets.dashboards.playground import playground

        dashboard = playground(state)
        if autosave_sync:
            saves = dashboard["autosave"].autosave
            saves.save_later = saves.save
    if synthetic is not None:
        runner.live_views.append(_burner(*synthetic))
    draw = runner._draw
    if draw_nice is not None:
        def draw():
            fair_threads.background_priority(draw_nice)
            runner.__class__._draw(runner)
        runner._draw = draw
    runner.trainer()
    interval = sys.getswitchinterval()
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    cpu = time.process_time()
    try:
        runner.start()
        runner.join()
    finally:
        sys.setswitchinterval(interval)
    return {"wall_s": runner.loop_seconds, "cpu_s": runner.loop_cpu_seconds, "live": runner.live_publishes,
            "draw_cpu_s": runner.draw_cpu_seconds, "process_cpu_s": time.process_time() - cpu,
            "epochs_per_s": epochs / runner.loop_seconds}


def _burner(kind, ms):
    """A live view that costs ``ms`` of CPU per redraw, holding the GIL ("gil") or not ("nogil")."""
    import hashlib

    block = b"x" * (1 << 16)
    started, n = time.thread_time(), 0
    while time.thread_time() - started < 0.1:  # calibrate: hashes per CPU second
        hashlib.sha256(block).digest()
        n += 1
    per_ms = n / 100.0

    def gil(snapshot):
        t = time.thread_time()
        while time.thread_time() - t < ms / 1e3:
            sum(range(100))

    def nogil(snapshot):
        for _ in range(max(1, int(per_ms * ms))):
            hashlib.sha256(block).digest()  # hashlib releases the GIL for data > 2 kB

    return {"gil": gil, "nogil": nogil}[kind]


TRAINING_VARIANTS = {
    "without views": {},
    "with views, before (autosave after every epoch, in the training thread)": {"views": "playground", "autosave_sync": True},
    "with views, after (autosave after every epoch, by the saver thread)": {"views": "playground"},
}
# Hypotheses for what slows training beside the live views (bench_training(causes=True)).
CAUSE_VARIANTS = {
    "after, drawing thread at nice 10 (as training)": {"views": "playground", "draw_nice": fair_threads.BACKGROUND_NICE},
    "after, sys.setswitchinterval 0.5 ms (5 ms)": {"views": "playground", "switch_interval": 0.0005},
    "no views, a drawer of 20 ms CPU holding the GIL": {"synthetic": ("gil", 20.0)},
    "no views, a drawer of 20 ms CPU without the GIL": {"synthetic": ("nogil", 20.0)},
}


def bench_training(epochs, pairs=3, causes=False):
    """Training without and with the playground's views, in **alternating** runs (without,
    before, after, [causes...], without, ...: machine noise drifts over minutes and would
    otherwise go into the ratios). before = the autosave after every epoch in the training
    thread (what issue 12's first measurements ran), after = the saver thread writes it.
    The slowdown of a variant is the median over the rounds of its ratio to that round's run
    without views: wall time of the training loop, and CPU of the training thread
    (time.thread_time: what training itself cost, not what it waited for)."""
    variants = dict(TRAINING_VARIANTS, **(CAUSE_VARIANTS if causes else {}))
    runs = {name: [] for name in variants}
    for pair in range(pairs):
        for name, kwargs in variants.items():
            r = _training_run(epochs, **kwargs)
            runs[name].append(r)
            print(f"training round {pair + 1}, {name}: {epochs} epoch(s) {r['wall_s']:6.2f} s wall = "
                  f"{r['epochs_per_s']:.3f} epochs/s, training thread {r['cpu_s']:6.2f} s CPU, process "
                  f"{r['process_cpu_s']:.2f} s CPU, {r['live']} live publishes ({r['draw_cpu_s']:.2f} s CPU drawing)")
    base = runs["without views"]
    out = {"runs": runs}
    for name in list(variants)[1:]:
        ratios = {k: statistics.median(w[k] / b[k] for b, w in zip(base, runs[name])) for k in ("wall_s", "cpu_s")}
        target = "  (target: <= +20 %)" if name in TRAINING_VARIANTS else ""
        print(f"training slowdown, {name}, median of {pairs} alternating rounds: {100 * (ratios['wall_s'] - 1):+.1f} % wall, "
              f"{100 * (ratios['cpu_s'] - 1):+.1f} % training-thread CPU{target}")
        out[name] = {"slowdown_wall": ratios["wall_s"] - 1, "slowdown_cpu": ratios["cpu_s"] - 1}
    return out


def _play(state, dashboard, seconds):
    """Press Play on ``dashboard`` (its runner, in this process) for ``seconds``, then pause;
    what the drawing thread published meanwhile."""
    runner = TrainingRunner.for_state(state)
    decision = dashboard["decision"]
    runner.trainer()  # data and optimizer built before the clock starts (Play does this too)
    started_draws, steps0 = decision.live_draws, len(runner.record()["step"])
    runner.start()
    shares = []
    for _ in range(max(1, int(seconds))):  # the pacer's core share (other kernels training now)
        time.sleep(seconds / max(1, int(seconds)))
        shares.append(pacing.core_share())
    runner.pause(wait=120.0)
    live = runner.live_publishes
    if runner.epochs_left() <= 0:
        raise RuntimeError(f"training ended before {seconds} s of Play: raise the state's epochs")
    return {"seconds": seconds, "live_publishes": live, "per_second": live / seconds,
            "map_live_draws": decision.live_draws - started_draws,
            "draw_cpu_ms_per_publish": 1e3 * runner.draw_cpu_seconds / max(live, 1),
            "draw_wall_ms_per_publish": 1e3 * runner.draw_seconds / max(live, 1),
            "batches": len(runner.record()["step"]) - steps0, "train_cpu_s": runner.train_cpu_seconds,
            "map_ms": 1e3 * decision.recompute_seconds, "live_grid": decision.live_grid_size,
            "readout": decision.readout.value, "core_share": min(shares)}


def bench_live_playground(seconds):
    """The playground (widgets.dashboards.playground) in this process: Play for ``seconds``.

    before = the settings before issue 12 that are still callable: min_interval 1.0 s pacing and
    a 40 x 40 live grid (drawing inside the training thread is gone: the drawing thread is used
    for both); after = the defaults (LIVE_INTERVAL, 64 x 64)."""
    from ttfs_lab.widgets.dashboards.playground import playground

    out = {}
    for label, min_interval, grid in (("before", 1.0, 40), ("after", LIVE_INTERVAL, LIVE_GRID_SIZE)):
        state = LabState(epochs=100_000)
        state._runner = TrainingRunner(state, min_interval=min_interval)
        dashboard = playground(state)
        dashboard["decision"].live_grid_size = grid
        r = out[label] = _play(state, dashboard, seconds)
        print(f"playground live, {label:<6} (min_interval {min_interval:.2f} s, live grid {grid}x{grid}): "
              f"{r['live_publishes']} publishes in {seconds:.0f} s = {r['per_second']:.1f}/s, "
              f"drawing thread {r['draw_cpu_ms_per_publish']:.1f} ms CPU ({r['draw_wall_ms_per_publish']:.1f} ms wall) "
              f"per publish, {r['batches']} batches trained, core share >= {r['core_share']:.2f} (target >= 5/s)")
    return out


CHIP_LIVE_VARIANTS = (  # label, live grid, readout from the loop's batches, live map dtype
    ("issue start", 50, False, torch.float64),
    ("before", 32, True, torch.float64),
    ("after", 32, True, MAP_DTYPE),
)


def bench_live_chip(seconds):
    """The chip dashboard (widgets.dashboards.chip) in this process: Play (training in the loop)
    for ``seconds``. issue start = a 50 x 50 live grid whose readout ran the test set on the
    chip as well; before = the 32 x 32 live grid, its readout the chip's own training batches,
    the chip's map in float64; after = the same in float32 (DecisionMap.live_dtype)."""
    from ttfs_lab.widgets.dashboards.chip import chip_dashboard, chip_state

    out = {}
    for label, grid, loop, dtype in CHIP_LIVE_VARIANTS:
        state = chip_state()
        state.epochs = 100_000  # its 20 epochs (140 batches) end within seconds of Play
        dashboard = chip_dashboard(state)
        decision = dashboard["decision"]
        decision.live_grid_size = grid
        decision.live_dtype = dtype
        if not loop:
            decision._trains_in_the_loop = lambda: False  # the readout's second pass over the test set
        r = out[label] = _play(state, dashboard, seconds)
        dashboard["hardware"].wait(120.0)
        print(f"chip live, {label:<11} (live grid {grid}x{grid} {str(dtype)[6:]}, readout "
              f"{'in-the-loop batches' if loop else 'test set on the chip'}): "
              f"{r['live_publishes']} publishes in {seconds:.0f} s = {r['per_second']:.1f}/s, drawing thread "
              f"{r['draw_cpu_ms_per_publish']:.1f} ms CPU ({r['draw_wall_ms_per_publish']:.1f} ms wall) per publish, "
              f"{r['batches']} batches trained in the loop, core share >= {r['core_share']:.2f} (target >= 5/s)")
    return out


def bench_live_maps(repeats):
    """One live redraw (DecisionMap.draw_live from a snapshot, 1 kernel thread, as the drawing
    thread runs it) and one full redraw at rest (DecisionMap.redraw): playground and chip maps."""
    from ttfs_lab.widgets.dashboards.chip import chip_dashboard, chip_state
    from ttfs_lab.widgets.runner import Snapshot

    out = {}
    state = LabState()
    view = DecisionMap(state)
    snapshot = Snapshot.of(state.network, steps=0, epochs=0)

    def live():
        state.status = "running"
        view.draw_live(snapshot)

    out["playground_live"] = timed(live, repeats)
    state.status = "paused"
    out["playground_rest"] = timed(view.redraw, repeats)
    line(f"playground map live {view.live_grid_size}x{view.live_grid_size} (+ {state.test_size} test points)",
         out["playground_live"], 30)
    line(f"playground map at rest {view.grid_size}x{view.grid_size} (+ test accuracy)", out["playground_rest"], 30)

    state = chip_state()
    decision = chip_dashboard(state)["decision"]
    snapshot = Snapshot.of(state.network, steps=0, epochs=0)
    TrainingRunner.for_state(state).trainer()  # the in-the-loop trainer, as Play builds it
    for label, grid, loop, dtype in CHIP_LIVE_VARIANTS:
        decision.live_grid_size = grid
        decision.live_dtype = dtype
        decision._trains_in_the_loop = (lambda loop=loop: loop)

        def chip_live():
            state.status = "running"
            decision.draw_live(snapshot)

        r = out[f"chip_live_{label}"] = timed(chip_live, max(3, repeats // 3))
        what = f"+ {state.test_size} test points" if not loop else "readout from the loop's batches"
        line(f"chip map live {grid}x{grid} {str(dtype)[6:]} ({what}), {label}", r)
    del decision._trains_in_the_loop
    decision.live_dtype = MAP_DTYPE
    state.status = "paused"
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
    parser.add_argument("--epochs", type=int, default=30, help="epochs per training run (0 skips them)")
    parser.add_argument("--pairs", type=int, default=3, help="alternating rounds of training runs")
    parser.add_argument("--causes", action="store_true",
                        help="also the slowdown's hypotheses (drawing niced, switch interval, GIL or not)")
    parser.add_argument("--play-seconds", type=float, default=10.0, help="Play this long per live run (0 skips them)")
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
    results["maps"] = bench_live_maps(args.repeats)
    if args.play_seconds > 0:
        results["live_playground"] = bench_live_playground(args.play_seconds)
        results["live_chip"] = bench_live_chip(args.play_seconds)
    if args.epochs > 0:
        results["training"] = bench_training(args.epochs, args.pairs, args.causes)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end {load:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
