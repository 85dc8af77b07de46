"""A fuzz of the public API (issue 11): random shapes, dtypes, values (huge, tiny, NaN, inf),
neuron parameters, network sizes and damaged checkpoint files.

Every outcome must be either a correct answer -- the same on both backends, and for float64
checked against the membrane potential itself (u(T) = threshold at a spike time T, u below
threshold before it, and below threshold everywhere for a silent neuron) -- or a ttfs_lab
error: a ValueError/TypeError raised by ttfs_lab's own code with a message, never torch's or
numpy's raw exception, never a silent wrong number. Runs are derandomized (CI-stable) and short.
"""
from __future__ import annotations

import io
import math
import pickle
import traceback
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttfs_lab import NeuronParams, TTFSNetwork, checkpoint, first_spike_times, membrane_potential, native
from ttfs_lab.spike_times import set_backend

FUZZ = settings(derandomize=True, max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BACKENDS = ["torch", "native"] if native.available() else ["torch"]


def _outcome(call):
    """("ok", value) or ("error", exception); an exception that is not a clear ttfs_lab
    error fails the test right here."""
    try:
        return "ok", call()
    except (ValueError, TypeError) as error:
        frames = traceback.extract_tb(error.__traceback__)
        assert frames and "ttfs_lab" in frames[-1].filename, (
            f"{type(error).__name__} raised outside ttfs_lab ({frames[-1].filename if frames else '?'}): {error}")
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return "error", error


def _on_every_backend(call):
    outcomes = {}
    for backend in BACKENDS:
        with set_backend(backend):
            outcomes[backend] = _outcome(call)
    kinds = {kind for kind, _ in outcomes.values()}
    assert len(kinds) == 1, {b: (k, str(v)[:200]) for b, (k, v) in outcomes.items()}
    if kinds == {"error"}:
        messages = {type(v).__name__ + ": " + str(v).split(";")[0] for _, v in outcomes.values()}
        assert len(messages) == 1, messages  # the same error, not just some error
    return outcomes


def _check_against_potential(times, weights, params, result):
    """Independent check of float64 spike times with the membrane potential on a grid."""
    finite_inputs = times[torch.isfinite(times)]
    if finite_inputs.numel() == 0:
        assert torch.isinf(result).all()
        return
    start = float(finite_inputs.min())
    end = float(finite_inputs.max()) + 40 * max(params.tau_m, params.tau_s)
    scale = 1.0 + float(weights.abs().sum()) * 10 / params.g_leak  # |u| bound (kernel peak <= tau-sized)
    tol = 1e-7 * scale
    for b in range(times.shape[0]):
        for m in range(weights.shape[1]):
            w = weights[:, m : m + 1]
            T = float(result[b, m])
            if math.isinf(T):
                assert T > 0
                grid = torch.linspace(start, end, 1500, dtype=torch.float64)
                u = membrane_potential(grid, times[b : b + 1], w, params)[0, :, 0]
                assert float(u.max()) < params.threshold + tol, ("silent, but u reaches", float(u.max()))
            elif math.ulp(T) > 1e-9:  # e.g. one input at 1e300: T = 1e300 + 0.8 rounds to 1e300
                assert float(finite_inputs.min()) <= T <= float(finite_inputs.max()) * (1 + 1e-15) + 50, T
            else:
                u_T = float(membrane_potential(torch.tensor([T], dtype=torch.float64), times[b : b + 1], w, params))
                assert abs(u_T - params.threshold) <= tol, ("u(T) != threshold", T, u_T)
                grid = torch.linspace(start, T, 400, dtype=torch.float64)[:-1]
                if grid.numel():
                    u = membrane_potential(grid, times[b : b + 1], w, params)[0, :, 0]
                    assert float(u.max()) < params.threshold + tol, ("crossed before T", T, float(u.max()))


PARAMS = [NeuronParams(), NeuronParams(tau_m=2.0), NeuronParams(tau_m=1.5, tau_s=1.0),
          NeuronParams(tau_m=0.5, threshold=0.3), NeuronParams(tau_m=4.0, g_leak=0.5, e_leak=-0.5, threshold=0.2)]
TIMES = st.one_of(st.floats(-5, 5), st.just(math.inf), st.sampled_from([math.nan, -math.inf, 1e300, -1e300, 1e-300]))
WEIGHTS = st.one_of(st.floats(-3, 3), st.floats(-1e6, 1e6),
                    st.sampled_from([0.0, -0.0, 1e-320, 1e-300, 1e150, 1e200, 1e308, -1e308, math.nan, math.inf]))


@st.composite
def layers(draw):
    batch, n_in, n_out = draw(st.integers(0, 3)), draw(st.integers(0, 5)), draw(st.integers(0, 3))
    clean = draw(st.booleans())  # half the cases without extreme values: mostly answers to check
    t = draw(st.lists(st.floats(-5, 5) if clean else TIMES, min_size=batch * n_in, max_size=batch * n_in))
    w = draw(st.lists(st.floats(-3, 3) if clean else WEIGHTS, min_size=n_in * n_out, max_size=n_in * n_out))
    dtype = draw(st.sampled_from([torch.float64, torch.float32]))
    times = torch.tensor(t, dtype=torch.float64).reshape(batch, n_in).to(dtype)
    weights = torch.tensor(w, dtype=torch.float64).reshape(n_in, n_out).to(dtype)
    return times, weights, draw(st.sampled_from(PARAMS))


@FUZZ
@given(layers())
def test_spike_times_are_right_or_refused_alike(layer):
    times, weights, params = layer
    outcomes = _on_every_backend(lambda: first_spike_times(times, weights, params))
    kind, result = outcomes["torch"]
    if kind == "error":
        return
    assert result.shape == (times.shape[0], weights.shape[1]) and result.dtype == weights.dtype
    assert not torch.isnan(result).any() and not (result == -math.inf).any()
    for other, (_, value) in outcomes.items():
        tol = 1e-9 if weights.dtype == torch.float64 else 1e-3
        same_silent = torch.equal(torch.isinf(result), torch.isinf(value))
        if weights.dtype == torch.float64:
            assert same_silent, (other, result, value)
        if same_silent:
            f = torch.isfinite(result)
            assert torch.allclose(result[f], value[f], rtol=tol, atol=tol), (other, result, value)
    if weights.dtype == torch.float64:
        _check_against_potential(times, weights, params, result)


@FUZZ
@given(st.integers(-320, 308), st.integers(1, 4), st.floats(0, 30), st.sampled_from(PARAMS),
       st.sampled_from([torch.float64, torch.float32]))
def test_weight_magnitudes_from_tiny_to_overflow(exponent, n_in, t_last, params, dtype):
    """Defect 5's class: every weight scale, inputs spread up to t = 400."""
    weights = torch.full((n_in, 2), 10.0**exponent if exponent > -308 else 5e-324, dtype=torch.float64)
    weights[:, 1] *= -1
    times = torch.linspace(0.0, t_last, n_in, dtype=torch.float64)[None]
    outcomes = _on_every_backend(lambda: first_spike_times(times.to(dtype), weights.to(dtype), params))
    kind, result = outcomes["torch"]
    if kind == "ok":
        assert math.isinf(float(result[0, 1])), result  # negative weights never fire
        T = float(result[0, 0])
        assert math.isinf(T) or 0.0 <= T <= t_last + 50 * max(params.tau_m, params.tau_s), result
        if dtype == torch.float64:
            _check_against_potential(times, weights, params, result)


@pytest.mark.parametrize("params, span, backend", [(PARAMS[4], 140.0, "torch"), (PARAMS[4], 140.0, "native"),
                                                   (PARAMS[2], 120.0, "native"), (PARAMS[1], 80.0, "native")])
def test_negative_weights_never_fire_after_a_long_span(backend, params, span):
    if backend not in BACKENDS:
        pytest.skip("no native backend")
    times = torch.tensor([[0.0, span]], dtype=torch.float64)
    weights = torch.full((2, 1), -1000.0, dtype=torch.float64)
    with set_backend(backend):
        kind, result = _outcome(lambda: first_spike_times(times, weights, params))
    assert kind == "ok" and math.isinf(float(result)), result  # silent, and no longer refused either


ODD_VALUES = [None, "1.0", b"1", 1 + 2j, np.complex128(1), True, [1.0], {}, object(), math.nan, math.inf, -math.inf,
              0, -1, 1e-320, 1e308, np.float32(1.5), np.float64(2.0), np.int32(3), torch.tensor(1.5),
              torch.tensor([1.0, 2.0]), np.array(2.0)]


@FUZZ
@given(st.sampled_from(["tau_m", "tau_s", "g_leak", "e_leak", "threshold"]),
       st.one_of(st.sampled_from(ODD_VALUES), st.floats(allow_nan=True, allow_infinity=True)))
def test_neuron_params_accept_numbers_and_refuse_the_rest(field, value):
    kind, params = _outcome(lambda: NeuronParams(**{field: value}))
    if kind == "error":
        return
    assert isinstance(getattr(params, field), float) and math.isfinite(getattr(params, field))
    assert getattr(params, field) == float(value)
    times = torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float64)
    weights = torch.tensor([[1.0], [0.7], [-0.2]], dtype=torch.float64)
    outcomes = _on_every_backend(lambda: first_spike_times(times, weights, params))
    if outcomes["torch"][0] == "ok":
        _check_against_potential(times, weights, params, outcomes["torch"][1])


