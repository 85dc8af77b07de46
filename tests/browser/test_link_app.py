"""Shareable links in a real browser (issue 12): change controls, read the link the page shows,
open it in a fresh browser context, and find the same dashboard -- the same control values and
the same readouts of the same untrained network. A bad link shows a one-line notice and an
otherwise working page. The link's first part must be the address the browser itself shows
(Voilà's request variables, read by the kernel: widgets/share_link.py)."""

import re

import pytest

from conftest import PAGE_RENDER_TIMEOUT
from dashboards import SCREENS, UPDATE_TIMEOUT, wait_until

LINK = ".ttfs-link_url input"
NOTICE = ".ttfs-link-notice"
HW_READOUT = ".ttfs-hw-readout"
MAP_READOUT = ".ttfs-map-readout"
CHIP_READOUT = ".ttfs-chip-readout"
NEURON_READOUT = ".ttfs-readout"
MENUS = ["lr", "epochs", "batch_size", "hidden", "seed"]
SPIKED = re.compile(r"sample \d+ \(class \w+\): \d+ of \d+ neurons spiked")  # the raster's readout
SECONDS = re.compile(r"\d+(\.\d+)? (s|ms)\b")  # how long a computation took: not part of the state


def fresh_page(browser, url, ready, viewport=SCREENS[1], permissions=()):
    """A page in a new browser context (no cookies, no storage: another student's browser)."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    if permissions:
        context.grant_permissions(list(permissions), origin=re.match(r"https?://[^/]+", url).group(0))
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, timeout=PAGE_RENDER_TIMEOUT)  # a fresh kernel when the warm pool is used up
    page.wait_for_selector(ready, timeout=180_000)
    page.errors = errors
    return context, page


def link_of(page):
    return page.input_value(LINK)


def wait_for_link(page, *parts):
    wait_until(page, "([sel, parts]) => { const v = document.querySelector(sel)?.value || '';"
                     " return parts.every(p => v.includes(p)); }", arg=[LINK, list(parts)])
    return link_of(page)


def settled(page, selector):
    """The element's text once nothing is being computed, without the timings."""
    wait_until(page, "sel => { const e = document.querySelector(sel); return e && e.innerText.includes('%')"
                     " && !e.innerText.includes('computing'); }", arg=selector)
    return SECONDS.sub("…", page.inner_text(selector))


def menu_text(page, name):
    return page.eval_on_selector(f".ttfs-{name} select", "s => s.options[s.selectedIndex].text")


def playground_shown(page):
    """What a student sees of the lesson's state on the playground."""
    return {
        "menus": {name: menu_text(page, name) for name in MENUS},
        "preset": menu_text(page, "hw_preset"),
        "switches": page.eval_on_selector_all(".ttfs-column-controls input[type=checkbox]",
                                              "els => els.map(e => e.checked)"),
        "chip": page.input_value(".ttfs-hw_chip input"),
        "split": page.inner_text(".ttfs-split .mod-active"),
        "hardware accuracy": settled(page, HW_READOUT),
        "map accuracy": settled(page, MAP_READOUT),
        "chip mapping": page.inner_text(CHIP_READOUT),
        "selected sample's spikes": SPIKED.search(page.inner_text(".ttfs-column-raster")).group(0),
    }


@pytest.fixture(scope="module")
def contexts():
    opened = []
    yield opened
    for c in opened:
        c.close()


def open_fresh(browser, contexts, url, ready, **kwargs):
    context, page = fresh_page(browser, url, ready, **kwargs)
    contexts.append(context)
    return page


def test_a_playground_link_opens_the_same_dashboard_in_a_new_browser(voila_url, browser, contexts, artifacts):
    url = f"{voila_url}/voila/render/playground.ipynb"
    page = open_fresh(browser, contexts, url, LINK, permissions=["clipboard-read", "clipboard-write"])
    # The link's first part is the page's own address, as the browser shows it.
    assert link_of(page).startswith(page.url.split("?")[0] + "?")
    page.select_option(".ttfs-lr select", label="0.02")
    page.select_option(".ttfs-epochs select", label="50")
    page.select_option(".ttfs-batch_size select", label="50")
    page.select_option(".ttfs-hidden select", label="60")
    page.select_option(".ttfs-seed select", label="3")
    page.click(".ttfs-hw_threshold_mismatch input[type=checkbox]")
    page.click(".ttfs-hw_dead_neurons input[type=checkbox]")
    page.fill(".ttfs-hw_chip input", "2")
    page.press(".ttfs-hw_chip input", "Enter")
    page.click(".ttfs-split button:has-text('train')")
    wait_for_link(page, "split=train")
    # Click a training point on the map (its 18th dot): that sample is selected.
    page.locator(".ttfs-decision-figure .dot >> nth=17").dispatch_event("click")
    link = wait_for_link(page, "lr=0.02", "epochs=50", "batch=50", "hidden=60", "seed=3", "hw=custom",
                         "dist=threshold_mismatch:0.08,dead_neurons:0.05", "chip=2", "split=train", "sample=17")
    wait_until(page, "document.querySelector('.ttfs-column-raster').innerText.includes('sample 17 ')")
    before = playground_shown(page)
    assert before["menus"] == {"lr": "0.02", "epochs": "50", "batch_size": "50", "hidden": "60", "seed": "3"}
    # "Copy link": the page's script puts the field's text on the clipboard.
    page.click(".ttfs-copy_link")
    assert page.evaluate("navigator.clipboard.readText()") == link
    page.screenshot(path=str(artifacts / "link-made.png"), full_page=True)

    other = open_fresh(browser, contexts, link, LINK)
    wait_until(other, "([sel, want]) => document.querySelector(sel)?.value === want", arg=[LINK, link])
    after = playground_shown(other)
    other.screenshot(path=str(artifacts / "link-opened.png"), full_page=True)
    assert after == before
    assert other.inner_text(NOTICE).strip() == ""
    assert page.errors == [] and other.errors == []


