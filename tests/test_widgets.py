"""The views, driven headlessly the way a user drives them.

Sliders get values, scatter points are "dragged" by setting their data, buttons are clicked
with Button.click(); then the marks' data must equal what the core computes -- evaluated here
independently (hand-built grids, brute-force threshold crossings, finite differences).
Garbage input must end as a message in the view's status line, never as an exception.
"""
import math
import os
import time

import numpy as np
import pytest
from traitlets import TraitError
import torch

from ttfs_lab import NeuronParams, TTFSNetwork, first_spike_times, kernel, membrane_potential
from ttfs_lab.data import yin_yang
from ttfs_lab.widgets import (
    DecisionMap, ExportPanel, LabState, MembraneView, NeuronExplorer, RasterView, TrainingPanel, figure_data,
)
from ttfs_lab.probe import decision_grid, decisions_and_outputs, plane_features, refined_times
from ttfs_lab.widgets.decision_map import MAP_DTYPE, map_values
from ttfs_lab.widgets.pacing import Pacer, draw_interval
from ttfs_lab.widgets.runner import Snapshot
from ttfs_lab.widgets.neuron_explorer import GRID


def small_state(**kwargs):
    settings = dict(hidden=[10], train_size=240, test_size=120, batch_size=60, epochs=2, seed=3)
    settings.update(kwargs)
    return LabState(**settings)


def error_text(view):
    return view.status.value if "ttfs-error" in view.status.value else ""


def crossing_time(times, weights, tau_m, dt=1e-4, t_max=6.0):
    """Brute force: first grid time where the potential reaches the threshold (c = 1)."""
    t = np.arange(0.0, t_max, dt)
    u = membrane_potential(torch.as_tensor(t), torch.tensor([times], dtype=torch.float64),
                           torch.tensor(weights, dtype=torch.float64)[:, None], NeuronParams(tau_m=tau_m))[0, :, 0].numpy()
    above = np.flatnonzero(u >= 1.0)
    return t[above[0]] if len(above) else math.inf


# ---------------------------------------------------------------- NeuronExplorer
def test_explorer_builds_alone_and_matches_brute_force():
    e = NeuronExplorer()
    times, weights = e.state.neuron_times, e.state.neuron_weights
    T = e.spike.x[0]
    assert T == pytest.approx(crossing_time(times, weights, 1.0), abs=2e-4)
    assert e.spike.visible and e.readout.value.startswith(f"<b>spike time T = {T:.3f}")
    assert list(e.inputs.x) == times


def test_dragging_an_input_redraws_potential_spike_and_gradients():
    e = NeuronExplorer()
    new = [0.5, 0.9, 1.1, 1.5]
    e.inputs.x = np.array(new)  # what the front end does at the end of a drag
    assert e.state.neuron_times == new
    assert e.time_sliders[0].value == pytest.approx(0.5) and e.time_sliders[1].value == pytest.approx(0.9)
    w = e.state.neuron_weights
    T = crossing(new, w)
    assert e.spike.x[0] == T and e.spike_line.x[0] == T
    assert T == pytest.approx(crossing_time(new, w, 1.0), abs=2e-4)
    u = membrane_potential(torch.as_tensor(GRID), torch.tensor([new], dtype=torch.float64),
                           torch.tensor(w, dtype=torch.float64)[:, None])[0, :, 0].numpy()
    np.testing.assert_allclose(e.potential.y, u, rtol=0, atol=1e-12)
    # Bars: central finite differences of the spike time.
    grad_w, grad_t = e.grad_w_bars.y, e.grad_t_bars.y
    h = 1e-6
    for i in range(4):
        up, down = list(w), list(w)
        up[i] += h
        down[i] -= h
        fd = (crossing(new, up) - crossing(new, down)) / (2 * h)
        assert grad_w[i] == pytest.approx(fd, abs=1e-5)
        tu, td = list(new), list(new)
        tu[i] += h
        td[i] -= h
        fd = (crossing(tu, w) - crossing(td, w)) / (2 * h)
        assert grad_t[i] == pytest.approx(fd, abs=1e-5)
    # Shifting every input shifts T by the same amount: the time gradients sum to 1.
    assert grad_t.sum() == pytest.approx(1.0, abs=1e-9)
    assert grad_w[3] == 0.0 and grad_t[3] == 0.0  # input 4 (t = 1.5) arrives after T


