"""What the interactive views show, computed from the core (no widgets in here).

- ``neuron_response``: one neuron's potential on a time grid, its spike time T and the exact
  gradients dT/dw_i and dT/dt_i (SPEC §1), for the NeuronExplorer;
- ``plane_features`` / ``decision_grid``: a network's class and decision margin over the
  Yin-Yang plane, for the DecisionMap (``decisions_and_outputs``: the same and some data
  points in one forward pass);
- ``layer_potentials``: membrane traces of chosen neurons of a network for one sample.

Everything returns numpy arrays, ready for bqplot marks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .data import encode
from .kernel import membrane_potential
from .network import TTFSNetwork, append_bias_spike, predict_from_times
from .params import NeuronParams
from .spike_times import first_spike_times


@dataclass(frozen=True)
class NeuronResponse:
    """potential [T] on the grid, spike_time (inf if silent), grad_weights [N], grad_times [N]."""

    potential: np.ndarray
    spike_time: float
    grad_weights: np.ndarray
    grad_times: np.ndarray


def neuron_response(input_times, weights, params: NeuronParams, grid) -> NeuronResponse:
    """One neuron with N inputs: u(t) on ``grid``, its first spike time T and

        dT/dw_i = -kappa(T - t_i) / u'(T),    dT/dt_i = w_i kappa'(T - t_i) / u'(T)

    (zero for inputs after T, and all zero for a silent neuron). Raises ValueError for
    mismatched lengths or non-finite values.
    """
    times = torch.as_tensor(np.asarray(input_times, dtype=np.float64))
    w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
    if times.dim() != 1 or w.shape != times.shape or len(times) == 0:
        raise ValueError(f"need equally long, non-empty input times and weights; got {tuple(times.shape)} and {tuple(w.shape)}")
    if not (torch.isfinite(times).all() and torch.isfinite(w).all()):
        raise ValueError("input times and weights must be finite numbers")
    times = times[None].requires_grad_(True)
    w = w[:, None].requires_grad_(True)
    spike = first_spike_times(times, w, params)
    spike.sum().backward()  # a silent neuron passes zero gradients (no NaN)
    grid = torch.as_tensor(np.asarray(grid, dtype=np.float64))
    potential = membrane_potential(grid, times.detach(), w.detach(), params)[0, :, 0]
    return NeuronResponse(potential.numpy(), float(spike.detach()[0, 0]), w.grad[:, 0].numpy(), times.grad[0].numpy())


@lru_cache(maxsize=4)
def plane_features(n: int = 100) -> np.ndarray:
    """Features (x, y, 1 - x, 1 - y) of an n x n grid over the unit square, [n * n, 4].

    Row-major in y: row iy * n + ix is the point (ix / (n - 1), iy / (n - 1)), so a
    result reshaped to [n, n] is indexed [y, x] as heat maps expect. Read-only (cached).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"grid size must be an integer >= 2, got {n!r}")
    axis = np.linspace(0.0, 1.0, n)
    x, y = np.meshgrid(axis, axis)  # [iy, ix]
    features = np.stack([x.ravel(), y.ravel(), 1.0 - x.ravel(), 1.0 - y.ravel()], axis=1)
    features.flags.writeable = False
    return features


