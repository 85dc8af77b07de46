"""HardwarePanel and ChipView, driven headlessly; numbers checked against ttfs_lab.hardware
evaluated here on its own (deterministic distortions only, so results must match exactly)."""
import numpy as np
import pytest
import torch

from ttfs_lab.hardware import (
    BrainScaleS2, Emulator, HardwareModel, InTheLoop, ThresholdMismatch, WeightQuantization, hardware_weights,
)
from ttfs_lab.loss import accuracy
from ttfs_lab.widgets import ChipView, HardwarePanel, LabState, TrainingPanel
from ttfs_lab.widgets.substrate import preset_distortions


def small_state(**kwargs):
    settings = dict(hidden=[12], train_size=120, test_size=60, batch_size=60, epochs=1, seed=5)
    settings.update(kwargs)
    return LabState(**settings)


def error_text(view):
    return view.status.value if "ttfs-error" in view.status.value else ""


def test_switches_set_the_substrate_and_accuracy_matches_an_independent_emulator():
    state = small_state()
    panel = HardwarePanel(state)
    assert panel.wait() and state.substrate is None
    panel.switches["threshold_mismatch"].value = True
    panel.strengths["threshold_mismatch"].value = 0.3
    panel.switches["weight_quantization"].value = True
    panel.strengths["weight_quantization"].value = 0.2
    assert state.hardware["preset"] == "custom"
    assert state.hardware["distortions"] == {"threshold_mismatch": 0.3, "weight_quantization": 0.2}
    assert isinstance(state.substrate, Emulator)
    assert panel.wait()
    _, x, y = state.data("test")
    model = HardwareModel("check", (ThresholdMismatch(0.3, seed=0), WeightQuantization(0.2)))
    expected = accuracy(Emulator(model, seed=0).spike_times(state.network, x)[-1], y)
    ideal = accuracy(state.network(x).detach(), y)
    assert panel.accuracy["hardware"] == expected and panel.accuracy["ideal"] == ideal
    assert panel.accuracy["samples"] == 60 and f"{100 * expected:.1f} %" in panel.readout.value
    # This much quantization does change the network's answers (else the test proves nothing).
    assert not torch.equal(Emulator(model, seed=0).spike_times(state.network, x)[-1], state.network(x))


def test_preset_menu_and_emulated_chip():
    state = small_state()
    panel, chip_view = HardwarePanel(state), ChipView(state)
    panel.preset.value = "bss2"
    assert state.hardware["distortions"] == preset_distortions("bss2")
    assert panel.switches["threshold_noise"].value and panel.strengths["threshold_noise"].value == 0.04
    panel.emulated.value = True
    assert isinstance(state.substrate, BrainScaleS2) and state.substrate.multiplex == 5
    assert "running on the emulated chip" in chip_view.readout.value
    assert "15 / 512" in chip_view.readout.value  # 12 hidden + 3 output circuits
    panel.wait()


def test_chip_view_shows_the_six_bit_weights():
    state = small_state(hidden=[12])
    view = ChipView(state)
    a = view.array
    used = np.isfinite(a).any(axis=0)
    assert used.sum() == 15 and used[:15].all()  # 12 hidden + 3 output circuits, in order
    assert np.nanmax(np.abs(a)) <= 63
    w_hidden, w_out = state.network.weights()
    h = hardware_weights(w_hidden, 5).numpy()  # signed totals over the 5 copies of each input
    # Column j: rows alternate excitatory (+) and inhibitory (-); copies of input i repeat every 10 rows.
    col = a[:, 0]
    assert np.isfinite(col[:50]).all() and np.isnan(col[50:]).all()  # 5 signed inputs x 5 copies x 2 rows
    per_input = col[:50].reshape(5, 5, 2).sum(axis=(0, 2))  # sum copies and both rows
    np.testing.assert_array_equal(per_input, h[:, 0])
    out = hardware_weights(w_out, 1).numpy()
    np.testing.assert_array_equal(a[: 2 * 13, 12].reshape(13, 2).sum(1), out[:, 0])
    assert "15 / 512" in view.readout.value and "µJ" in view.readout.value
    np.testing.assert_array_equal(view.synapses.color, a[:, :15].astype(np.float32))  # circuits in use only


def test_hardware_garbage_and_limits_show_messages():
    state = small_state()
    panel = HardwarePanel(state)
    panel.switches["spike_loss"].value = True
    before = dict(state.hardware)
    panel.strengths["spike_loss"].value = float("nan")
    assert error_text(panel) and state.hardware == before
    panel.strengths["spike_loss"].value = 0.1  # recovers
    assert state.hardware["distortions"]["spike_loss"] == 0.1
    big = small_state(hidden=[600])
    big_panel = HardwarePanel(big)
    big_panel.emulated.value = True  # 600 hidden neurons do not fit on 512 circuits
    assert "does not fit" in error_text(big_panel)
    assert not big.hardware.get("emulated", False) and not big_panel.emulated.value
    panel.emulated.value = True
    panel.wait()
    state.hidden = [12]  # same: fine
    with pytest.raises(ValueError, match="does not fit"):
        state.hidden = [600]
    assert ChipView(big).status.value  # the chip view of a network that does not fit says why
    big_panel.wait()


