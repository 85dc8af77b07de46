"""apps/chip.ipynb in a real browser: it opens where the chip visibly hurts (its accuracy well
below the ideal model's), the map shows the network as the chip runs it, Play trains with the
chip in the loop and the chip's accuracy rises, Reset returns to the trained start; controls,
map and curves fit one screen; the page stays offline and free of JavaScript errors."""

import re

import pytest

from dashboards import SCREENS, figure_fingerprint, on_screen_report, wait_for_text_change, wait_until
from ttfs_lab.widgets.hardware_panel import KNOBS

PLAY = "button.ttfs-play"
LOSS_PATH = ".ttfs-loss-figure path.line"
TRAINING = ".ttfs-training-readout"
HW_READOUT = ".ttfs-hw-readout"
CHIP_READOUT = ".ttfs-chip-readout"
ACCURACY = re.compile(r"ideal (\d+\.\d) % · this hardware (\d+\.\d) %")
MAP_READOUT = ".ttfs-map-readout"
EPOCHS = re.compile(r"epoch (\d+) / ")
ONE_SCREEN = [".ttfs-decision-figure", ".ttfs-play", ".ttfs-pause", ".ttfs-step", ".ttfs-reset", ".ttfs-lr",
              ".ttfs-epochs", ".ttfs-hw_preset", ".ttfs-hw_emulated", ".ttfs-hw_chip",
              *[f".ttfs-hw_{name}" for name in KNOBS], ".ttfs-loss-figure", ".ttfs-accuracy-figure", TRAINING, HW_READOUT]
DONE = (f"document.querySelector('{HW_READOUT}')?.innerText.includes('samples')"
        f" && !document.querySelector('{HW_READOUT}').innerText.includes('computing')")


@pytest.fixture(scope="module")
def chip_app(voila_url, open_page, artifacts):
    rec = open_page(f"{voila_url}/voila/render/chip.ipynb", wait_for=".ttfs-chip-figure svg", viewport=SCREENS[0])
    wait_until(rec.page, DONE)
    with open(artifacts / "timings.txt", "a") as f:
        f.write(f"chip.ipynb first render: {rec.load_seconds:.2f} s\n")
    rec.page.screenshot(path=str(artifacts / "chip-initial.png"))
    return rec


def accuracies(page):
    m = ACCURACY.search(page.inner_text(HW_READOUT))
    assert m, page.inner_text(HW_READOUT)
    return float(m.group(1)), float(m.group(2))


@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_controls_map_switches_and_curves_fit_one_screen(chip_app, artifacts, size):
    problems = on_screen_report(chip_app.page, ONE_SCREEN, size, artifacts / f"chip-{size[0]}x{size[1]}.png")
    assert problems == {}


def test_opens_where_the_chip_visibly_hurts(chip_app):
    ideal, chip = accuracies(chip_app.page)
    assert chip <= ideal - 5.0, (ideal, chip)  # 97.0 % vs ~85 % on chip 0
    # The map is the network as the chip runs it: its accuracy is the chip's.
    text = chip_app.page.inner_text(MAP_READOUT)
    assert "under the lab's hardware" in text
    assert abs(float(re.search(r"(\d+\.\d) %", text).group(1)) - chip) < 3.0, (text, chip)


def test_page_renders_chip_panels_and_play(chip_app):
    page = chip_app.page
    for name in ("chip", "loss", "accuracy"):
        assert page.locator(f".ttfs-{name}-figure svg").count() >= 1, name
    assert "BrainScaleS-2" in page.inner_text("h1")
    text = page.inner_text(CHIP_READOUT)
    assert "running on the emulated chip" in text
    # The paper network 4-120-3 takes 120 + 3 circuits with one circuit per neuron.
    assert "neuron circuits in use: 123 / 512" in text
    assert re.search(r"\d+ µs hardware time, \d+\.\d+ µJ", text)
    assert page.inner_text(PLAY).strip() == "Play"


