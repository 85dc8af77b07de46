"""apps/neuron.ipynb in a real browser: it renders, reacts to its sliders, stays offline.

The numbers the page shows are checked against ttfs_lab.first_spike_times evaluated here, in
the test process, on the values the sliders display; so a slider wired to the wrong input, a
stale readout or a figure that is never redrawn all fail.
"""

import math
import re

import pytest
import torch

from dashboards import SCREENS, on_screen_report

from ttfs_lab import NeuronParams, first_spike_times

N_INPUTS = 4
POTENTIAL_PATH = ".ttfs-potential-figure path.line"  # the potential is the figure's first mark
READOUT = ".ttfs-readout"
# The output-spike diamond: the last of the figure's two scatter marks.
SPIKE_MARKER = ".ttfs-potential-figure .object_grp >> nth=-1"
# A kernel round trip takes well under a second; CI shares 2 cores with a kernel being preheated.
UPDATE_TIMEOUT = 30_000  # ms
SPIKE_TIME = re.compile(r"spike time T = (-?\d+\.\d{3})")


@pytest.fixture(scope="module")
def neuron(voila_url, open_page, artifacts):
    rec = open_page(f"{voila_url}/voila/render/neuron.ipynb", wait_for=POTENTIAL_PATH, viewport=SCREENS[0])
    rec.page.wait_for_selector(f"{READOUT} b")  # first update() has run
    with open(artifacts / "timings.txt", "a") as f:
        f.write(f"neuron.ipynb first render: {rec.load_seconds:.2f} s\n")
    print(f"\nneuron.ipynb: first render took {rec.load_seconds:.2f} s")
    rec.page.screenshot(path=str(artifacts / "neuron-initial.png"), full_page=True)
    return rec


def slider_value(page, cls):
    # The slider's own readout text, as the user sees it (uses U+2212 for minus signs).
    text = page.inner_text(f".{cls} .widget-readout").replace("\u2212", "-")
    return float(text)


def shown_state(page):
    times = [slider_value(page, f"ttfs-t{i}") for i in range(N_INPUTS)]
    weights = [slider_value(page, f"ttfs-w{i}") for i in range(N_INPUTS)]
    # Option labels start with the ratio tau_m / tau_s: "1 (τm = τs)", "1.5 (general)".
    label = page.eval_on_selector(".ttfs-ratio select", "s => s.options[s.selectedIndex].text")
    return times, weights, float(label.split()[0])


def expected_time(times, weights, tau_m):
    T = first_spike_times(torch.tensor([times], dtype=torch.float64),
                          torch.tensor(weights, dtype=torch.float64)[:, None],
                          NeuronParams(tau_m=tau_m, tau_s=1.0))
    return float(T[0, 0])


def readout_time(page):
    text = page.inner_text(READOUT)
    if text.strip() == "no spike":
        return math.inf
    m = SPIKE_TIME.search(text)
    assert m, f"unexpected readout {text!r}"
    return float(m.group(1))


def wait_for_readout_of_shown_state(page):
    """Wait until the readout shows the core's spike time for what the widgets show now.

    Several key presses each send an update to the kernel; the readout may pass through
    intermediate values, so waiting for "any change" is not enough.
    """
    times, weights, tau_m = shown_state(page)
    T = expected_time(times, weights, tau_m)
    want = "no spike" if math.isinf(T) else f"spike time T = {T:.3f}"
    page.wait_for_function("([sel, want]) => document.querySelector(sel).innerText.includes(want)",
                           arg=[READOUT, want], timeout=UPDATE_TIMEOUT)
    return T


def wait_for_change(page, selector, old, attr=None):
    """Wait until the element's text (or attribute) differs from `old`; return the new value."""
    js = ("([sel, old, attr]) => { const e = document.querySelector(sel);"
          " const v = attr ? e.getAttribute(attr) : e.innerText; return v !== old; }")
    page.wait_for_function(js, arg=[selector, old, attr], timeout=UPDATE_TIMEOUT)
    el = page.locator(selector).first
    return el.get_attribute(attr) if attr else el.inner_text()


@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_figures_sliders_and_readout_fit_one_screen(neuron, artifacts, size):
    sliders = [f".ttfs-{kind}{i}" for kind in "tw" for i in range(N_INPUTS)]
    problems = on_screen_report(neuron.page, [".ttfs-potential-figure", ".ttfs-gradient-figure", ".ttfs-ratio",
                                              *sliders, READOUT], size, artifacts / f"neuron-{size[0]}x{size[1]}.png")
    assert problems == {}


def test_page_renders_figure_sliders_and_readout(neuron):
    page = neuron.page
    assert page.locator(".ttfs-potential-figure svg").count() >= 1
    assert page.locator(POTENTIAL_PATH).first.get_attribute("d").startswith("M")
    for kind in "tw":
        for i in range(N_INPUTS):
            assert page.locator(f".ttfs-{kind}{i} .noUi-handle").count() == 1, f"slider {kind}{i}"
    assert "One neuron" in page.inner_text("h1")


