"""Kernels of closed pages do not stay behind (issue 16: ~400 MB each, a class fills the machine).

A Voilà server for one dashboard (neuron.ipynb, the quickest to render) with apps/voila.json:
pages are opened, reloaded and closed in a real browser while the server's kernel processes
are counted. Closing or reloading a page must shut its kernel down (Voilà's beforeunload
request, which needs the _xsrf cookie: ttfs_lab_server), so that the count returns
to the warm pool; a page that vanishes without saying goodbye is culled once idle, while an
idle page that is still open keeps its kernel.
"""
import re
import time

import pytest

from conftest import PAGE_RENDER_TIMEOUT, VoilaServer

NOTEBOOK = "apps/neuron.ipynb"
READY = ".ttfs-readout b"  # the neuron view's first update() has run
POOL = 1  # apps/voila.json: default_pool_size, one notebook served
CYCLES = 10
SHUTDOWN_403 = re.compile(r"403 POST /voila/api/shutdown")


def wait_for_kernels(server, want, timeout):
    deadline = time.monotonic() + timeout
    while (n := server.kernels()) != want and time.monotonic() < deadline:
        time.sleep(0.5)
    return n


def open_dashboard(browser, server):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.goto(server.url + "/")  # one-notebook mode: the dashboard is the root
    page.wait_for_selector(READY, timeout=PAGE_RENDER_TIMEOUT)
    return context, page


@pytest.fixture(scope="module")
def server(artifacts):
    s = VoilaServer(artifacts / "voila-kernels.log", target=NOTEBOOK)
    try:
        assert wait_for_kernels(s, POOL, timeout=120) == POOL, "the warm pool never filled"
        yield s
    finally:
        s.stop()


def test_closed_and_reloaded_pages_give_their_kernels_back(server, browser, artifacts):
    counts = []
    for cycle in range(CYCLES):
        context, page = open_dashboard(browser, server)
        assert page.evaluate("document.cookie").count("_xsrf=") == 1, "no _xsrf cookie: shutdown would be refused"
        if cycle % 2:  # every other cycle the student reloads first (a new kernel, the old one goes)
            page.reload()
            page.wait_for_selector(READY, timeout=PAGE_RENDER_TIMEOUT)
        page.close(run_before_unload=True)  # as a browser tab closes: beforeunload runs
        context.close()
        counts.append(server.kernels())
    # Shutdowns and the pool's refill take a moment; then only the warm pool is left.
    final = wait_for_kernels(server, POOL, timeout=90)
    with open(artifacts / "timings.txt", "a") as f:
        f.write(f"kernels after each of {CYCLES} open/reload/close cycles: {counts}; finally {final}\n")
    print(f"\nkernels after each cycle: {counts}; after the last one settled: {final} (pool {POOL})")
    assert final == POOL
    assert not SHUTDOWN_403.search(server.log()), "Voilà refused a page's shutdown request"


def test_vanished_page_is_culled_but_an_open_idle_page_is_kept(browser, artifacts):
    # Same settings, but culled after 3 s idle (apps/voila.json: 15 min), checked every second.
    s = VoilaServer(artifacts / "voila-cull.log", target=NOTEBOOK,
                    extra_args=["--MappingKernelManager.cull_idle_timeout=3", "--MappingKernelManager.cull_interval=1"])
    try:
        assert wait_for_kernels(s, POOL, timeout=120) == POOL
        kept_context, kept = open_dashboard(browser, s)
        gone_context, gone = open_dashboard(browser, s)
        assert wait_for_kernels(s, POOL + 2, timeout=60) == POOL + 2
        gone.close(run_before_unload=False)  # a crashed tab: no goodbye, its kernel is orphaned
        gone_context.close()
        assert wait_for_kernels(s, POOL + 1, timeout=60) == POOL + 1, "the orphaned kernel was not culled"
        time.sleep(5)  # the open page idles past the cull timeout
        assert s.kernels() == POOL + 1, "the kernel of an open page was culled"
        # ...and still answers: a weight slider changes the spike time.
        before = kept.inner_text(".ttfs-readout")
        kept.locator(".ttfs-w0 .noUi-handle").press("PageUp")
        kept.wait_for_function("([sel, old]) => document.querySelector(sel).innerText !== old",
                               arg=[".ttfs-readout", before], timeout=30_000)
        kept_context.close()
        assert "Culling kernel" in s.log() or "culling kernel" in s.log().lower()
    finally:
        s.stop()
