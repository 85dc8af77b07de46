"""Dashboard cost per student: RSS and CPU of a real kernel running the playground.

    python benchmarks/kernel_cost.py [--seconds 10] [--before COMMIT]

Starts an IPython kernel (jupyter_client, the kernel Voila and JupyterLab start per student),
executes the code cells of apps/playground.ipynb in it, and reads the kernel process's
resident memory (RSS, and USS: the part no other process shares) and CPU (user + system
seconds from /proc, as % of one core) over --seconds:

  imported   after the dashboard module's imports (torch, ipywidgets, bqplot, ttfs_lab)
  idle       the dashboard built and displayed, nobody touching it
  training   after pressing Play (TrainingRunner.start), while it trains

--before COMMIT also measures that commit of this repository in the same run, first: checked
out into a temporary folder and built there, its own compiled kernels and widgets
(benchmarks/_before.py); each kernel verifies that its ttfs_lab, widgets and _native come from
the tree it measures. Then the differences (this tree - before) per phase.
Kernels are shut down at the end. The machine is shared: CPU % counts this kernel only, and
USS counts only pages no other process maps -- another process of the same venv (a test run,
a second kernel) turns the shared libraries' pages from unique into shared and lowers USS by
up to ~100 MB; RSS does not depend on that. Both kernels run from this venv's interpreter.

Measured (`nice -n 19 python benchmarks/kernel_cost.py --seconds 10 --before bb5101e`,
2026-12-07 12:41, coordinator's QUIET window, load 18.7 -> 25.0: CPU % is not to be trusted,
memory is), RSS / USS MB:
    before (bb5101e)  imported 282/266  idle 374/357  training 408/391  after pause 402/384
    this tree         imported 282/266  idle 306/289  training 345/329  after pause 352/335
    this tree - before                  idle -68/-67  training -63/-63  after pause -50/-49
The ~68 MB are torch._dynamo + sympy, imported before by the first torch.optim optimizer (the
runner's warm-up thread, at dashboard build); the trainer's own Adam (ttfs_lab.train.adam)
needs neither.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil
from jupyter_client import KernelManager

from _before import before_tree, check_code

REPO = Path(__file__).resolve().parents[1]


def cells(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def run(client, code: str, timeout: float = 300.0) -> None:
    reply = client.execute_interactive(code, timeout=timeout, output_hook=lambda msg: None)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"kernel error in {code[:60]!r}: {reply['content'].get('evalue')}")


def sample(process: psutil.Process, seconds: float) -> dict:
    """RSS/USS (MB) at the end and CPU % of one core over `seconds`."""
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    cpu = (after.user - before.user) + (after.system - before.system)
    memory = process.memory_full_info()
    return {"rss": memory.rss / 2**20, "uss": memory.uss / 2**20, "cpu": 100 * cpu / seconds}


def measure(source: Path, seconds: float, env: dict, modules_root: Path) -> dict:
    """The phases (module doc) of a playground kernel over the notebook in ``source``/apps,
    started with ``env``; its ttfs_lab must load from ``modules_root``."""
    env = dict(env, TTFS_LAB_STATE_DIR=tempfile.mkdtemp(prefix="kernel_cost_home_"))
    env.pop("TTFS_LAB_CI", None)
    km = KernelManager(kernel_name="python3")
    km.kernel_cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    km.start_kernel(env=env, cwd=str(source / "apps"))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        process = psutil.Process(km.provisioner.process.pid)
        out = {"bare": sample(process, 1.0)}
        code = cells(source / "apps" / "playground.ipynb")
        imports = "\n".join(line for line in code[0].splitlines() if line.startswith(("from ", "import ")))
        run(client, imports)
        out["imported"] = sample(process, 1.0)
        run(client, check_code(modules_root))  # the tree we mean to measure, all of it
        for cell in code:
            run(client, cell)
        run(client, "_dashboard = _")  # the displayed Dashboard (the cell's last value)
        out["idle"] = sample(process, seconds)
        run(client, "_dashboard.views['training'].runner.start()")
        time.sleep(2.0)  # the first epoch (thread start, warm-up)
        out["training"] = sample(process, seconds)
        run(client, "_dashboard.views['training'].runner.pause(wait=10)")
        out["after pause"] = sample(process, min(seconds, 5.0))
        return out
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
        shutil.rmtree(env["TTFS_LAB_STATE_DIR"], ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--before", help="also measure this commit (e.g. main before a change)")
    args = parser.parse_args()
    print(f"playground kernel cost; {args.seconds:g} s per sample; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores", flush=True)
    print(f"{'source':24} {'phase':12} {'RSS MB':>8} {'USS MB':>8} {'CPU % of a core':>16}", flush=True)
    results = {}
    with before_tree(args.before) if args.before else contextlib.nullcontext() as old:
        runs = [(f"before ({args.before})", old.root, old.env(), old.site)] if old is not None else []
        # this tree: its editable install (no PYTHONPATH needed)
        runs.append(("this tree", REPO, dict(os.environ), REPO))
        for name, source, env, modules in runs:
            results[name] = measure(source, args.seconds, env, modules)
            for phase, m in results[name].items():
                print(f"{name:24} {phase:12} {m['rss']:8.0f} {m['uss']:8.0f} {m['cpu']:16.1f}", flush=True)
    if len(results) == 2:
        (_, before), (_, after) = results.items()
        for phase in after:
            print(f"{'this tree - before':24} {phase:12} {after[phase]['rss'] - before[phase]['rss']:+8.0f} "
                  f"{after[phase]['uss'] - before[phase]['uss']:+8.0f} "
                  f"{after[phase]['cpu'] - before[phase]['cpu']:+16.1f}")
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