SIZES = st.one_of(st.integers(-2, 6), st.sampled_from([2.7, 3.0, True, None, "3", np.int64(3), np.float64(2.0), 1e9, math.nan]))


@FUZZ
@given(st.lists(SIZES, min_size=0, max_size=4), st.sampled_from(["float64", "float32", "float16", torch.float64, "x"]),
       st.one_of(st.floats(allow_nan=True), st.just(None)))
def test_networks_are_built_right_or_refused(sizes, dtype, bias_time):
    kwargs = {"dtype": dtype} if not isinstance(dtype, str) or dtype != "float64" else {}
    if bias_time is not None:
        kwargs["bias_time"] = bias_time
    kind, network = _outcome(lambda: TTFSNetwork(tuple(sizes), **kwargs))
    if kind == "error":
        return
    assert network.sizes == tuple(int(s) for s in sizes) and all(isinstance(s, int) and s >= 1 for s in network.sizes)
    x = torch.rand(3, network.sizes[0], dtype=torch.float64) * 2
    outcomes = _on_every_backend(lambda: network(x))
    if outcomes["torch"][0] == "ok":
        assert outcomes["torch"][1].shape == (3, network.sizes[-1])


@FUZZ
@given(st.one_of(st.sampled_from(ODD_VALUES), st.lists(st.floats(allow_nan=True), max_size=8)),
       st.sampled_from(["times", "weights", "grid"]))