def crossing(times, weights, tau_m=1.0):
    return float(first_spike_times(torch.tensor([times], dtype=torch.float64),
                                   torch.tensor(weights, dtype=torch.float64)[:, None], NeuronParams(tau_m=tau_m))[0, 0])


def test_mouse_moves_the_nearest_input_and_keeps_it():
    e = NeuronExplorer()
    e.selector.selected = np.array([0.75])  # mouse near input 2 (t = 0.7)
    assert e.state.neuron_times == [0.3, 0.75, 1.1, 1.5]
    e.selector.selected = np.array([1.05])  # keeps moving input 2, though input 3 is nearer now
    assert e.state.neuron_times == [0.3, 1.05, 1.1, 1.5]
    assert e.spike.x[0] == crossing([0.3, 1.05, 1.1, 1.5], e.state.neuron_weights)
    e._last_mouse -= 10  # a pause: the next click grabs anew
    e.selector.selected = np.array([1.4])
    assert e.state.neuron_times == [0.3, 1.05, 1.1, 1.4]
    e.selector.selected = np.array([np.nan])
    assert "not a number" in error_text(e)


@pytest.mark.parametrize("tau_m", [2.0, 1.5])
def test_ratio_control_switches_regime(tau_m):
    e = NeuronExplorer()
    e.ratio.value = tau_m
    assert e.state.tau_ratio == tau_m and e.state.network.params.tau_m == tau_m
    times, weights = e.state.neuron_times, e.state.neuron_weights
    assert e.spike.x[0] == pytest.approx(crossing_time(times, weights, tau_m), abs=2e-4)
    assert e.spike.x[0] == crossing(times, weights, tau_m)


def test_silent_neuron_hides_spike_and_zeroes_bars():
    e = NeuronExplorer()
    for s in e.weight_sliders:
        s.value = -3.0
    assert not e.spike.visible and e.readout.value == "<b>no spike</b>"
    assert np.all(e.grad_w_bars.y == 0.0) and np.all(e.grad_t_bars.y == 0.0)


def test_explorer_garbage_shows_message_and_keeps_state():
    e = NeuronExplorer()
    before = list(e.state.neuron_times)
    e.inputs.x = np.array([np.nan, 1.0, 1.0, 1.0])
    assert "finite" in error_text(e)
    assert e.state.neuron_times == before and list(e.inputs.x) == before
    e.inputs.x = np.array([1.0, 2.0])  # a point deleted
    assert error_text(e) and e.state.neuron_times == before
    e.inputs.x = np.array([9.0, 0.7, 1.1, 1.5])  # dragged past the end: clamped
    assert e.state.neuron_times[0] == 4.0 and not error_text(e)


def test_explorer_follows_state_input_count():
    state = LabState()
    e = NeuronExplorer(state)
    with state.hold_trait_notifications():
        state.neuron_times = [0.2, 0.4]
        state.neuron_weights = [1.5, 1.5]
    assert len(e.time_sliders) == 2 and list(e.grad_t_bars.x) == ["1", "2"]
    assert e.spike.x[0] == crossing([0.2, 0.4], [1.5, 1.5])


def test_hidden_controls_by_name():
    state = LabState(hidden_controls=["ratio"])
    e = NeuronExplorer(state)
    assert e.ratio.layout.display == "none"
    e.hide("ratio", "nonexistent")
    state.hidden_controls = []
    assert e.ratio.layout.display is None


# ---------------------------------------------------------------- DecisionMap
def hand_grid(n):
    axis = np.linspace(0, 1, n)
    pts = [(x, y) for y in axis for x in axis]  # row-major in y, as a heat map [y, x]
    feats = np.array([(x, y, 1 - x, 1 - y) for x, y in pts])
    return torch.tensor(0.15 + 1.85 * feats)