def test_train_in_the_loop_uses_the_chip():
    state = small_state()
    panel, training = HardwarePanel(state), TrainingPanel(state)
    assert panel.runner is training.runner
    panel.preset.value = "bss2"
    panel.emulated.value = True
    panel.train_button.click()
    assert not error_text(panel), panel.status.value
    panel.runner.join(120)
    assert state.status == "done" and panel.runner.error is None
    assert isinstance(state.trainer.substrate, InTheLoop) and state.trainer.substrate.hardware is state.substrate
    # trained with the in-the-loop adaptations of the configuration (as the command line does)
    config = state.trainer.config
    assert config.loss.xi == 0.1 and config.max_silent_output == 0.1 and config.max_dw_norm is None
    limits = state.substrate.weight_limits(state.network)
    for w, limit in zip(state.network.weights(), limits):
        assert w.abs().max() <= limit + 1e-12
    panel.wait()


def test_train_in_the_loop_of_the_ideal_model_is_refused():
    state = small_state()
    panel = HardwarePanel(state)
    panel.train_button.click()
    assert "first" in error_text(panel) and state.status == "idle"
    panel.wait()


def test_live_chip_map_is_the_chips_own_answer_on_its_grid_and_reads_the_loop_accuracy():
    """Issue 12, chip dashboard: while training in the loop the map shows a training snapshot as
    the chip runs it on the live grid, and its accuracy readout is the chip's own training
    batches (no second pass over the test set)."""
    from ttfs_lab.probe import decisions_from_times, plane_times
    from ttfs_lab.widgets import DecisionMap
    from ttfs_lab.widgets.decision_map import MAP_DTYPE, map_values
    from ttfs_lab.widgets.runner import Snapshot, TrainingRunner

    state = small_state(hardware={"preset": "bss2", "distortions": preset_distortions("bss2"), "emulated": True,
                                  "chip_id": 2, "in_the_loop": True})
    chip = state.substrate
    assert isinstance(chip, BrainScaleS2)
    TrainingRunner.for_state(state).trainer()  # in-the-loop trainer on this chip, as Play builds it
    d = DecisionMap(state, grid_size=12, live_grid_size=8)
    d.under_hardware.value = True
    snapshot = Snapshot.of(state.network, steps=2, epochs=0)
    with torch.no_grad():  # training goes on after the snapshot
        for layer in state.network.layers:
            layer.weight.mul_(0.5)
    # batch accuracies of the record (2 batches of 60 per epoch): the snapshot saw the first two
    state.history = {"step": [1, 2, 3], "loss": [1.0, 0.9, 0.8], "accuracy": [0.5, 0.6, 0.9],
                     "epoch": [1], "epoch_step": [2], "validation_accuracy": [0.55]}
    noise = [g.get_state() for g in chip._rngs]  # the chip's trial-to-trial noise stream, fixed here
    state.status = "running"
    d.draw_live(snapshot)
    assert d.live and d.live_draws == 1 and not error_text(d), d.status.value
    for g, s in zip(chip._rngs, noise):
        g.set_state(s)
    grid = plane_times(8, MAP_DTYPE)  # the live map runs in float32 on the chip too (same fixed pattern)
    expected = chip.spike_times(snapshot.network(MAP_DTYPE), grid)[-1]
    assert torch.equal(torch.as_tensor(d.decisions.output_times), expected)
    truth = decisions_from_times(expected)
    np.testing.assert_array_equal(d.heat.color.ravel(), map_values(truth.classes, np.tanh(truth.margin.astype(np.float64) / 0.4)))  # shade in float64
    assert len(d.heat.x) == 8
    # the noise is live: the next run of the same grid measures other times (so the fixing matters)
    assert not torch.equal(chip.spike_times(snapshot.network(MAP_DTYPE), grid)[-1], expected)
    assert d.accuracy == pytest.approx(0.55)
    assert "training accuracy in the loop <b>55.0 %</b>" in d.readout.value and "live map 8×8" in d.readout.value
    state.status = "paused"  # at rest: the full grid and the test set, on the chip
    assert not d.live and len(d.heat.x) == 12 and "test accuracy under the lab's hardware" in d.readout.value


def test_chip_dashboard_live_map_is_drawn_refined_from_its_grid():
    """The chip dashboard's live map: the 32 x 32 chip grid's output times, drawn at 63 x 63
    (probe.refined_times), the classes and shades those refined times give."""
    from ttfs_lab.probe import decisions_from_times, plane_times, refined_times
    from ttfs_lab.widgets.dashboards.chip import LIVE_MAP_GRID, LIVE_MAP_REFINE, chip_dashboard, chip_state
    from ttfs_lab.widgets.decision_map import MAP_DTYPE, map_values
    from ttfs_lab.widgets.runner import Snapshot, TrainingRunner

    state = chip_state()
    d = chip_dashboard(state)["decision"]
    TrainingRunner.for_state(state).trainer()
    chip = state.substrate
    noise = [g.get_state() for g in chip._rngs]
    snapshot = Snapshot.of(state.network, steps=0, epochs=0)
    state.status = "running"
    d.draw_live(snapshot)
    for g, s in zip(chip._rngs, noise):
        g.set_state(s)
    coarse = chip.spike_times(snapshot.network(MAP_DTYPE), plane_times(LIVE_MAP_GRID, MAP_DTYPE))[-1]
    truth = decisions_from_times(refined_times(coarse, LIVE_MAP_GRID, LIVE_MAP_REFINE))
    m = LIVE_MAP_REFINE * (LIVE_MAP_GRID - 1) + 1
    assert len(d.heat.x) == m and d.heat.color.shape == (m, m)
    np.testing.assert_array_equal(d.heat.color.ravel(),
                                  map_values(truth.classes, np.tanh(truth.margin.astype(np.float64) / 0.4)))
    assert f"live map {LIVE_MAP_GRID}×{LIVE_MAP_GRID} drawn at {m}²" in d.readout.value
    state.status = "paused"
