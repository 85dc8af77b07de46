"""Fixtures for real-browser tests: a Voilà server on apps/ and Debian's headless Chromium.

Playwright drives /usr/bin/chromium (apt package `chromium`); Playwright's own browser
download is never used (this project runs offline). Without that binary these tests skip.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",  # no update/safe-browsing traffic to foreign hosts
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
SERVER_START_TIMEOUT = 120  # s; a cold start on a loaded 2-core machine takes ~10 s
PAGE_RENDER_TIMEOUT = 120_000  # ms; the kernel imports torch before the first widget shows


def voila_command(port, target="apps", extra_args=()):
    """The same server `make serve` starts: apps/voila.json plus the offline template.
    ``target`` apps/ (every dashboard) or one notebook; ``extra_args`` override settings.
    Paths are absolute: Voilà 0.5.8 hands a relative root to jupyter_core, which refuses it."""
    voila = Path(sys.executable).with_name("voila")
    return [str(voila), f"--Voila.config_file_paths={ROOT / 'apps'}", str(ROOT / target), "--no-browser",
            f"--port={port}", "--Voila.ip=127.0.0.1", *extra_args]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "timings.txt").write_text("")  # page-load times of this session only
    return ARTIFACTS


def _children(pid):
    """Direct child processes of ``pid`` and their command lines (from /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == pid:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue  # the process ended while we looked
    return out


class VoilaServer:
    """A Voilà server on a free port, in its own process group, logging to a file."""

    def __init__(self, log_path, target="apps", extra_args=()):
        if not CHROMIUM.exists():
            pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        env = dict(os.environ, JUPYTER_PATH=str(ROOT / "apps" / "jupyter"))
        self._log = open(self.log_path, "w")
        # Own process group, so the signals below reach Voilà only and not pytest. Kernels run in
        # sessions of their own; Voilà's SIGTERM handler shuts them down before it exits.
        self.proc = subprocess.Popen(voila_command(self.port, target, extra_args), cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self):
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"voila exited with {self.proc.returncode}; see {self.log_path}")
            try:
                # Not "/": in one-notebook mode that renders the dashboard and takes a kernel.
                with urllib.request.urlopen(self.url + "/voila/static/voila.js", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any answer means the server is up
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"voila did not answer on {self.url} within {SERVER_START_TIMEOUT} s")
            time.sleep(0.25)

    def kernels(self) -> int:
        """How many kernels (ipykernel processes) the server runs now, pooled ones included."""
        return sum("ipykernel" in cmd for cmd in _children(self.proc.pid).values())

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def voila_server(artifacts):
    """The dashboards' Voilà server (apps/); killed after the session."""
    server = VoilaServer(artifacts / "voila.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def voila_url(voila_server):
    """Base URL of the session's Voilà server."""
    return voila_server.url


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    # Imported here so that collecting the unit tests never needs playwright.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageRecorder:
    """Everything a page did that a test may want to assert on afterwards."""

    def __init__(self, page):
        self.page = page
        self.console_errors = []
        self.version_warnings = []  # front-end packages built against another JupyterLab core
        self.requests = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("websocket", lambda ws: self.requests.append(ws.url))

    def _on_console(self, msg):
        if msg.type == "error":
            self.console_errors.append(f"console.error: {msg.text} ({msg.location.get('url')})")
        elif msg.type == "warning" and ("Unsatisfied version" in msg.text or "No satisfying version" in msg.text):
            self.version_warnings.append(msg.text)

    def foreign_requests(self):
        """Requests to any host but this machine (data:/blob: URLs never leave the page)."""
        from urllib.parse import urlsplit

        out = []
        for u in self.requests:
            parts = urlsplit(u)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname not in LOCAL_HOSTS:
                out.append(u)
        return out


@pytest.fixture(scope="module")
def open_page(browser):
    """Factory: open a URL in a fresh page (one kernel each) and keep its recorder."""
    contexts = []

    def _open(url, wait_for, viewport=(1100, 900)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        page = context.new_page()
        recorder = PageRecorder(page)
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(wait_for, timeout=PAGE_RENDER_TIMEOUT)
        recorder.load_seconds = time.perf_counter() - t0
        return recorder

    yield _open
    for c in contexts:
        c.close()