def classes_and_margin(out):
    """Predicted class (-1: all silent) and the gap between the first two output spikes."""
    out = out.detach()
    classes = out.argmin(1).numpy()
    classes[torch.isinf(out).all(1).numpy()] = -1
    s = np.sort(out.numpy(), axis=1)
    margin = np.where(np.isfinite(s[:, 0]), s[:, 1] - s[:, 0], 0.0).astype(np.float64)  # gap in the map's dtype
    return classes, margin


def test_decision_map_equals_network_predictions_on_the_grid():
    state = small_state()
    d = DecisionMap(state)  # the full 100 x 100 grid
    # the map runs the lab's network in float32 (MAP_DTYPE): its weights, cast
    net32 = TTFSNetwork.from_weights(state.network.weights(), params=state.network.params,
                                     bias_time=state.network.bias_time, dtype=MAP_DTYPE)
    classes, margin = classes_and_margin(net32(hand_grid(100).to(MAP_DTYPE)))
    values = d.heat.color.ravel()
    np.testing.assert_array_equal(np.where(values == 0, -1, np.floor((values - 1) / 2)), classes)
    # Shade: tanh(margin / (2 xi)) of the first two output spikes, from the sorted times.
    np.testing.assert_allclose(values, map_values(classes, np.tanh(margin / 0.4)), atol=1e-12)
    features, labels = yin_yang("test", size=120)
    np.testing.assert_array_equal(d.points.x, features[:, 0])
    np.testing.assert_array_equal(d.points.color, labels)
    predicted = state.network(torch.tensor(0.15 + 1.85 * features)).argmin(1).numpy()
    assert d.accuracy == pytest.approx(np.mean(predicted == labels))


@pytest.mark.parametrize("hidden", [[10], [120]])
def test_decision_map_in_float32_is_the_float64_map_up_to_round_off(hidden):
    """float32 moves spike times by ~1e-6 tau_s: a cell may change class only where the first two
    output spikes of the float64 network lie that close, and the shading moves as little."""
    state = small_state(hidden=hidden)
    d = DecisionMap(state)
    classes, margin = classes_and_margin(state.network(hand_grid(100)))  # float64
    values = d.heat.color.ravel()
    shown = np.where(values == 0, -1, np.floor((values - 1) / 2))
    differ = shown != classes
    assert (margin[differ] < 1e-4).all()
    assert differ.mean() < 0.005
    same = ~differ
    np.testing.assert_allclose(values[same], map_values(classes, np.tanh(margin / 0.4))[same], atol=1e-4)


def test_the_points_image_shows_the_data_of_the_split():
    """The points layer (one PNG) draws the split's points where the click layer has them, in
    their class colours; switching the split redraws it from the other data set."""
    from test_points_image import decode_png
    from ttfs_lab.widgets.decision_map import CLASS_COLORS, POINTS_IMAGE_PX
    from ttfs_lab.widgets.points_image import hex_rgb

    state = small_state()
    d = DecisionMap(state, grid_size=20)

    def check(split, size):
        features, labels = yin_yang(split, size=size)
        img = decode_png(d.points_image.value)
        assert img.shape == (POINTS_IMAGE_PX, POINTS_IMAGE_PX, 4)
        rows = ((1.0 - features[:, 1]) * POINTS_IMAGE_PX).astype(int)
        cols = (features[:, 0] * POINTS_IMAGE_PX).astype(int)
        assert (img[rows, cols, 3] == 255).all()  # every point covers its centre pixel
        # The last point is drawn over all others: its centre has its own class colour.
        np.testing.assert_allclose(img[rows[-1], cols[-1], :3] / 255.0, hex_rgb(CLASS_COLORS[labels[-1]]), atol=1 / 255)
        assert img[..., 3].astype(bool).mean() < 0.5  # the map stays visible between them

    check("test", 120)
    before = d.points_image.value
    d.split.value = "train"
    assert d.points_image.value != before
    check("train", 240)
    d.show_points.value = False
    assert not (d.points_layer.visible or d.points.visible or d.marker.visible)