def test_a_bad_link_shows_a_notice_and_a_working_page(voila_url, browser, contexts, artifacts):
    bad = "lr=nan&hidden=-5&epochs=1e999&hw=nonsense&seed=2&frob=%ff&batch=25&sample=99999"
    page = open_fresh(browser, contexts, f"{voila_url}/voila/render/playground.ipynb?{bad}", LINK)
    wait_until(page, f"document.querySelector('{NOTICE}')?.innerText.includes('left at the defaults')")
    notice = page.inner_text(NOTICE)
    names = notice.split("left at the defaults: ")[1].split(".")[0]
    assert names == "lr, hidden, epochs, hw, frob, sample", notice
    page.screenshot(path=str(artifacts / "link-bad.png"), full_page=True)
    for key in ("lr", "hidden", "epochs", "hw", "frob", "sample"):
        assert key in notice, (key, notice)
    box = page.eval_on_selector(NOTICE, "e => e.getBoundingClientRect().height")
    assert 0 < box < 40, "the notice is one line"
    # The good keys applied, the bad ones at the dashboard's defaults.
    assert menu_text(page, "seed") == "2" and menu_text(page, "batch_size") == "25"
    assert menu_text(page, "lr") == "0.005" and menu_text(page, "hidden") == "120"
    assert menu_text(page, "epochs") == "300" and menu_text(page, "hw_preset") == "ideal"
    # ... and the page works: the figures are there, a training step runs.
    assert page.locator(".ttfs-decision-figure svg").count() >= 1
    settled(page, HW_READOUT)
    page.click(".ttfs-step")
    wait_until(page, "document.querySelector('.ttfs-training-readout').innerText.includes('batch 1')")
    assert "Traceback" not in page.inner_text("body")
    assert page.errors == []
    assert_small_things_right(page, "playground", artifacts)


def neuron_shown(page):
    def slider(cls):
        return page.inner_text(f".{cls} .widget-readout").replace("\u2212", "-")

    n = 0
    while page.locator(f".ttfs-t{n}").count():
        n += 1
    delays_on = page.is_checked(".ttfs-delays input")
    return {
        "times": [slider(f"ttfs-t{i}") for i in range(n)],
        "weights": [slider(f"ttfs-w{i}") for i in range(n)],
        "ratio": menu_text(page, "ratio"),
        "delays on": delays_on,
        # hidden while delays are off (inner_text of a hidden slider is "")
        "delays": [slider(f"ttfs-d{i}") for i in range(n)] if delays_on else [],
        "readout": page.inner_text(NEURON_READOUT),
    }


def test_a_neuron_link_restores_its_inputs(voila_url, browser, contexts, artifacts):
    page = open_fresh(browser, contexts, f"{voila_url}/voila/render/neuron.ipynb", f"{NEURON_READOUT} b")
    default_link = link_of(page)
    page.select_option(".ttfs-ratio select", label="2 (τm = 2τs)")
    page.locator(".ttfs-t1 .noUi-handle").press("PageUp")  # 5 steps of 0.01
    page.locator(".ttfs-w3 .noUi-handle").press("End")  # the slider's maximum, 3
    page.locator(".ttfs-w0 .noUi-handle").press("ArrowDown")
    wait_until(page, "([sel, old]) => { const v = document.querySelector(sel).value; return v.includes('tau=2')"
                     " && v.includes(',3&d=') && !v.includes('t=0.3,0.7,') && !v.includes('w=2,'); }",
               arg=[LINK, default_link])
    link = link_of(page)
    before = neuron_shown(page)
    assert before["times"][1] == "0.75" and before["weights"][0] == "1.99" and before["weights"][3] == "3.00"

    other = open_fresh(browser, contexts, link, f"{NEURON_READOUT} b")
    wait_until(other, "([sel, want]) => document.querySelector(sel)?.value === want", arg=[LINK, link])
    after = neuron_shown(other)
    other.screenshot(path=str(artifacts / "link-neuron-opened.png"), full_page=True)
    assert after == before
    assert page.errors == [] and other.errors == []
    assert_small_things_right(other, "neuron", artifacts)


