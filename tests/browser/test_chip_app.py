"""apps/chip.ipynb in a real browser: the chip's synapse array renders, the emulated-chip switch
changes the readouts, Play trains with the chip in the loop, and the page stays offline and
free of JavaScript errors."""

import re

import pytest

from dashboards import figure_fingerprint, wait_for_text_change, wait_until

PLAY = "button.ttfs-play"
LOSS_PATH = ".ttfs-loss-figure path.line"
TRAINING = ".ttfs-training-readout"
HW_READOUT = ".ttfs-hw-readout"
CHIP_READOUT = ".ttfs-chip-readout"
ACCURACY = re.compile(r"ideal (\d+\.\d) % · this hardware (\d+\.\d) %")
DONE = (f"document.querySelector('{HW_READOUT}')?.innerText.includes('samples')"
        f" && !document.querySelector('{HW_READOUT}').innerText.includes('computing')")


@pytest.fixture(scope="module")
def chip_app(voila_url, open_page, artifacts):
    rec = open_page(f"{voila_url}/voila/render/chip.ipynb", wait_for=".ttfs-chip-figure svg", viewport=(1400, 2000))
    wait_until(rec.page, DONE)
    with open(artifacts / "timings.txt", "a") as f:
        f.write(f"chip.ipynb first render: {rec.load_seconds:.2f} s\n")
    rec.page.screenshot(path=str(artifacts / "chip-initial.png"), full_page=True)
    return rec


def accuracies(page):
    m = ACCURACY.search(page.inner_text(HW_READOUT))
    assert m, page.inner_text(HW_READOUT)
    return float(m.group(1)), float(m.group(2))


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
    page.click(".ttfs-hw_emulated")  # off: the ideal model, so both accuracies agree
    wait_until(page, f"document.querySelector('{CHIP_READOUT}').innerText.includes('the lab runs the ideal model')")
    wait_for_text_change(page, HW_READOUT, before)
    ideal_off, hardware_off = accuracies(page)
    assert ideal_off == ideal and hardware_off == ideal_off
    page.screenshot(path=str(artifacts / "chip-ideal.png"), full_page=True)
    before = page.inner_text(HW_READOUT)
    page.click(".ttfs-hw_emulated")  # on again, for the in-the-loop training below
    wait_until(page, f"document.querySelector('{CHIP_READOUT}').innerText.includes('running on the emulated chip')")
    wait_for_text_change(page, HW_READOUT, before)
    assert accuracies(page) == (ideal, chip)  # the emulation is deterministic per chip id


def test_play_trains_in_the_loop_and_pause_redraws_the_array(chip_app, artifacts):
    page = chip_app.page
    array_before = figure_fingerprint(page, ".ttfs-chip-figure")
    page.click(PLAY)
    wait_until(page, f"(document.querySelector('{LOSS_PATH}')?.getAttribute('d') || '').split('L').length >= 2")
    page.click(".ttfs-pause")
    wait_until(page, f"document.querySelector('{TRAINING}').innerText.startsWith('paused')")
    # After the pause the synapse array is redrawn from the fine-tuned 6-bit weights.
    wait_until(page, "([sel, old]) => window.__ttfsFingerprint(sel) !== old", arg=[".ttfs-chip-figure", array_before])
    wait_until(page, DONE)
    page.screenshot(path=str(artifacts / "chip-trained.png"), full_page=True)


def test_no_console_errors_and_no_foreign_requests(chip_app):
    assert chip_app.console_errors == []
    assert chip_app.foreign_requests() == []
    assert any("/voila/render/chip.ipynb" in u for u in chip_app.requests)