def test_refined_times_are_exact_for_a_bilinear_field_and_keep_the_grid_points():
    """Times that are a bilinear function of (x, y) on the coarse grid are that function on the
    fine grid (bilinear interpolation reproduces it), evaluated here at the fine grid's points."""
    n, k = 5, 3
    def field(features):
        x, y = features[:, 0], features[:, 1]
        return np.stack([1 + 2 * x + 3 * y + 4 * x * y, 2 - x + 0.5 * x * y], axis=1)
    coarse = torch.tensor(field(plane_features(n)))
    fine = refined_times(coarse, n, k)
    m = k * (n - 1) + 1
    assert fine.shape == (m * m, 2)
    np.testing.assert_allclose(fine.numpy(), field(plane_features(m)), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fine.reshape(m, m, 2)[::k, ::k].numpy(), coarse.reshape(n, n, 2).numpy())
    assert refined_times(coarse, n, 1) is coarse or torch.equal(refined_times(coarse, n, 1), coarse)


def test_refined_times_keep_an_output_silent_next_to_where_it_never_fired():
    n, k = 3, 2
    t = torch.ones(n * n, 2)
    t[:, 1] = 2.0
    t[4, 0] = math.inf  # output 0 silent at the centre point (x = y = 0.5)
    fine = refined_times(t, n, k).reshape(5, 5, 2)
    silent = torch.isinf(fine[..., 0])
    # every fine point with a nonzero weight on the centre: the open 3 x 3 block around it
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[1:4, 1:4] = True
    assert torch.equal(silent, expected)
    assert torch.isfinite(fine[..., 1]).all() and (fine[..., 1] == 2.0).all()
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="factor"):
            refined_times(t, n, bad)
    with pytest.raises(ValueError, match="output times"):
        refined_times(t[:5], n, 2)


def click(mark, index):
    mark._handle_custom_msgs(None, {"event": "element_click", "data": {"index": index, "x": 0.0, "y": 0.0}})


def test_clicking_a_point_selects_the_sample_everywhere():
    state = small_state()
    d, m, r = DecisionMap(state, grid_size=20), MembraneView(state), RasterView(state)
    click(d.points, 7)  # the message the browser sends for a click on point 7
    assert state.selected == 7
    features, labels = yin_yang("test", size=120)
    assert (d.marker.x[0], d.marker.y[0]) == (features[7, 0], features[7, 1])
    times = state.network.spike_times(torch.tensor(0.15 + 1.85 * features[7:8]))
    out = times[-1][0].detach().numpy()
    np.testing.assert_array_equal(m.spikes.x, out[np.isfinite(out)])
    hidden = times[1][0].detach().numpy()
    np.testing.assert_array_equal(r.layer_marks[1].x, hidden[np.isfinite(hidden)])
    np.testing.assert_array_equal(r.layer_marks[1].y, 4 + np.flatnonzero(np.isfinite(hidden)))
    d.points._handle_custom_msgs(None, {"event": "element_click", "data": {}})  # no index: nothing happens
    d.points._handle_custom_msgs(None, {"event": "element_click"})
    assert state.selected == 7 and not error_text(d)
    click(d.points, 500)  # only 120 test samples: a message, no exception
    assert state.selected == 7 and "0..119" in error_text(d)
    d.split.value = "train"
    assert state.split == "train" and len(d.points.x) == 240


def test_membrane_traces_equal_the_kernel_sum():
    state = small_state()
    m = MembraneView(state)
    state.selected = 3
    x = state.data("test")[1][3:4]
    times = [t.detach() for t in state.network.spike_times(x)]
    hidden = torch.cat([times[1], torch.tensor([[0.9]], dtype=torch.float64)], 1)[0]  # + bias spike
    w = state.network.layers[1].weight.detach()
    t = torch.as_tensor(m.traces.x)
    u = (kernel(t[:, None] - hidden[None, :]) @ w).numpy()  # e_leak = 0, g_leak = 1
    np.testing.assert_allclose(m.traces.y, u.T, atol=1e-12)
    m.layer.value = 1
    m.neurons.value = "2, 5"
    assert m.traces.labels == ["hidden 2", "hidden 5"] and m.traces.y.shape[0] == 2