def test_a_neuron_link_with_delays_opens_the_same_delays_in_a_new_browser(voila_url, browser, contexts, artifacts):
    """Delays on, a delay and a time moved, "Copy link": a fresh browser context opened on the
    copied link shows the switch on, the same delay sliders, the arrivals and the spike time.
    Every wait is bounded (UPDATE_TIMEOUT): each one names the element or the link it waits for."""
    page = open_fresh(browser, contexts, f"{voila_url}/voila/render/neuron.ipynb", f"{NEURON_READOUT} b",
                      permissions=["clipboard-read", "clipboard-write"])
    assert "&d=" in link_of(page) and not link_of(page).split("&d=")[1]  # no delays by default
    page.check(".ttfs-delays input")
    # the delay sliders appear once the kernel has answered the switch (a hidden slider takes no keys)
    page.wait_for_selector(".ttfs-d1 .noUi-handle", state="visible", timeout=UPDATE_TIMEOUT)
    page.locator(".ttfs-d1 .noUi-handle").press("PageUp")  # 5 steps of 0.01
    page.locator(".ttfs-d1 .noUi-handle").press("PageUp")
    page.locator(".ttfs-d3 .noUi-handle").press("ArrowUp")
    page.locator(".ttfs-t0 .noUi-handle").press("ArrowUp")
    link = wait_for_link(page, "d=0,0.1,0,0.01", "t=0.31,")
    before = neuron_shown(page)
    assert before["delays on"] and before["delays"] == ["0.00", "0.10", "0.00", "0.01"], before
    assert before["times"][0] == "0.31"
    page.click(".ttfs-copy_link")
    assert page.evaluate("navigator.clipboard.readText()") == link

    other = open_fresh(browser, contexts, link, f"{NEURON_READOUT} b")
    wait_until(other, "([sel, want]) => document.querySelector(sel)?.value === want", arg=[LINK, link])
    other.wait_for_selector(".ttfs-d1 .noUi-handle", state="visible", timeout=UPDATE_TIMEOUT)
    after = neuron_shown(other)
    other.screenshot(path=str(artifacts / "link-neuron-delays-opened.png"), full_page=True)
    assert after == before
    assert other.is_visible(".ttfs-delay-gradient")  # the dT/dd chart is shown with delays on
    assert other.inner_text(NOTICE).strip() == ""
    assert page.errors == [] and other.errors == []


def test_a_chip_link_sets_the_chip_and_names_what_it_cannot_change(voila_url, browser, contexts, artifacts):
    # seed and hidden would replace the chip dashboard's trained network: named, not applied.
    page = open_fresh(browser, contexts, f"{voila_url}/voila/render/chip.ipynb?chip=1&lr=0.001&seed=3",
                      ".ttfs-chip-figure svg")
    wait_until(page, f"document.querySelector('{NOTICE}')?.innerText.includes('seed')")
    assert "not a setting of this dashboard" in page.inner_text(NOTICE)
    assert page.input_value(".ttfs-hw_chip input") == "1" and menu_text(page, "lr") == "0.001"
    wait_for_link(page, "chip=1", "lr=0.001", "hw=bss2", "emu=1", "loop=1")
    assert "seed=" not in link_of(page)
    assert page.errors == []
    assert_small_things_right(page, "chip", artifacts)


def assert_small_things_right(page, app, artifacts):
    """The screenshots' small things: a figure title drawn into the plot (the neuron's dT/dw over
    its bars), a control label cut short ("learning r...")."""
    for size in SCREENS:
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.wait_for_timeout(1500)  # bqplot redraws after a resize
        page.screenshot(path=str(artifacts / f"small-things-{app}-{size[0]}x{size[1]}.png"))
        titled = page.evaluate("""() => Array.from(document.querySelectorAll('.bqplot.figure')).flatMap(f => {
            const t = f.querySelector('.mainheading'), plot = f.querySelector('.plotarea_background');
            if (!t || !t.textContent || !plot || f.offsetParent === null) return [];
            const tb = t.getBoundingClientRect(), pb = plot.getBoundingClientRect();
            return [[t.textContent, tb.bottom, pb.top]];
        })""")
        assert len(titled) >= 2, titled  # the check saw the titles (loss, accuracy; dT/dw, dT/dt)
        collisions = [t for t in titled if t[1] > t[2] + 0.5]
        assert collisions == [], (size, collisions)
        cut = page.evaluate("""() => Array.from(document.querySelectorAll('.widget-label'))
            .filter(l => l.offsetParent !== null && l.scrollWidth > l.clientWidth + 1).map(l => l.innerText)""")
        assert cut == [], (size, cut)
