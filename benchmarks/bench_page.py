"""What a live redraw costs the browser page (issues 12/14): frames, rendering phases, busy time.

Starts Voilà on one or more checkouts (``--root``, each with its own .venv; the first is this
one), opens the playground in Debian's headless Chromium (--disable-gpu, as the classroom
benchmark runs it), presses Play and records a Chromium trace of ``--seconds`` of training.
From the renderer's main thread it prints, per checkout, in one run (compare ratios within a
run; timings on 2 shared cores are noisy, the load average is printed with every line):

  frames/s        main-thread frames the page rendered (ProxyMain::BeginMainFrame)
  ms per frame    by phase: layerize (Layerize, in PaintArtifactCompositor::Update), paint, pre-paint,
                  layout, style, hit test, script (v8 / FunctionCall)
  busy            fraction of the wall time the main thread ran any task (union of its
                  top-level trace slices)
  redraws/s       decision-map redraws seen in the page (the heat map's <image> href changing)

  python benchmarks/bench_page.py --root . --root /work/main --seconds 8
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
CATEGORIES = ["devtools.timeline", "blink", "cc", "v8", "disabled-by-default-devtools.timeline"]
# Phase -> trace event names on the renderer main thread (Chromium's own names). The phases do
# not nest into one another, so their sums add up.
PHASES = {
    "layerize": ["Layerize"],
    "paint": ["Paint"],
    "prepaint": ["PrePaint"],
    "layout": ["Layout"],
    "style": ["UpdateLayoutTree", "RecalculateStyles"],
    "hittest": ["HitTest"],
    "script": ["v8.callFunction", "v8.run"],
}
# The heat map's redraws as the page shows them (the same rule as the browser tests): only the
# heat map's <image> (a canvas data: URL); the points layer's image (a blob: URL) is not a map redraw.
REDRAWS_JS = """
() => {
  const fig = document.querySelector('.ttfs-decision-figure');
  const seen = {count: 0, last: null};
  window.__benchRedraws = seen;
  new MutationObserver(ms => {
    for (const m of ms) {
      if (m.target.nodeName !== 'image' || m.attributeName !== 'href' ) continue;
      const href = m.target.getAttribute('href');
      if (href && !href.startsWith('blob:') && href !== seen.last) { seen.last = href; seen.count += 1; }
    }
  }).observe(fig, {subtree: true, attributes: true, attributeFilter: ['href']});
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_voila(root: Path, port: int) -> subprocess.Popen:
    voila = root / ".venv" / "bin" / "voila"
    if not voila.exists():
        raise SystemExit(f"{root}: no .venv/bin/voila (run `make install` there)")
    env = dict(os.environ, JUPYTER_PATH=str(root / "apps" / "jupyter"), OMP_WAIT_POLICY="PASSIVE")
    return subprocess.Popen([str(voila), f"--Voila.config_file_paths={root / 'apps'}", str(root / "apps"),
                             "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def main_thread_events(events):
    """The X (complete) slices of the busiest renderer main thread."""
    names = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
             and e.get("args", {}).get("name") == "CrRendererMain"}
    counts = collections.Counter((e["pid"], e["tid"]) for e in events if e.get("ph") == "X" and (e.get("pid"), e.get("tid")) in names)
    if not counts:
        raise RuntimeError("no renderer main thread in the trace")
    key = counts.most_common(1)[0][0]
    return [e for e in events if e.get("ph") == "X" and (e.get("pid"), e.get("tid")) == key and "dur" in e]


def summarize(events, seconds: float) -> dict:
    """frames/s, ms per frame by phase, busy fraction (module docstring) of one trace."""
    main = main_thread_events(events)
    total = collections.Counter()
    count = collections.Counter()
    for e in main:
        total[e["name"]] += e["dur"]
        count[e["name"]] += 1
    frames = count["ProxyMain::BeginMainFrame"]
    per_frame = {phase: sum(total[n] for n in names) / 1e3 / max(frames, 1) for phase, names in PHASES.items()}
    # Busy time: the union of the slices' intervals (nested slices counted once).
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in main)
    busy, end = 0.0, None
    start_ts = spans[0][0] if spans else 0
    for a, b in spans:
        if end is None or a > end:
            busy += b - a
            end = b
        elif b > end:
            busy += b - end
            end = b
    return {"frames_per_s": frames / seconds, "ms_per_frame": per_frame, "busy": busy / 1e6 / seconds,
            "top": [(n, total[n] / 1e3, count[n]) for n, _ in total.most_common(12)], "span_s": ((end or 0) - start_ts) / 1e6}


async def measure(root: Path, seconds: float, warmup: float, top: bool, screenshot: Path | None) -> dict:
    from playwright.async_api import async_playwright

    port = free_port()
    proc = start_voila(root, port)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await (await browser.new_context(viewport={"width": 1366, "height": 768})).new_page()
            await page.goto(f"http://127.0.0.1:{port}/voila/render/playground.ipynb", timeout=300_000)
            await page.wait_for_selector(".ttfs-play", timeout=300_000)
            await page.wait_for_selector(".ttfs-decision-figure svg", timeout=300_000)
            await asyncio.sleep(2.0)
            await page.click(".ttfs-play")
            await asyncio.sleep(warmup)  # the live grid replaces the full one, pacing settles
            await page.evaluate(REDRAWS_JS)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "trace.json"
                await browser.start_tracing(page=page, path=str(path), categories=CATEGORIES)
                started = time.monotonic()
                await asyncio.sleep(seconds)
                await browser.stop_tracing()
                wall = time.monotonic() - started
                redraws = await page.evaluate("() => window.__benchRedraws.count")
                data = json.loads(path.read_text())
            if screenshot is not None:
                await page.screenshot(path=str(screenshot))
            await page.click(".ttfs-pause")
            await browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    events = data["traceEvents"] if isinstance(data, dict) else data
    result = summarize(events, wall)
    result["redraws_per_s"] = redraws / wall
    result["wall_s"] = wall
    return result


def line(label: str, r: dict) -> str:
    load = os.getloadavg()
    phases = " ".join(f"{k} {v:5.1f}" for k, v in r["ms_per_frame"].items())
    return (f"{label:<14} frames/s {r['frames_per_s']:5.1f}  redraws/s {r['redraws_per_s']:4.1f}  busy {100 * r['busy']:4.0f} %  "
            f"ms/frame: {phases}  (load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", action="append", type=Path, help="a checkout with its own .venv (repeatable; default: this one)")
    ap.add_argument("--seconds", type=float, default=8.0, help="traced seconds of training per checkout")
    ap.add_argument("--warmup", type=float, default=4.0, help="seconds of training before the trace starts")
    ap.add_argument("--rounds", type=int, default=1, help="measure the checkouts in turn this many times")
    ap.add_argument("--top", action="store_true", help="also print the main thread's 12 costliest trace events")
    ap.add_argument("--screenshot", type=Path, help="directory for a screenshot per checkout, taken while training")
    args = ap.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0 or args.rounds < 1:
        ap.error("--seconds must be > 0, --warmup >= 0, --rounds >= 1")
    roots = [r.resolve() for r in (args.root or [HERE])]
    print(f"playground, headless Chromium {' '.join(CHROMIUM_ARGS)}, {args.seconds:.0f} s traced after {args.warmup:.0f} s of training"
          f"{' (QUIET: timings not trustworthy)' if os.path.exists('/work/brief/QUIET') else ''}")
    for k in range(args.rounds):
        for i, root in enumerate(roots):
            shot = args.screenshot / f"page-{i}-{k}.png" if args.screenshot else None
            r = asyncio.run(measure(root, args.seconds, args.warmup, args.top, shot))
            print(line(f"{root.name}", r), flush=True)
            if args.top:
                for name, ms, n in r["top"]:
                    print(f"    {ms:9.1f} ms {n:6d}  {name}")


if __name__ == "__main__":
    sys.exit(main())