@pytest.mark.parametrize("text", ["a, b", "", "99", "-1", "0-"])
def test_membrane_garbage_neurons_show_message(text):
    m = MembraneView(small_state())
    before = m.traces.y.copy()
    shown = m.neurons.value
    m.neurons.value = text
    assert error_text(m)
    np.testing.assert_array_equal(m.traces.y, before)
    assert m.neurons.value == shown  # the box shows what is drawn again, not the rejected text


def test_views_name_the_classes():
    state = small_state()
    m, r = MembraneView(state), RasterView(state)
    assert m.traces.labels == ["output 0 (yin)", "output 1 (yang)", "output 2 (dot)"]
    label = int(state.data("test")[2][state.selected])
    assert f"class {['yin', 'yang', 'dot'][label]}" in m.readout.value and "label" not in m.readout.value
    assert f"(class {['yin', 'yang', 'dot'][label]})" in r.readout.value
    assert all(not mark.display_legend for mark in r.figure.marks)  # legend below, not over the spikes
    assert "hidden 1" in r.legend.value and r.legend in r.children
    assert "threshold ϑ" in m.legend.value and "output 2 (dot)" in m.legend.value and m.legend in m.children
    assert not any(mark.display_legend for mark in m.figure.marks)  # no legend box over the traces


def test_raster_batch_view_counts_every_spike():
    state = small_state()
    r = RasterView(state, batch_size=50)
    r.show_batch.value = True
    times = state.network.spike_times(state.data("test")[1][:50])
    n = sum(int(torch.isfinite(t).sum()) for t in times)
    assert len(r.batch.x) == n and r.batch_figure in r.children
    out = times[-1].detach().numpy()
    np.testing.assert_array_equal(np.sort(r.batch.x[r.batch.y >= 14]), np.sort(out[np.isfinite(out)]))


# ---------------------------------------------------------------- TrainingPanel
def test_step_trains_one_batch_and_views_follow():
    state = small_state()
    panel, d = TrainingPanel(state), DecisionMap(state, grid_size=30)
    before = [w.clone() for w in state.network.weights()]
    panel.buttons["step"].click()
    assert not error_text(panel)
    assert state.history["step"] == [1] and len(panel.loss_line.y) == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, state.network.weights()))
    out = state.network(hand_grid(30)).detach()
    np.testing.assert_array_equal(np.floor((d.heat.color.ravel() - 1) / 2), out.argmin(1).numpy())


def test_play_runs_in_background_and_finishes():
    state = small_state()
    panel, d = TrainingPanel(state), DecisionMap(state, grid_size=20)
    panel.runner.min_interval = 0.0
    panel.buttons["play"].click()
    assert state.status == "running" and panel.buttons["play"].disabled
    # The architecture is locked while training runs: greyed, the tooltip says why, and a
    # value set anyway (a script, a stale front end) is refused and the menu snaps back.
    assert panel.controls["hidden"].disabled and "pause" in panel.controls["hidden"].tooltip
    panel.controls["hidden"].value = "30"
    assert "pause" in error_text(panel) and state.hidden == [10] and panel.controls["hidden"].value == "10"
    panel.runner.join(120)
    assert state.status == "done" and panel.runner.error is None
    h = state.history
    assert h["epoch"] == [1, 2] and len(h["step"]) == 2 * 240 // 60
    assert len(panel.validation_line.y) == 2 and panel.validation_line.y[-1] == h["validation_accuracy"][-1]
    out = state.network(hand_grid(20)).detach()  # the map shows the final network
    np.testing.assert_array_equal(np.floor((d.heat.color.ravel() - 1) / 2), out.argmin(1).numpy())
    panel.buttons["play"].click()  # all epochs done
    assert "epochs are done" in error_text(panel)
    panel.controls["epochs"].value = 5
    panel.buttons["play"].click()
    panel.buttons["pause"].click()
    panel.runner.join(60)
    assert state.status in ("paused", "done")
    panel.buttons["reset"].click()
    assert state.history == {} and state.status == "idle" and len(panel.loss_line.x) == 0