def test_odd_inputs_to_the_functions(value, where):
    times = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    weights = torch.tensor([[1.5], [1.0]], dtype=torch.float64)
    grid = torch.linspace(0, 5, 11, dtype=torch.float64)
    args = {"times": times, "weights": weights, "grid": grid}
    args[where] = value
    if where == "grid":
        kind, u = _outcome(lambda: membrane_potential(args["grid"], times, weights))
        if kind == "ok":
            assert torch.isfinite(u).all() and u.shape[1] == torch.as_tensor(value).numel()
    else:
        _on_every_backend(lambda: first_spike_times(args["times"], args["weights"]))


# ------------------------------------------------------------------------------ checkpoints
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(3)
    network = TTFSNetwork((4, 6, 3))
    path = checkpoint.save(tmp_path_factory.mktemp("ckpt") / "net.pt", network)
    return path.read_bytes(), checkpoint.network_to_dict(network)


def _foreign(kind: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    if kind == "pickle":
        pickle.dump({"format": "ttfs-lab-checkpoint", "version": 3, "network": list(rng.random(3))}, buffer)
    elif kind == "torch":
        torch.save({"format": "ttfs-lab-checkpoint", "version": int(rng.integers(0, 5)),
                    "network": {"sizes": [4, int(rng.integers(-1, 4)), 3]}, "digest": "sha256:00"}, buffer)
    elif kind == "zip":
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("archive/data.pkl", rng.bytes(64))
            z.writestr("archive/version", "3\n")
    elif kind == "json":
        buffer.write(b'{"format": "ttfs-lab-checkpoint", "version": 3, "weights": [1e999, NaN')
    else:
        buffer.write(rng.bytes(int(rng.integers(0, 300))))
    return buffer.getvalue()


@FUZZ
@given(st.sampled_from(["flip", "truncate", "append", "zero", "pickle", "torch", "zip", "json", "random"]),
       st.integers(0, 2**31), st.integers(0, 7))
def test_damaged_checkpoints_are_refused_or_load_unchanged(saved, tmp_path_factory, damage, position, bit):
    original, expected = saved
    data = bytearray(original)
    if damage == "flip":
        data[position % len(data)] ^= 1 << bit
    elif damage == "truncate":
        data = data[: position % len(data)]
    elif damage == "append":
        data += bytes([bit]) * (1 + position % 64)
    elif damage == "zero":
        start = position % len(data)
        data[start : start + 16] = bytes(len(data[start : start + 16]))
    else:
        data = bytearray(_foreign(damage, position))
    path = tmp_path_factory.mktemp("damaged") / "net.pt"
    path.write_bytes(bytes(data))
    kind, loaded = _outcome(lambda: checkpoint.load(path))
    if kind == "error":
        assert isinstance(loaded, checkpoint.CheckpointError) and str(path) in str(loaded), loaded
        assert "\n" not in str(loaded).strip()
        return
    got = checkpoint.network_to_dict(loaded[0])  # loaded: only if nothing that matters changed
    assert got["sizes"] == expected["sizes"] and got["params"] == expected["params"]
    assert all(torch.equal(a, b) for a, b in zip(got["weights"], expected["weights"]))
