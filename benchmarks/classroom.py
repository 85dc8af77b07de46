"""A classroom on one machine: N students sign in, open the playground, press Play and move a
control every few seconds, all at once.

    .venv/bin/python benchmarks/classroom.py --students 1,5,10,20,30 --seconds 60          # hub
    .venv/bin/python benchmarks/classroom.py --students 5 --seconds 60 --mode voila        # plain Voilà
    .venv/bin/python benchmarks/classroom.py --students 3 --seconds 40 --drill kill,restart

hub mode starts the workshop JupyterHub (deploy/hub, as `make hub`: root, one Unix account per
student, accounts and homes removed afterwards); voila mode starts `make serve`'s Voilà (one
server, one kernel per page). One Chromium (Debian's), one browser context per student,
127.0.0.1 only; every wait is bounded.

Per student (figures measured in the page): time until the Play button shows (interactive),
decision-map redraws per second while training (the heat map image changing), the latency from
toggling "data points" to the map showing it (p50/p95), epochs trained. Server: RSS per student
(single-user server + kernel: processes of that student's account; in voila mode the kernel
plus a share of the server), total RSS, CPU use (psutil), load average.

Drills (hub mode): ``kill`` sends SIGKILL to student 1's kernel half way: that page must say
so, and after a reload its Restore button must bring back the last saved epoch, while the
other students keep training; ``restart`` restarts the hub (servers stopped with it): every
student reloads, finds the offer and restores the epoch saved last.

CPU while the classroom runs, in cores (core-seconds per second; the machine has os.cpu_count()):
c_hub = the hub and every student's server and kernel, c_brw = this benchmark's own Chromium
and Playwright, c_oth = every other process on the machine (other users; they compete for the
same cores, so they are recorded with each run); k_core = the median student kernel's CPU share
(its CPU seconds over its lifetime: 1.0 = one whole core).

Prints one table (one row per N) and writes JSON (--json, default
test-artifacts/classroom.json). The figures in README "Run a workshop" come from this script.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
INTERACTIVE_TIMEOUT = 300  # s: a hard bound on one page's start
ACTION_TIMEOUT = 120  # s: a bound on any one click or wait in a page
PAGE_JS = """
() => {
  window.__bench = {redraws: [], latencies: [], clicked: null, busy_ms: 0, started: performance.now()};
  // The page's own main thread: time in tasks over 50 ms (a page that cannot keep up).
  new PerformanceObserver(l => { for (const e of l.getEntries()) window.__bench.busy_ms += e.duration; })
    .observe({type: 'longtask'});
  const fig = document.querySelector('.ttfs-decision-figure');
  new MutationObserver(ms => {
    const now = performance.now();
    let heat = false;
    for (const m of ms) {
      if (m.attributeName === 'href' && m.target.nodeName === 'image') heat = true;
      if (m.attributeName === 'style' && m.target.nodeName === 'g' && window.__bench.clicked !== null) {
        window.__bench.latencies.push(now - window.__bench.clicked);
        window.__bench.clicked = null;
      }
    }
    if (heat) window.__bench.redraws.push(now);
  }).observe(fig, {subtree: true, attributes: true, childList: true});
}
"""
TOGGLE_JS = """
() => { if (window.__bench.clicked !== null) return false;
        window.__bench.clicked = performance.now();
        document.querySelector('.ttfs-points input').click(); return true; }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen, timeout: float = 60):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the hub stops the students' servers; Voilà its kernels
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_or_stop(url: str, proc: subprocess.Popen):
    """wait_http, and stop the server (its whole process group) if it never answers: a server
    that failed to come up must not outlive the benchmark."""
    try:
        wait_http(url, proc)
    except BaseException:
        stop(proc)
        raise