# ---------------------------------------------------------------- live redraws (issue 12)
def test_pacing_interval_follows_the_drawing_cpu_and_the_core_share():
    # max(min_interval, cpu (1 - f) / (f share)): 30 ms of CPU at f = 0.2 -> 0.12 s; the floor
    assert draw_interval(0.030, 0.14, 0.2) == pytest.approx(0.14)
    assert draw_interval(0.060, 0.14, 0.2) == pytest.approx(0.24)
    assert draw_interval(0.060, 0.14, 0.2, share=0.25) == pytest.approx(0.96)  # 8 kernels on 2 cores
    assert draw_interval(0.060, 0.14, 0.2, share=4.0) == pytest.approx(0.24)  # never more than one core
    for bad in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(ValueError):
            draw_interval(0.01, 0.14, bad)
    clock = iter([0.0, 0.0, 10.0, 10.0, 10.0]).__next__
    pacer = Pacer(0.1, 0.2, share=lambda: 0.5, clock=clock)
    assert pacer.drawn(started=1.0, cpu_seconds=0.05) == pytest.approx(0.05 * 0.8 / (0.2 * 0.5))
    assert pacer.next_at == pytest.approx(1.4) and pacer.draws == 1


def test_process_share_is_the_cpu_the_process_got_capped_by_the_fair_share():
    from ttfs_lab.widgets.pacing import ProcessShare

    cpu, wall = iter([0.0, 0.3, 0.3, 5.3]).__next__, iter([0.0, 2.0, 2.01, 4.01]).__next__
    share = ProcessShare(fair=lambda: 0.4, cpu=cpu, clock=wall)
    assert share() == pytest.approx(0.15)  # 0.3 s of CPU in 2 s of wall: less than the fair 0.4
    assert share() == pytest.approx(0.4)  # 10 ms since: too short to measure, the fair share
    assert share() == pytest.approx(0.4)  # 5 s of CPU in 2 s (two threads): the fair share caps it
    # The real clocks: a spinning thread's CPU is measured, never above the fair share.
    real = ProcessShare(fair=lambda: 1.0)
    cpu0 = time.process_time()
    while time.process_time() - cpu0 < 0.2:
        pass
    assert 0.0 < real() <= 1.0


def test_live_map_draws_the_snapshot_not_the_weights_of_now():
    state = small_state()
    d = DecisionMap(state, grid_size=30, live_grid_size=20)
    snapshot = Snapshot.of(state.network, steps=0, epochs=0)
    net32 = TTFSNetwork.from_weights(state.network.weights(), params=state.network.params,
                                     bias_time=state.network.bias_time, dtype=MAP_DTYPE)
    with torch.no_grad():  # training goes on after the snapshot
        for layer in state.network.layers:
            layer.weight.mul_(0.5)
    state.status = "running"
    d.draw_live(snapshot)
    assert d.live and d.live_draws == 1 and not error_text(d)
    classes, margin = classes_and_margin(net32(hand_grid(20).to(MAP_DTYPE)))
    values = d.heat.color.ravel()
    assert len(d.heat.x) == 20
    np.testing.assert_array_equal(np.where(values == 0, -1, np.floor((values - 1) / 2)), classes)
    np.testing.assert_allclose(values, map_values(classes, np.tanh(margin / 0.4)), atol=1e-12)
    # the readout's accuracy comes from the same forward pass: the snapshot's, on the test split
    features, labels = yin_yang("test", size=120)
    predicted = net32(torch.tensor(0.15 + 1.85 * features).to(MAP_DTYPE)).argmin(1).numpy()
    assert d.accuracy == pytest.approx(np.mean(predicted == labels))
    assert "live map 20×20" in d.readout.value
    state.weights_changed()  # weights published for the other views while running: no redraw here
    np.testing.assert_array_equal(d.heat.color.ravel(), values)
    state.status = "paused"  # training stopped: the full grid of the weights of now
    out = state.network(hand_grid(30)).detach()
    assert not d.live and len(d.heat.x) == 30
    np.testing.assert_array_equal(np.floor((d.heat.color.ravel() - 1) / 2), out.argmin(1).numpy())


