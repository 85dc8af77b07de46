"""The neuron explorer's delay controls: d_i sliders, arrival markers and the dT/dd_i bars.

Ground truth here is independent of the delays core the view uses: a neuron whose inputs
arrive at t_i + d_i is the plain neuron with those input times (ttfs_lab.probe), and dT/dd_i
is checked by central finite differences of that plain spike time.
"""
import math

import numpy as np
import pytest

from ttfs_lab.probe import neuron_response
from ttfs_lab.widgets import LabState, NeuronExplorer

GRID = np.linspace(0.0, 5.0, 11)


def error_text(view):
    return view.status.value if "ttfs-error" in view.status.value else ""


def plain_spike_time(times, weights, params):
    return neuron_response(times, weights, params, GRID).spike_time


@pytest.mark.parametrize("tau_ratio", [1.0, 2.0, 1.5])
def test_delay_sliders_shift_arrivals_and_bars_are_exact_dT_dd(tau_ratio):
    e = NeuronExplorer(LabState(tau_ratio=tau_ratio, neuron_weights=[2.0, 1.6, 1.2, -0.8]))
    e.delays_switch.value = True
    for slider, d in zip(e.delay_sliders, [0.8, 0.1, 0.0, 0.5]):
        slider.value = d
    times, weights, params = e.state.neuron_times, e.state.neuron_weights, e.state.params
    delays = e.state.neuron_delays
    assert delays == [0.8, 0.1, 0.0, 0.5]
    arrival = np.add(times, delays)
    assert np.allclose(e.inputs.x, arrival) and np.allclose(e.sent.x, times) and e.sent.visible
    expected = plain_spike_time(arrival, weights, params)
    assert math.isfinite(expected) and e.response.spike_time == pytest.approx(expected, abs=1e-12)
    h = 1e-6
    for i in range(4):
        up, down = arrival.copy(), arrival.copy()
        up[i] += h
        down[i] -= h
        fd = (plain_spike_time(up, weights, params) - plain_spike_time(down, weights, params)) / (2 * h)
        assert e.grad_d_bars.y[i] == pytest.approx(fd, abs=1e-6)
    # a delay moves the arrival exactly as the send time does
    assert np.allclose(e.grad_d_bars.y, e.grad_t_bars.y)


def test_zero_delays_give_exactly_the_neuron_without_delays():
    e = NeuronExplorer()
    before = (e.response.spike_time, list(e.grad_w_bars.y), list(e.grad_t_bars.y))
    e.delays_switch.value = True
    assert e.state.neuron_delays in ([], [0.0] * 4)
    assert (e.response.spike_time, list(e.grad_w_bars.y), list(e.grad_t_bars.y)) == before


def test_switching_delays_off_forgets_them_and_hides_the_controls():
    e = NeuronExplorer(LabState(neuron_delays=[1.0, 0.0, 0.0, 0.0]))
    assert e.delays_switch.value  # a state with delays shows them
    assert e.delay_gradient in e.top.children
    assert all(s.layout.display is None for s in e.delay_sliders)
    shifted = e.response.spike_time
    e.delays_switch.value = False
    assert e.state.neuron_delays == []
    assert e.delay_gradient not in e.top.children
    assert all(s.layout.display == "none" for s in e.delay_sliders)
    assert e.response.spike_time != shifted
    assert e.response.spike_time == plain_spike_time(e.state.neuron_times, e.state.neuron_weights, e.state.params)


@pytest.mark.parametrize("bad", [[-0.1, 0, 0, 0], [float("nan"), 0, 0, 0], [0, float("inf"), 0, 0]])
def test_bad_delays_are_refused_and_the_view_keeps_its_state(bad):
    state = LabState(neuron_delays=[0.5, 0.0, 0.0, 0.0])
    e = NeuronExplorer(state)
    with pytest.raises(ValueError, match="neuron_delays"):
        state.neuron_delays = bad
    assert state.neuron_delays == [0.5, 0.0, 0.0, 0.0]
    assert e.inputs.x[0] == pytest.approx(0.8)


def test_dragging_a_triangle_moves_the_send_time_behind_its_delay():
    e = NeuronExplorer(LabState(neuron_delays=[0.0, 1.0, 0.0, 0.0]))
    x = np.array(e.inputs.x, dtype=float)  # a copy: the trait must see a new value
    x[1] = 2.5  # the arrival of input 2, which is delayed by 1
    e.inputs.x = x
    assert e.state.neuron_times[1] == pytest.approx(1.5) and not error_text(e)
    assert e.inputs.x[1] == pytest.approx(2.5)


def test_changing_the_input_count_keeps_delays_per_input():
    state = LabState(neuron_delays=[0.4, 0.3, 0.2, 0.1])
    e = NeuronExplorer(state)
    with state.hold_trait_notifications():
        state.neuron_times = [0.2, 0.4]
        state.neuron_weights = [2.0, 2.0]
    assert len(e.delay_sliders) == 2 and [s.value for s in e.delay_sliders] == [0.4, 0.3]
    assert np.allclose(e.inputs.x, [0.6, 0.7])
    assert e.response.spike_time == pytest.approx(plain_spike_time([0.6, 0.7], [2.0, 2.0], state.params), abs=1e-12)


def test_delays_survive_save_and_restore(tmp_path):
    state = LabState(hidden=[6], train_size=60, test_size=30, neuron_delays=[0.0, 0.7, 0.0, 0.2])
    path = state.save(tmp_path / "lab.json")
    other = LabState(hidden=[6], train_size=60, test_size=30)
    view = NeuronExplorer(other)
    other.restore(path)
    assert other.neuron_delays == [0.0, 0.7, 0.0, 0.2] and view.delays_switch.value
    assert np.allclose(view.inputs.x, np.add(other.neuron_times, other.neuron_delays))
