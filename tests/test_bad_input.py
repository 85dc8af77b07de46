"""Bad input fails early with a ValueError that names the problem (and nothing else fails)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from ttfs_lab import NeuronParams, TTFSNetwork, first_spike_times, membrane_potential


# -------------------------------------------------------------------------- NeuronParams
@pytest.mark.parametrize(
    "field, value",
    [
        ("tau_m", 0.0),
        ("tau_m", -1.25),
        ("tau_s", 0.0),
        ("tau_s", -0.75),
        ("g_leak", 0.0),
        ("g_leak", -2.5),
    ],
)
def test_non_positive_constants_are_rejected(field, value):
    with pytest.raises(ValueError) as err:
        NeuronParams(**{field: value})
    msg = str(err.value)
    assert field in msg and repr(value) in msg, msg


@pytest.mark.parametrize("e_leak, threshold", [(0.0, 0.0), (0.5, 0.25), (-1.0, -3.5)])
def test_threshold_must_lie_above_leak(e_leak, threshold):
    with pytest.raises(ValueError) as err:
        NeuronParams(e_leak=e_leak, threshold=threshold)
    msg = str(err.value)
    assert "threshold" in msg and repr(threshold) in msg, msg


@pytest.mark.parametrize("field", ["tau_m", "tau_s", "g_leak", "e_leak", "threshold"])
@pytest.mark.parametrize("value", [math.nan, math.inf, "1.0", None])
def test_non_numbers_are_rejected(field, value):
    # NaN slips through naive "<= 0" checks, so it gets its own case
    with pytest.raises(ValueError) as err:
        NeuronParams(**{field: value})
    assert field in str(err.value), str(err.value)


def test_params_are_frozen_and_valid_ones_work():
    p = NeuronParams(tau_m=2.0, tau_s=1.0, g_leak=0.5, e_leak=-0.2, threshold=0.3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.tau_m = 1.0
    assert p.c == pytest.approx(0.5 * (0.3 + 0.2))
    assert (NeuronParams().regime, p.regime, NeuronParams(tau_m=1.7).regime) == ("equal", "double", "general")
    assert NeuronParams(e_leak=-3.0, threshold=-2.0).c == pytest.approx(1.0)  # negative but ordered is fine


# -------------------------------------------------------------------- first_spike_times
def _ok_layer():
    times = torch.tensor([[0.1, 0.5, 1.0], [0.2, np.inf, 0.4]], dtype=torch.float64)
    weights = torch.tensor([[2.0, 0.5], [1.5, -0.3], [0.8, 1.0]], dtype=torch.float64)
    return times, weights


def test_nan_input_time_is_rejected():
    times, weights = _ok_layer()
    times[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        first_spike_times(times, weights)


def test_minus_infinity_input_time_is_rejected():
    times, weights = _ok_layer()
    times[0, 0] = -float("inf")
    with pytest.raises(ValueError, match="-inf"):
        first_spike_times(times, weights)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weight_is_rejected(bad):
    times, weights = _ok_layer()
    weights[2, 1] = bad
    with pytest.raises(ValueError, match="weight"):
        first_spike_times(times, weights)


def test_shape_mismatch_is_rejected():
    times, weights = _ok_layer()
    with pytest.raises(ValueError) as err:
        first_spike_times(times, weights[:2])  # 3 inputs per sample, 2 weight rows
    msg = str(err.value)
    assert "3" in msg and "2" in msg, msg


@pytest.mark.parametrize("shape", [(3,), (1, 2, 3)])
def test_input_times_must_be_two_dimensional(shape):
    _, weights = _ok_layer()
    with pytest.raises(ValueError, match="input_times"):
        first_spike_times(torch.ones(shape, dtype=torch.float64), weights)


@pytest.mark.parametrize("shape", [(3,), (3, 2, 1)])
def test_weights_must_be_two_dimensional(shape):
    times, _ = _ok_layer()
    with pytest.raises(ValueError, match="weights"):
        first_spike_times(times, torch.ones(shape, dtype=torch.float64))


def test_params_must_be_neuron_params():
    times, weights = _ok_layer()
    with pytest.raises(ValueError, match="NeuronParams"):
        first_spike_times(times, weights, {"tau_m": 1.0})


def test_negative_times_are_valid():
    """Negative times are just an earlier origin: valid, and equal to the shifted result."""
    times, weights = _ok_layer()
    base = first_spike_times(times, weights)
    early = first_spike_times(times - 10.0, weights)
    assert torch.isfinite(base).any()
    torch.testing.assert_close(early, base - 10.0, rtol=0, atol=1e-9)


def test_empty_batch_gives_empty_output():
    _, weights = _ok_layer()
    out = first_spike_times(torch.empty(0, 3, dtype=torch.float64), weights)
    assert out.shape == (0, 2)


# ------------------------------------------------------------------- membrane_potential
def test_membrane_potential_rejects_bad_grid_and_inputs():
    times, weights = _ok_layer()
    with pytest.raises(ValueError, match="1-D"):
        membrane_potential(torch.zeros(4, 2, dtype=torch.float64), times, weights)
    bad = times.clone()
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        membrane_potential(torch.linspace(0, 3, 5, dtype=torch.float64), bad, weights)
    with pytest.raises(ValueError):
        membrane_potential(torch.linspace(0, 3, 5, dtype=torch.float64), times, weights[:2])


# ------------------------------------------------------------------------------ network
def test_from_weights_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="rows"):
        TTFSNetwork.from_weights([np.ones((5, 4)), np.ones((4, 3))])  # needs 4 + 1 rows
    with pytest.raises(ValueError, match="NaN|inf"):
        TTFSNetwork.from_weights([np.full((5, 4), np.nan)])


def test_network_rejects_wrong_input_width():
    net = TTFSNetwork((4, 6, 3), seed=0)
    with pytest.raises(ValueError, match="4"):
        net(torch.zeros(2, 5, dtype=torch.float64))