# ---------------------------------------------------------------- servers
class Hub:
    """The workshop hub of deploy/hub in a throw-away folder, with throw-away accounts."""

    mode = "hub"

    def __init__(self, log_dir: Path):
        if os.geteuid() != 0:
            raise SystemExit("hub mode needs root (one Unix account per student); use --mode voila")
        venv = ROOT / ".hub-venv" / "bin" / "jupyterhub"
        if not venv.exists():
            raise SystemExit("run `make hub-install` first (the hub's own venv and the proxy)")
        self.cmd = [str(venv), "-f", str(ROOT / "deploy" / "hub" / "jupyterhub_config.py")]
        self.dir = Path(tempfile.mkdtemp(prefix="ttfs-classroom-"))
        os.chmod(self.dir, 0o755)
        (self.dir / "home").mkdir(mode=0o755)
        (self.dir / "run").mkdir()
        os.chmod(self.dir / "run", 0o1777)  # the students' kernels' fair-thread claims
        self.password = secrets.token_urlsafe(12)
        self.prefix = f"ttfsb{secrets.token_hex(2)}-"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / "classroom-hub.log", "a")
        self.env = dict(os.environ, TTFS_HUB_DIR=str(self.dir / "hub"), TTFS_HUB_PASSWORD=self.password,
                        TTFS_HUB_PORT=str(self.port), TTFS_HUB_USER_PREFIX=self.prefix,
                        TTFS_HUB_HOME_BASE=str(self.dir / "home"), TTFS_LAB_RUN_DIR=str(self.dir / "run"))
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _wait_or_stop(self.url + "/hub/health", self.proc)

    def restart(self):
        stop(self.proc)
        self.start()

    def student_name(self, i: int) -> str:
        return f"s{i:02d}"

    def account(self, i: int) -> str:
        return self.prefix + self.student_name(i)

    def page_url(self, i: int) -> str:
        return self.url + "/hub/login"

    async def sign_in(self, page, i: int, password: str | None = None):
        await page.goto(self.url + "/hub/login", timeout=INTERACTIVE_TIMEOUT * 1000)
        await page.fill("#username_input", self.student_name(i))
        await page.fill("#password_input", password or self.password)
        await page.click("#login_submit")

    def processes(self, i: int):
        """The student's single-user server and kernel(s): every process of their account."""
        return [p for p in psutil.process_iter(["username"]) if p.info["username"] == self.account(i)]

    def kernels(self, i: int):
        return [p for p in self.processes(i) if "ipykernel" in " ".join(_cmdline(p))]

    def is_server(self, pid: int, user: str) -> bool:
        return user.startswith(self.prefix) or pid in self._tree()

    def _tree(self):
        try:
            root = psutil.Process(self.proc.pid)
            return {root.pid} | {c.pid for c in root.children(recursive=True)}
        except psutil.Error:
            return set()

    def saved_epoch(self, i: int):
        """(epoch, batch) of the student's last autosave, or None."""
        path = self.dir / "home" / self.account(i) / ".local/share/ttfs-lab/playground/latest.json"
        try:
            info = json.loads(path.read_text())
            return [info["epoch"], info["batch"]]
        except (OSError, ValueError, KeyError):
            return None

    def close(self):
        stop(self.proc)
        for line in Path("/etc/passwd").read_text().splitlines():
            name = line.split(":")[0]
            if name.startswith(self.prefix):
                subprocess.run(["userdel", "--remove", name], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.log.close()


class Voila:
    """`make serve`'s Voilà: one server, one kernel per page, on a free port."""

    mode = "voila"

    def __init__(self, log_dir: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="ttfs-classroom-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / "classroom-voila.log", "a")
        env = dict(os.environ, JUPYTER_PATH=str(ROOT / "apps" / "jupyter"), TTFS_LAB_STATE_DIR=str(self.dir),
                   TTFS_LAB_RUN_DIR=str(self.dir / "run"))
        voila = Path(sys.executable).with_name("voila")
        self.proc = subprocess.Popen([str(voila), f"--Voila.config_file_paths={ROOT / 'apps'}", str(ROOT / "apps"), "--no-browser",
                                      f"--port={self.port}", "--Voila.ip=127.0.0.1"], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_or_stop(self.url + "/", self.proc)

    async def sign_in(self, page, i: int, password=None):
        await page.goto(self.url + "/voila/render/playground.ipynb", timeout=INTERACTIVE_TIMEOUT * 1000)

    def server_processes(self):
        root = psutil.Process(self.proc.pid)
        return [root] + root.children(recursive=True)

    def kernels(self, i=None):
        return [p for p in self.server_processes() if "ipykernel" in " ".join(_cmdline(p))]

    def is_server(self, pid: int, user: str) -> bool:
        return pid in {p.pid for p in self.server_processes()}

    def close(self):
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.log.close()


def _cmdline(p):
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def cpu_snapshot() -> dict:
    """pid -> (user + system CPU seconds, username, whether it is this benchmark's own tree)."""
    mine = {os.getpid()} | {c.pid for c in psutil.Process().children(recursive=True)}
    snap = {}
    for p in psutil.process_iter(["username", "cpu_times"]):
        t = p.info["cpu_times"]
        if t is not None:
            snap[p.pid] = (t.user + t.system, p.info["username"] or "", p.pid in mine)
    return snap


def cpu_split(before: dict, after: dict, is_server) -> dict:
    """CPU seconds between two snapshots: the server's (hub, students' servers and kernels), this
    benchmark's (Chromium, Playwright) and everybody else's on the machine (other engineers)."""
    out = {"server": 0.0, "browser": 0.0, "others": 0.0}
    for pid, (t, user, mine) in after.items():
        t0 = before.get(pid, (0.0,))[0] if before.get(pid, (0, "", False))[1] == user else 0.0
        key = "server" if is_server(pid, user) else "browser" if mine else "others"
        out[key] += max(0.0, t - t0)
    return out


def rss(processes) -> int:
    total = 0
    for p in processes:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


# ---------------------------------------------------------------- one student
async def open_dashboard(server, page, i: int) -> float:
    """Sign in / open the playground; seconds until the Play button shows."""
    started = time.perf_counter()
    await server.sign_in(page, i)
    await page.wait_for_selector(".ttfs-play", timeout=INTERACTIVE_TIMEOUT * 1000)
    return time.perf_counter() - started


async def epochs_shown(page) -> int:
    return (await position_shown(page))[0]


async def position_shown(page) -> list:
    """[epoch, batch] as the training readout shows them."""
    text = await page.inner_text(".ttfs-training-readout")
    epoch, batch = re.search(r"epoch (\d+) /", text), re.search(r"batch (\d+)", text)
    return [int(epoch.group(1)) if epoch else 0, int(batch.group(1)) if batch else 0]


async def training_progress(page) -> tuple[int, bool]:
    """(epoch shown, whether the run has reached its last epoch)."""
    text = await page.inner_text(".ttfs-training-readout")
    match = re.search(r"epoch (\d+) / (\d+)", text)
    return (int(match.group(1)), match.group(1) == match.group(2)) if match else (0, False)


def redraw_rate(redraws: list, t_play: float, now: float, finished: bool) -> tuple[float, float]:
    """Map redraws per second while training, and the longest gap between them (s).

    Counted from Play to the end of the window, or, where the run reached its last epoch
    before that, to the last redraw (the map rests once training stops, so the seconds
    after it are not training time). Times in ms from the page's performance.now().
    """
    times = sorted(t for t in redraws if t > t_play)
    end = times[-1] if finished and times else now
    span = max(end - t_play, 1e-3)
    edges = [t_play, *times] + ([] if finished else [now])
    gap = max((b - a for a, b in zip(edges, edges[1:])), default=(now - t_play))
    return len(times) / (span / 1000), gap / 1000


async def run_student(server, browser, i: int, seconds: float, period: float, events: dict):
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(ACTION_TIMEOUT * 1000)  # a starved kernel answers late, not never
    page = await context.new_page()
    out = {"student": i, "interactive_s": None, "error": None, "redraws_per_s": None,
           "latency_ms": [], "epochs": 0, "banner": None}
    try:
        out["interactive_s"] = await open_dashboard(server, page, i)
        await page.evaluate(PAGE_JS)
        await page.click(".ttfs-play")
        t_play = await page.evaluate("performance.now()")
        started = time.monotonic()
        deadline = started + seconds
        while time.monotonic() < deadline:
            await page.evaluate(TOGGLE_JS)
            await asyncio.sleep(period)
            if events.get("kill") == i and not out.get("drill") and time.monotonic() > started + seconds / 2:
                out["drill"] = await kill_drill(server, page, i, events)
                await page.evaluate(PAGE_JS)
                t_play = await page.evaluate("performance.now()")
        bench = await page.evaluate("window.__bench")
        now = await page.evaluate("performance.now()")
        out["epochs"], finished = await training_progress(page)
        out["redraws_per_s"], out["redraw_gap_max_s"] = redraw_rate(bench["redraws"], t_play, now, finished)
        out["latency_ms"] = bench["latencies"]
        out["page_busy"] = bench["busy_ms"] / max(now - bench["started"], 1.0)
        out["messages"] = await page.evaluate("[...document.querySelectorAll('.ttfs-error')].map(e => e.textContent)")
        out["banner"] = await page.evaluate("(document.getElementById('ttfs-kernel-banner') || {}).textContent || null")
        out["page"], out["context"] = page, context
    except Exception as error:  # recorded per student; the table shows it
        out["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        await context.close()
    return out


async def kill_drill(server, page, i: int, events: dict) -> dict:
    """SIGKILL this student's kernel while it trains; the page must say so; reload + Restore."""
    await page.click(".ttfs-pause")  # not needed for the kill; makes the saved epoch well defined
    await page.wait_for_function("document.querySelector('.ttfs-training-readout').textContent.includes('paused')",
                                 timeout=60_000)
    await asyncio.sleep(0.5)
    await page.click(".ttfs-play")
    await asyncio.sleep(2)
    saved = server.saved_epoch(i)
    for p in server.kernels(i):
        p.send_signal(signal.SIGKILL)
    result = {"saved_epoch": saved}
    try:
        await page.wait_for_selector("#ttfs-kernel-banner", timeout=60_000)
        result["banner"] = await page.inner_text("#ttfs-kernel-banner")
    except Exception:
        result["banner"] = None
    result["saved_epoch_after_kill"] = server.saved_epoch(i)
    await page.reload()
    await page.wait_for_selector(".ttfs-autosave_restore", timeout=INTERACTIVE_TIMEOUT * 1000)
    await page.click(".ttfs-autosave_restore")
    await page.wait_for_function("document.querySelector('.ttfs-status .ttfs-info') !== null", timeout=60_000)
    result["restored"] = await position_shown(page)
    await page.click(".ttfs-play")
    events["kill_done"] = True
    return result


async def restart_drill(server, results) -> dict:
    """Restart the hub; every student reloads and restores the epoch saved last."""
    saved = {r["student"]: server.saved_epoch(r["student"]) for r in results if r.get("page")}
    server.restart()
    saved_at_stop = {i: server.saved_epoch(i) for i in saved}  # kernels save on shutdown too
    restored, shown = {}, {}

    async def back(r):
        page = r["page"]
        banner = await page.query_selector("#ttfs-kernel-banner")  # the page noticed the hub going
        shown[r["student"]] = await banner.inner_text() if banner else None
        await page.goto(server.url + "/hub/login", timeout=INTERACTIVE_TIMEOUT * 1000)
        if await page.query_selector("#username_input"):  # the cookie may have outlived the restart
            await server.sign_in(page, r["student"])
        await page.wait_for_selector(".ttfs-autosave_restore", timeout=INTERACTIVE_TIMEOUT * 1000)
        await page.click(".ttfs-autosave_restore")
        await page.wait_for_function("document.querySelector('.ttfs-status .ttfs-info') !== null", timeout=60_000)
        restored[r["student"]] = await position_shown(page)

    await asyncio.gather(*(back(r) for r in results if r.get("page")))
    return {"saved_before": saved, "saved_at_stop": saved_at_stop, "restored": restored, "banner": shown}


async def wrong_password(server, browser) -> str:
    context = await browser.new_context()
    page = await context.new_page()
    await server.sign_in(page, 99, password="not-the-password")
    text = await page.inner_text(".login_error", timeout=30_000)
    await context.close()
    return " ".join(text.split())


# ---------------------------------------------------------------- one classroom
def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def classroom(server, n: int, seconds: float, period: float, drills: set) -> dict:
    from playwright.async_api import async_playwright

    psutil.cpu_percent(None)
    cpu_before = psutil.cpu_times()
    snap_before, wall_before = cpu_snapshot(), time.monotonic()
    events = {"kill": 1 if "kill" in drills and n >= 2 else None}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            kernels_before = {}
            tasks = [asyncio.create_task(run_student(server, browser, i, seconds, period, events)) for i in range(n)]
            # Memory is sampled while everyone trains (at 80 % of the run).
            await asyncio.sleep(0)
            results = await _sample_while(tasks, server, n, seconds, kernels_before)
            memory = results.pop()
            report = {"students": n, "seconds": seconds, "mode": server.mode, **memory}
            report["load_avg"] = os.getloadavg()
            cpu_after = psutil.cpu_times()
            busy = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("user", "nice", "system"))
            total = sum(cpu_after) - sum(cpu_before)
            report["cpu_percent"] = 100 * busy / total if total else None
            wall = time.monotonic() - wall_before
            split = cpu_split(snap_before, cpu_snapshot(), server.is_server)
            # Everybody else's: the machine's busy time minus ours (short-lived processes of other
            # users, a compiler or a test run, finish between the snapshots and are only seen here).
            split["others"] = max(0.0, busy - split["server"] - split["browser"])
            # In core-seconds per second: 2.0 = both cores busy the whole run.
            report["cores_used"] = {k: v / wall for k, v in split.items()}
            report["wall_s"] = wall
            if server.mode == "hub":
                report["kernels_died"] = [r["student"] for r in results
                                          if r.get("drill") is None and kernels_before.get(r["student"])
                                          and not (kernels_before[r["student"]] & {k.pid for k in server.kernels(r["student"])})]
                if "restart" in drills:
                    report["restart_drill"] = await restart_drill(server, results)
                if "password" in drills:
                    report["wrong_password_message"] = await wrong_password(server, browser)
            for r in results:
                if r.get("drill"):
                    report["kill_drill"] = {"student": r["student"], **r["drill"],
                                            "others_epochs": [x["epochs"] for x in results if x is not r]}
                for key in ("page", "context"):
                    r.pop(key, None)
            report["per_student"] = results
        finally:
            await browser.close()
    return report


async def _sample_while(tasks, server, n, seconds, kernels_before):
    """Wait for the students; sample memory once they all train (the last fifth of the run)."""
    memory = {}

    async def sample():
        # Give every page time to open (bounded), then sample near the end of the training window.
        started = time.monotonic()
        while time.monotonic() - started < INTERACTIVE_TIMEOUT + seconds:
            await asyncio.sleep(1.0)
            if all(t.done() for t in tasks):
                return
            if server.mode == "hub":
                ready = sum(1 for i in range(n) if server.kernels(i))
                if ready == n and not kernels_before:
                    kernels_before.update({i: {k.pid for k in server.kernels(i)} for i in range(n)})
                    await asyncio.sleep(0.8 * seconds)
                    break
            elif len(server.kernels()) >= n:
                await asyncio.sleep(0.8 * seconds)
                break
        if server.mode == "hub":
            per = [rss(server.processes(i)) for i in range(n)]
            total = sum(per)
        else:
            procs = server.server_processes()
            kernels = server.kernels()
            total = rss(procs)
            server_rss = total - rss(kernels)
            per = [rss([k]) + server_rss / n for k in kernels]
        kernels = [k for i in range(n) for k in server.kernels(i)] if server.mode == "hub" else server.kernels()
        kernel_cpu = []
        for k in kernels:
            try:
                times = k.cpu_times()
                kernel_cpu.append((times.user + times.system) / (time.time() - k.create_time()))
            except psutil.Error:
                pass
        memory.update(kernel_core_share=kernel_cpu)
        memory.update(rss_per_student_mb=[x / 2**20 for x in per], rss_total_mb=total / 2**20,
                      machine_used_mb=(psutil.virtual_memory().total - psutil.virtual_memory().available) / 2**20)

    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(*tasks)
    await sampler
    return [*results, memory]


def summary(report: dict) -> dict:
    per = report["per_student"]
    ok = [r for r in per if not r["error"]]
    lat = [x for r in ok for x in r["latency_ms"]]
    tti = [r["interactive_s"] for r in per if r["interactive_s"] is not None]
    rps = [r["redraws_per_s"] for r in ok if r["redraws_per_s"] is not None]
    mem = report.get("rss_per_student_mb") or [0]
    return {
        "N": report["students"], "failed": len(per) - len(ok),
        "tti_max_s": max(tti) if tti else None, "tti_median_s": statistics.median(tti) if tti else None,
        "redraws_min_per_s": min(rps) if rps else None, "redraws_median_per_s": statistics.median(rps) if rps else None,
        "redraw_gap_max_s": max((r["redraw_gap_max_s"] for r in ok if r.get("redraw_gap_max_s") is not None), default=None),
        "latency_p50_ms": percentile(lat, 0.5), "latency_p95_ms": percentile(lat, 0.95),
        "page_busy_max": max((r["page_busy"] for r in ok if r.get("page_busy") is not None), default=None),
        "epochs_min": min((r["epochs"] for r in ok), default=None), "epochs_max": max((r["epochs"] for r in ok), default=None),
        "mem_per_student_mb": statistics.median(mem), "mem_total_mb": report.get("rss_total_mb"),
        "cpu_percent": report.get("cpu_percent"), "load_avg_1m": report["load_avg"][0],
        "cores_server": report.get("cores_used", {}).get("server"), "cores_browser": report.get("cores_used", {}).get("browser"),
        "cores_others": report.get("cores_used", {}).get("others"),
        "kernel_core_share_median": statistics.median(report["kernel_core_share"]) if report.get("kernel_core_share") else None,
    }


COLUMNS = [("N", "{:>3}"), ("failed", "{:>6}"), ("tti_median_s", "{:>8.1f}"), ("tti_max_s", "{:>7.1f}"),
           ("redraws_median_per_s", "{:>9.2f}"), ("redraws_min_per_s", "{:>8.2f}"), ("redraw_gap_max_s", "{:>7.1f}"), ("latency_p50_ms", "{:>8.0f}"),
           ("latency_p95_ms", "{:>8.0f}"), ("page_busy_max", "{:>5.2f}"), ("epochs_min", "{:>5}"), ("epochs_max", "{:>5}"),
           ("mem_per_student_mb", "{:>8.0f}"), ("mem_total_mb", "{:>8.0f}"), ("cpu_percent", "{:>5.0f}"),
           ("load_avg_1m", "{:>6.1f}"), ("cores_server", "{:>5.2f}"), ("cores_browser", "{:>5.2f}"),
           ("cores_others", "{:>5.2f}"), ("kernel_core_share_median", "{:>6.3f}")]
HEADER = ("  N failed  tti_med tti_max redraw/s rdr_min gap_max   lat50   lat95  busy ep_lo ep_hi MB/stud MB_total  cpu%  load1"
          " c_hub c_brw c_oth k_core")


def table(rows) -> str:
    lines = [HEADER]
    for row in rows:
        cells = []
        for key, fmt in COLUMNS:
            value = row.get(key)
            width = int(re.search(r"(\d+)", fmt).group(1))
            cells.append(" " * (width - 1) + "-" if value is None else fmt.format(value))
        lines.append(" ".join(cells))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", default="1,5,10,20,30", help="N, or a comma list of N (default 1,5,10,20,30)")
    parser.add_argument("--seconds", type=float, default=60.0, help="training time per classroom (default 60)")
    parser.add_argument("--period", type=float, default=3.0, help="seconds between control moves (default 3)")
    parser.add_argument("--mode", choices=("hub", "voila"), default="hub")
    parser.add_argument("--drill", default="", help="comma list of kill, restart, password (hub mode)")
    parser.add_argument("--json", type=Path, default=ROOT / "test-artifacts" / "classroom.json")
    args = parser.parse_args(argv)
    try:
        sizes = [int(x) for x in args.students.split(",")]
    except ValueError:
        parser.error(f"--students: {args.students!r} is not N or a comma list like 1,5,10")
    if any(n < 1 or n > 40 for n in sizes):
        parser.error("--students: between 1 and 40 per classroom (bounded load on this machine)")
    if not 5 <= args.seconds <= 600:
        parser.error("--seconds: between 5 and 600")
    drills = {d for d in args.drill.split(",") if d}
    if drills - {"kill", "restart", "password"}:
        parser.error(f"--drill: unknown {sorted(drills - {'kill', 'restart', 'password'})}")
    if drills and args.mode != "hub":
        parser.error("--drill needs --mode hub (each student's kernel is found by their account)")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: apt-get install chromium")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    print(f"classroom: mode {args.mode}, {args.seconds:.0f} s each, {os.cpu_count()} cores, "
          f"load before {os.getloadavg()[0]:.1f} (other users of this machine count too)", flush=True)
    reports, rows = [], []
    for n in sizes:
        server = (Hub if args.mode == "hub" else Voila)(args.json.parent)  # a fresh server per classroom
        try:
            report = asyncio.run(classroom(server, n, args.seconds, args.period, drills))
        finally:
            server.close()
        reports.append(report)
        rows.append(summary(report))
        print(table(rows[-1:]).splitlines()[-1] if len(rows) > 1 else table(rows), flush=True)
        for key in ("kill_drill", "restart_drill", "wrong_password_message"):
            if key in report:
                print(f"  {key}: {json.dumps(report[key])}", flush=True)
        errors = [f"student {r['student']}: {r['error']}" for r in report["per_student"] if r["error"]]
        for e in errors[:5]:
            print("  " + e)
        args.json.write_text(json.dumps({"summary": rows, "runs": reports}, indent=1, default=str))
    print()
    print(table(rows))
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