def test_grid_and_points_in_one_pass_equal_separate_passes():
    net = small_state(hidden=[12]).network
    points = torch.rand(37, 4, dtype=torch.float64) * 1.85 + 0.15
    decisions, out = decisions_and_outputs(net, 15, points)
    alone = decision_grid(net, 15)
    np.testing.assert_array_equal(decisions.output_times, alone.output_times)
    np.testing.assert_array_equal(out.numpy(), net(points).detach().numpy())


def test_runner_draws_in_its_own_thread_and_training_does_not_wait_for_it():
    import threading

    state = small_state(epochs=6)
    panel = TrainingPanel(state)
    runner = panel.runner
    runner.min_interval = 0.0
    seen = {"threads": set(), "steps": []}
    batches_meanwhile = threading.Event()
    blocked = []

    def slow_view(snapshot):
        seen["threads"].add(threading.current_thread().name)
        seen["steps"].append(snapshot.steps)
        if not blocked:  # the first live redraw does not return before training did 3 more batches
            blocked.append(snapshot.steps)
            assert batches_meanwhile.wait(120)

    def on_batch(event):
        seen["threads"].add("callback:" + threading.current_thread().name)
        if blocked and event.kind == "batch" and event.step >= blocked[0] + 3:
            batches_meanwhile.set()

    runner.live_views.append(slow_view)
    runner.trainer().callbacks.append(on_batch)
    panel.buttons["play"].click()
    runner.join(120)
    assert state.status == "done" and runner.error is None
    assert batches_meanwhile.is_set()  # training went on while a redraw was held
    assert seen["threads"] == {"ttfs-lab-drawing", "callback:ttfs-lab-training"}
    assert seen["steps"] == sorted(seen["steps"]) and runner.live_publishes == len(seen["steps"]) >= 2
    assert state.history["step"] == list(range(1, 6 * 240 // 60 + 1))  # the final publish: the whole record
    assert "CPU went into redrawing" in panel.readout.value


@pytest.mark.parametrize("name, value", [
    ("lr", float("nan")), ("lr", -1.0), ("epochs", 0), ("batch_size", -5), ("hidden", "abc"), ("hidden", "0"),
])
def test_training_menus_offer_only_valid_values(name, value):
    state = small_state()
    panel = TrainingPanel(state)
    before = getattr(state, name)
    with pytest.raises(TraitError):  # not one of the menu's options
        panel.controls[name].value = value
    assert getattr(state, name) == before


@pytest.mark.parametrize("name, value, want", [
    ("lr", 0.02, 0.02), ("epochs", 50, 50), ("batch_size", 25, 25), ("hidden", "60, 60", [60, 60]), ("seed", 3, 3),
])
def test_training_menus_set_the_state(name, value, want):
    state = small_state()
    panel = TrainingPanel(state)
    panel.controls[name].value = value
    assert getattr(state, name) == want and not error_text(panel)


def test_training_menus_show_a_state_value_they_do_not_list():
    state = small_state(lr=0.0031, epochs=7)
    panel = TrainingPanel(state)
    assert panel.controls["lr"].value == 0.0031 and panel.controls["epochs"].value == 7
    assert panel.controls["hidden"].value == "10"  # small_state's architecture
    labels = [label for label, _ in panel.controls["lr"].options]
    assert labels == sorted(labels, key=float)  # inserted in order


def test_reset_returns_to_the_start_network():
    state = small_state()
    start = small_state(seed=5).network
    state.start_from(start)
    before = [w.clone() for w in start.weights()]
    panel = TrainingPanel(state)
    panel.buttons["step"].click()
    assert any(not torch.equal(a, b) for a, b in zip(before, state.network.weights()))
    panel.buttons["reset"].click()
    assert state.history == {} and state.status == "idle"
    for a, b in zip(before, state.network.weights()):
        assert torch.equal(a, b)
    state.seed = 1  # a new architecture or seed: a random network again
    assert any(not torch.equal(a, b) for a, b in zip(before, state.network.weights()))
    with pytest.raises(ValueError, match="hidden"):
        state.start_from(LabState(hidden=[3], train_size=300, test_size=100).network)


# ---------------------------------------------------------------- save / restore / export
def test_state_round_trip(tmp_path):
    state = small_state(tau_ratio=2.0, split="train", selected=11, neuron_times=[0.1, 0.2, 0.3])
    state.neuron_weights = [1.0, 2.0, 3.0]
    panel = TrainingPanel(state)
    panel.buttons["step"].click()
    path = state.save(tmp_path / "lab.json")
    restored = LabState()
    DecisionMap(restored, grid_size=10)  # a view attached while restoring
    restored.restore(path)
    assert restored.settings() == state.settings()
    assert restored.history == state.history
    for a, b in zip(restored.network.weights(), state.network.weights()):
        assert torch.equal(a, b)
    assert restored.network.params == NeuronParams(tau_m=2.0)
    # The optimizer state came along: one more step lands on the same weights.
    panel.buttons["step"].click()
    TrainingPanel(restored).buttons["step"].click()
    for a, b in zip(restored.network.weights(), state.network.weights()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_export_panel_saves_loads_and_dumps_figure_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "..")  # nothing may land in the working folder (apps/ on a server)
    monkeypatch.setenv("TTFS_LAB_STATE_DIR", str(tmp_path / "state"))
    cwd_before = sorted(os.listdir("."))
    state = small_state()
    e = NeuronExplorer(state)
    panel = ExportPanel(state, views=[e])
    panel.format.value = "json"
    panel.buttons["export"].click()
    import json

    data = json.loads((tmp_path / "state" / "files" / "figure.json").read_text())
    assert data == json.loads(json.dumps(figure_data(e.figure)))
    assert data["marks"][e.figure.marks.index(e.spike)]["x"] == [e.spike.x[0]]
    panel.format.value = "png"
    panel.buttons["export"].click()  # no front end here: nothing written, no error
    assert not error_text(panel)
    panel.buttons["save_state"].click()
    state.neuron_times = [1.0, 1.0, 1.0, 1.0]
    panel.buttons["load_state"].click()
    assert state.neuron_times == [0.3, 0.7, 1.1, 1.5] and not error_text(panel)
    assert (tmp_path / "state" / "files" / "lab-state.json").is_file() and sorted(os.listdir(".")) == cwd_before
    (tmp_path / "state" / "files" / "junk.json").write_text("{not json")
    panel.state_path.value = "junk.json"
    panel.buttons["load_state"].click()
    assert "cannot read" in error_text(panel)
    panel.state_path.value = "missing.json"
    panel.buttons["load_state"].click()
    assert error_text(panel)


def test_views_build_from_nothing():
    for view in (MembraneView, RasterView, TrainingPanel):
        v = view()
        assert v.state.network.sizes == (4, 120, 3) and not error_text(v)


def test_thin_curve_block_means_bound_the_points_sent_to_the_page():
    from ttfs_lab.widgets.training_panel import thin_curve

    x, y = list(range(1, 1001)), [float(v) ** 0.5 for v in range(1000)]
    tx, ty = thin_curve(x, y, 400)  # k = 3: 333 full blocks and one of 1
    assert len(tx) == 334 and tx[:2] == [3, 6] and tx[-1] == 1000
    np.testing.assert_allclose(ty[:-1], np.asarray(y[:999]).reshape(-1, 3).mean(axis=1), rtol=1e-15)
    assert ty[-1] == y[-1]
    assert thin_curve(x[:5], y[:5], 400) == (x[:5], y[:5])  # short curves are sent as they are
    y[500] = float("nan")
    assert math.isnan(thin_curve(x, y, 400)[1][500 // 3])  # a diverged batch still shows
    with pytest.raises(ValueError, match="as many x as y"):
        thin_curve(x, y[:-1])
