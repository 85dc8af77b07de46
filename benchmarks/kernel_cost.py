"""Dashboard cost per student: RSS and CPU of a real kernel running the playground.

    python benchmarks/kernel_cost.py [--seconds 10] [--before COMMIT]

Starts an IPython kernel (jupyter_client, the kernel Voila and JupyterLab start per student),
executes the code cells of apps/playground.ipynb in it, and reads the kernel process's
resident memory (RSS, and USS: the part no other process shares) and CPU (user + system
seconds from /proc, as % of one core) over --seconds:

  imported   after the dashboard module's imports (torch, ipywidgets, bqplot, ttfs_lab)
  idle       the dashboard built and displayed, nobody touching it
  training   after pressing Play (TrainingRunner.start), while it trains

--before COMMIT also measures that commit of this repository (git archive into a temporary
folder, with the current tree's compiled ttfs_lab/_native*.so copied in), in the same run.
Kernels are shut down at the end. The machine is shared: CPU % counts this kernel only.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from jupyter_client import KernelManager

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


def measure(source: Path, seconds: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(source), TTFS_LAB_STATE_DIR=tempfile.mkdtemp(prefix="kernel_cost_home_"))
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


def checkout(commit: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="kernel_cost_"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    for built in glob.glob(str(REPO / "ttfs_lab" / "_native*.so")):
        shutil.copy(built, folder / "ttfs_lab")
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--before", help="also measure this commit (e.g. main before a change)")
    args = parser.parse_args()
    sources = {}
    if args.before:
        sources[f"before ({args.before})"] = checkout(args.before)
    sources["this tree"] = REPO
    print(f"playground kernel cost; {args.seconds:g} s per sample; load average {os.getloadavg()[0]:.1f}; "
          f"{os.cpu_count()} cores")
    print(f"{'source':24} {'phase':12} {'RSS MB':>8} {'USS MB':>8} {'CPU % of a core':>16}")
    try:
        for name, source in sources.items():
            for phase, m in measure(source, args.seconds).items():
                print(f"{name:24} {phase:12} {m['rss']:8.0f} {m['uss']:8.0f} {m['cpu']:16.1f}")
    finally:
        for name, source in sources.items():
            if source != REPO:
                shutil.rmtree(source, ignore_errors=True)


if __name__ == "__main__":
    main()