def test_defaults_fire_and_readout_matches_core(neuron):
    times, weights, tau_m = shown_state(neuron.page)
    assert tau_m == 1.0
    T = expected_time(times, weights, tau_m)
    assert math.isfinite(T), "the default inputs are meant to make the neuron spike"
    assert readout_time(neuron.page) == pytest.approx(T, abs=5e-4)  # shown with 3 decimals
    assert neuron.page.locator(SPIKE_MARKER).is_visible()


def test_weight_slider_redraws_potential_and_moves_spike(neuron, artifacts):
    page = neuron.page
    path_before = page.locator(POTENTIAL_PATH).first.get_attribute("d")
    readout_before = page.inner_text(READOUT)
    T_before = readout_time(page)
    w0_before = slider_value(page, "ttfs-w0")

    handle = page.locator(".ttfs-w0 .noUi-handle")
    handle.focus()
    for _ in range(3):
        handle.press("PageUp")  # 5 steps of 0.01 each
    assert slider_value(page, "ttfs-w0") == pytest.approx(w0_before + 0.15, abs=1e-9)
    T_expected = wait_for_readout_of_shown_state(page)
    path_after = page.locator(POTENTIAL_PATH).first.get_attribute("d")

    assert path_after != path_before
    assert page.inner_text(READOUT) != readout_before
    # Input 1 is in the causal set: more excitation there means an earlier spike.
    T_after = readout_time(page)
    assert T_after < T_before
    assert T_after == pytest.approx(T_expected, abs=5e-4)
    page.screenshot(path=str(artifacts / "neuron-after-w1.png"), full_page=True)


def test_ratio_dropdown_switches_regime(neuron, artifacts):
    page = neuron.page
    for label, tau_m in [("2 (τm = 2τs)", 2.0), ("1.5 (general)", 1.5), ("1 (τm = τs)", 1.0)]:
        page.select_option(".ttfs-ratio select", label=label)
        assert shown_state(page)[2] == tau_m
        T = wait_for_readout_of_shown_state(page)
        assert math.isfinite(T)
        assert readout_time(page) == pytest.approx(T, abs=5e-4), label
        if tau_m == 1.5:
            page.screenshot(path=str(artifacts / "neuron-general.png"), full_page=True)


def test_delay_switch_and_slider_move_the_arrival_and_the_spike(neuron, artifacts):
    page = neuron.page
    page.check(".ttfs-delays input")
    page.wait_for_selector(".ttfs-d0 .noUi-handle", state="visible", timeout=UPDATE_TIMEOUT)
    T_before = readout_time(page)
    handle = page.locator(".ttfs-d0 .noUi-handle")
    handle.focus()
    for _ in range(4):
        handle.press("PageUp")
    delays = [slider_value(page, f"ttfs-d{i}") for i in range(N_INPUTS)]
    assert delays[0] > 0 and delays[1:] == [0.0] * (N_INPUTS - 1)
    times, weights, tau_m = shown_state(page)
    T = expected_time([t + d for t, d in zip(times, delays)], weights, tau_m)  # arrivals t + d
    page.wait_for_function("([sel, want]) => document.querySelector(sel).innerText.includes(want)",
                           arg=[READOUT, f"spike time T = {T:.3f}"], timeout=UPDATE_TIMEOUT)
    assert T > T_before  # input 1 drives the first crossing; delaying it delays the spike
    problems = on_screen_report(page, [".ttfs-potential-figure", ".ttfs-gradient-figure", ".ttfs-delay-gradient", ".ttfs-delays",
                                       *[f".ttfs-d{i}" for i in range(N_INPUTS)], READOUT], SCREENS[0],
                                artifacts / "neuron-delays.png")
    assert problems == {}
    page.uncheck(".ttfs-delays input")  # back to the neuron without delays for the tests below
    wait_for_readout_of_shown_state(page)


def test_all_inhibitory_inputs_give_no_spike(neuron, artifacts):
    page = neuron.page
    for i in range(N_INPUTS):
        before = page.inner_text(f".ttfs-w{i} .widget-readout")
        page.locator(f".ttfs-w{i} .noUi-handle").press("Home")  # slider minimum, -3
        wait_for_change(page, f".ttfs-w{i} .widget-readout", before)
    _, weights, _ = shown_state(page)
    assert weights == [-3.0] * N_INPUTS
    assert math.isinf(wait_for_readout_of_shown_state(page))
    assert page.inner_text(READOUT).strip() == "no spike"
    # The output-spike marker (last mark: a diamond) is hidden, not left at the old time.
    assert not page.locator(SPIKE_MARKER).is_visible()
    page.screenshot(path=str(artifacts / "neuron-no-spike.png"), full_page=True)


def test_no_console_errors_and_no_foreign_requests(neuron):
    # Runs last: covers the load and every interaction above.
    assert neuron.console_errors == []
    assert neuron.version_warnings == []  # the served front ends match Voilà's JupyterLab core
    assert neuron.foreign_requests() == []
    assert any("/voila/render/neuron.ipynb" in u for u in neuron.requests)