def test_emulated_chip_switch_changes_the_readouts(chip_app, artifacts):
    page = chip_app.page
    ideal, chip = accuracies(page)
    before = page.inner_text(HW_READOUT)
    assert "emulated BrainScaleS-2: on" in page.inner_text(".ttfs-hw_emulated")  # the on state is visible
    page.click(".ttfs-hw_emulated")  # off: the preset's distortions on the model, without the chip
    wait_until(page, f"document.querySelector('{CHIP_READOUT}').innerText.includes('without the chip')")
    wait_for_text_change(page, HW_READOUT, before)
    wait_until(page, DONE)
    ideal_off, hardware_off = accuracies(page)
    assert ideal_off == ideal and hardware_off != chip
    assert "emulated BrainScaleS-2: off" in page.inner_text(".ttfs-hw_emulated")
    page.screenshot(path=str(artifacts / "chip-off.png"))
    before = page.inner_text(HW_READOUT)
    page.click(".ttfs-hw_emulated")  # on again, for the in-the-loop training below
    wait_until(page, f"document.querySelector('{CHIP_READOUT}').innerText.includes('running on the emulated chip')")
    wait_for_text_change(page, HW_READOUT, before)
    wait_until(page, DONE)
    # Chip 0's fixed pattern comes back; the preset's trial-to-trial noise (threshold noise 4 %,
    # jitter 0.01 tau_s) is redrawn every run: measured 84.3-85.3 % over runs of these 300 samples.
    ideal_on, chip_on = accuracies(page)
    assert ideal_on == ideal and chip_on <= ideal - 5.0 and abs(chip_on - chip) <= 3.0, (chip, chip_on)


def test_play_trains_in_the_loop_and_the_chip_accuracy_rises(chip_app, artifacts):
    page = chip_app.page
    ideal_start, chip_start = accuracies(page)
    array_before = figure_fingerprint(page, ".ttfs-chip-figure")
    page.click(PLAY)
    # Two epochs in the loop (14 batches of 150 of the 1,000 training samples): measured
    # 85 % -> 91 % on chip 0 (widgets.dashboards.chip).
    wait_until(page, f"parseInt((document.querySelector('{TRAINING}').innerText.match(/epoch (\\d+) \\//) || [0, 0])[1]) >= 2",
               timeout=240_000)
    page.click(".ttfs-pause")
    wait_until(page, f"document.querySelector('{TRAINING}').innerText.startsWith('paused')")
    # After the pause the synapse array is redrawn from the fine-tuned 6-bit weights.
    wait_until(page, "([sel, old]) => window.__ttfsFingerprint(sel) !== old", arg=[".ttfs-chip-figure", array_before])
    wait_until(page, DONE)
    _, chip_trained = accuracies(page)
    page.screenshot(path=str(artifacts / "chip-trained.png"))
    assert chip_trained >= chip_start + 3.0, (chip_start, chip_trained)


def test_reset_returns_to_the_trained_start_without_stale_messages(chip_app, artifacts):
    page = chip_app.page
    before = page.inner_text(HW_READOUT)
    page.click(".ttfs-reset")
    wait_until(page, f"document.querySelector('{TRAINING}').innerText.startsWith('idle')")
    wait_for_text_change(page, HW_READOUT, before)
    wait_until(page, DONE)
    ideal, chip = accuracies(page)
    assert ideal == 97.0 and chip <= ideal - 5.0  # the pre-trained network, not a random one
    assert int(EPOCHS.search(page.inner_text(TRAINING)).group(1)) == 0
    errors = page.locator(".ttfs-status .ttfs-error")
    assert errors.count() == 0 or not any(t.strip() for t in errors.all_inner_texts()), errors.all_inner_texts()
    page.screenshot(path=str(artifacts / "chip-reset.png"))


def test_no_console_errors_and_no_foreign_requests(chip_app):
    assert chip_app.console_errors == []
    assert chip_app.version_warnings == []  # the served front ends match Voilà's JupyterLab core
    assert chip_app.foreign_requests() == []
    assert any("/voila/render/chip.ipynb" in u for u in chip_app.requests)