@lru_cache(maxsize=4)
def _plane_times(n: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(encode(plane_features(n)), dtype=dtype)


def plane_times(n: int = 100, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Encoded spike times of ``plane_features(n)`` (cached, do not modify)."""
    return _plane_times(n, dtype)


@dataclass(frozen=True)
class Decisions:
    """classes [P] (-1 where every output is silent), margin [P] (time between the first
    and second output spike; inf if only one output spikes, 0 if none), output_times [P, C]."""

    classes: np.ndarray
    margin: np.ndarray
    output_times: np.ndarray


def decisions_from_times(output_times) -> Decisions:
    out = torch.as_tensor(output_times)
    classes = predict_from_times(out)
    if out.shape[1] < 2:
        margin = torch.where(torch.isfinite(out[:, 0]), math.inf, 0.0)
    else:
        first_two = torch.topk(out, 2, dim=1, largest=False).values
        gap = first_two[:, 1] - first_two[:, 0]  # inf - inf = nan when all are silent
        margin = torch.where(torch.isfinite(first_two[:, 0]), gap, torch.zeros_like(gap))
    return Decisions(classes.numpy(), margin.numpy(), out.numpy())


@torch.no_grad()
def decision_grid(network: TTFSNetwork, n: int = 100, forward=None) -> Decisions:
    """The network's decisions on the n x n Yin-Yang plane (see plane_features for the order).

    ``forward(network, input_times) -> output times`` replaces the ideal forward pass, e.g.
    by an emulated chip's.
    """
    x = plane_times(n, network.dtype)
    out = network(x) if forward is None else forward(network, x)
    return decisions_from_times(out)


def refined_times(output_times, n: int, factor: int) -> torch.Tensor:
    """Output times [n * n, C] on the n x n plane grid (plane_features' order) -> times
    [m * m, C] on the m = factor (n - 1) + 1 grid over the same square, bilinear between the
    grid points: at u = (i + a, j + b) / (n - 1) with 0 <= a, b < 1,

        T(u) = (1-a)(1-b) T_ij + a (1-b) T_i+1,j + (1-a) b T_i,j+1 + a b T_i+1,j+1

    (the grid points themselves unchanged). An output silent (inf) at a corner with a
    nonzero weight is silent there too: it cannot win a cell next to where it never fired.
    For a live map drawn from a coarse grid: the class borders run between the grid points
    instead of along the edges of its cells."""
    t = torch.as_tensor(output_times)
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be an integer >= 1, got {factor!r}")
    if t.dim() != 2 or t.shape[0] != n * n:
        raise ValueError(f"need output times [{n} * {n}, C], got {tuple(t.shape)}")
    if factor == 1:
        return t
    grid = t.reshape(n, n, -1)  # [y, x, C]
    silent = torch.isinf(grid).to(t.dtype)
    finite = torch.where(torch.isinf(grid), torch.zeros_like(grid), grid)
    m = factor * (n - 1) + 1
    pos = torch.arange(m, dtype=torch.float64) / factor
    lo = pos.floor().long().clamp(max=n - 2)
    a = (pos - lo).to(t.dtype)

    def along(values, dim):  # linear along one axis of [y, x, C]
        first, second = values.index_select(dim, lo), values.index_select(dim, lo + 1)
        shape = [1, 1, 1]
        shape[dim] = m
        w = a.reshape(shape)
        return first + w * (second - first)

    times = along(along(finite, 0), 1)
    weight_silent = along(along(silent, 0), 1)
    times = torch.where(weight_silent > 0, torch.full_like(times, math.inf), times)
    return times.reshape(m * m, -1)


@torch.no_grad()
def decisions_and_outputs(network: TTFSNetwork, n: int, points, forward=None):
    """One forward pass for the n x n plane and ``points`` (input times [P, 4]) together:
    (decision_grid(network, n, forward), output times of the points [P, C]). A map and the
    accuracy readout beside it share the pass (and its per-call overheads)."""
    grid = plane_times(n, network.dtype)
    x = torch.cat([grid, torch.as_tensor(points).to(network.dtype)])
    out = network(x) if forward is None else forward(network, x)
    return decisions_from_times(out[:len(grid)]), out[len(grid):]


def margin_confidence(margin, xi: float = 0.2) -> np.ndarray:
    """Confidence in [0, 1] from the output margin, in the loss's own terms: the softmax over
    -t / xi gives the winner against the runner-up p = 1 / (1 + exp(-margin / xi)), and
    2 p - 1 = tanh(margin / (2 xi))."""
    return np.tanh(np.asarray(margin, dtype=np.float64) / (2.0 * xi))


@torch.no_grad()
def layer_potentials(network: TTFSNetwork, input_times, layer: int, neurons, grid, layer_times=None):
    """Membrane potentials [T, k] of ``neurons`` in ``layer`` (1 = first hidden layer, ...,
    len(network.layers) = output) for one sample, and their spike times [k].

    ``layer_times`` (the list net.spike_times returns, for this one sample) may be passed to
    show what another substrate (an emulated chip) measured.
    """
    if not 1 <= layer <= len(network.layers):
        raise ValueError(f"layer must be in 1..{len(network.layers)}, got {layer!r}")
    target = network.layers[layer - 1]
    neurons = [int(i) for i in neurons]
    if any(not 0 <= i < target.n_out for i in neurons):
        raise ValueError(f"neuron indices must be in 0..{target.n_out - 1}, got {neurons}")
    if layer_times is None:
        x = torch.as_tensor(np.asarray(input_times, dtype=np.float64), dtype=network.dtype).reshape(1, -1)
        layer_times = network.spike_times(x)
    inputs = append_bias_spike(layer_times[layer - 1], target.bias_time)
    grid = torch.as_tensor(np.asarray(grid, dtype=np.float64), dtype=network.dtype)
    potentials = membrane_potential(grid, inputs, target.weight.detach()[:, neurons], target.params)[0]
    return potentials.numpy(), layer_times[layer][0, neurons].numpy()


def synapse_array(chip, network) -> np.ndarray:
    """The signed 6-bit synapse values of ``network`` mapped onto an emulated BrainScaleS-2
    (ttfs_lab.hardware.BrainScaleS2), as one image [256 synapse rows, 512 neuron circuits];
    nan where a synapse or circuit is unused.

    Placement (the emulator's resource model, not the real chip's router): neurons take
    circuits in order, layer after layer. In a neuron's column, copy j of input i sits in
    rows 2 (j N + i) (excitatory, shown as +value) and 2 (j N + i) + 1 (inhibitory, shown as
    -value); a neuron needing more than 256 rows continues in the next circuit.
    Raises ttfs_lab.hardware.MappingError if the network does not fit.
    """
    from .hardware import bss2

    mapping = chip.map(network)
    rows_per_circuit = bss2.ROWS_PER_CIRCUIT
    image = np.full((rows_per_circuit, bss2.NEURON_CIRCUITS), np.nan)
    column = 0
    for layer, h in zip(mapping.layers, chip.hardware_weights(network)):
        excitatory, inhibitory = bss2.synapse_rows(h, layer.multiplex)  # [k, N, M] each
        k, n, m = excitatory.shape
        rows = torch.stack([excitatory, -inhibitory], dim=2).reshape(k * n * 2, m).numpy()
        for part in range(layer.circuits_per_neuron):
            block = rows[part * rows_per_circuit:(part + 1) * rows_per_circuit]
            # Circuit `part` of neuron j is column column + j * circuits_per_neuron + part.
            image[:len(block), column + part:column + m * layer.circuits_per_neuron:layer.circuits_per_neuron] = block
        column += m * layer.circuits_per_neuron
    return image
