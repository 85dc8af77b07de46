"""Thin torch modules around first_spike_times: a layer and a feed-forward network.

Every layer receives, besides its regular inputs, one bias spike at ``bias_time`` whose
weight is the last row of the layer's weight matrix (SPEC §2).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from . import native
from .params import NeuronParams
from .spike_times import first_spike_times
from .validation import InputTypeError, real_number, real_tensor, whole_number

# Weight initialisation of the paper (mean, std) for hidden layers and for the output layer.
HIDDEN_INIT = (1.5, 0.8)
OUTPUT_INIT = (0.5, 0.8)


def append_bias_spike(input_times: torch.Tensor, bias_time: float) -> torch.Tensor:
    """[B, N] -> [B, N + 1] with the bias spike as the last input."""
    bias = torch.full_like(input_times[:, :1], bias_time)
    return torch.cat([input_times, bias], dim=1)


class TTFSLayer(nn.Module):
    """Fully connected layer of LIF neurons that each fire at most once.

    weight: Parameter [n_in + 1, n_out]; the last row belongs to the bias spike.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        params: NeuronParams = NeuronParams(),
        bias_time: float = 0.9,
        init: tuple[float, float] = HIDDEN_INIT,
        dtype: torch.dtype = torch.float64,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        n_in, n_out = whole_number(n_in, "n_in"), whole_number(n_out, "n_out")
        if n_in < 1 or n_out < 1:
            raise ValueError(f"a layer needs at least one input and one output, got {n_in} -> {n_out}")
        if not isinstance(params, NeuronParams):
            raise InputTypeError(f"params must be a NeuronParams, got {type(params).__name__}")
        self.params = params
        self.bias_time = real_number(bias_time, "bias_time")
        mean, std = init
        weight = torch.randn(n_in + 1, n_out, dtype=dtype, generator=generator) * std + mean
        self.weight = nn.Parameter(weight)

    @property
    def n_in(self) -> int:
        return self.weight.shape[0] - 1

    @property
    def n_out(self) -> int:
        return self.weight.shape[1]

    def forward(self, input_times: torch.Tensor) -> torch.Tensor:
        input_times = real_tensor(input_times, "input_times", dtype=self.weight.dtype)
        if input_times.dim() != 2 or input_times.shape[1] != self.n_in:
            raise ValueError(
                f"layer expects input times of shape [batch, {self.n_in}], got {tuple(input_times.shape)}"
            )
        input_times = input_times.to(self.weight.dtype)
        with native.serial_glue(input_times, self.weight):  # the bias column too (see there)
            return first_spike_times(append_bias_spike(input_times, self.bias_time), self.weight, self.params)

    def extra_repr(self) -> str:
        return f"{self.n_in} (+1 bias at {self.bias_time}) -> {self.n_out}, {self.params}"


class TTFSNetwork(nn.Module):
    """Feed-forward network of TTFSLayers; the prediction is the output that spikes first.

    Weights start normal with one (mean, std) per layer, ``init``; by default the paper's
    Yin-Yang values (HIDDEN_INIT for hidden layers, OUTPUT_INIT for the output layer).

    >>> net = TTFSNetwork((4, 120, 3), seed=0)
    >>> net(torch.rand(2, 4) + 0.15).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        sizes: Sequence[int] = (4, 120, 3),
        params: NeuronParams = NeuronParams(),
        bias_time: float = 0.9,
        dtype: torch.dtype = torch.float64,
        seed: int | None = None,
        init: Sequence[tuple[float, float]] | None = None,
    ):
        super().__init__()
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise InputTypeError(f"sizes must be a sequence of layer sizes such as (4, 120, 3), got {sizes!r}")
        # 120.0 is fine, 2.7 is an error (int() would silently make it 2)
        sizes = tuple(whole_number(s, f"sizes[{i}]") for i, s in enumerate(sizes))
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output size, got {sizes}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        n_layers = len(sizes) - 1
        if init is None:  # the paper's Yin-Yang initialisation
            init = [HIDDEN_INIT] * (n_layers - 1) + [OUTPUT_INIT]
        init = [tuple(float(v) for v in mean_std) for mean_std in init]
        if len(init) != n_layers or any(len(m) != 2 or not m[1] >= 0 for m in init):
            raise ValueError(f"init needs one (mean, std >= 0) per layer ({n_layers}), got {init}")
        self.layers = nn.ModuleList(
            TTFSLayer(n_in, n_out, params, bias_time, init=init[i], dtype=dtype, generator=generator)
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
        )
        self.params = params
        self.bias_time = self.layers[0].bias_time

    @classmethod
    def from_weights(
        cls,
        weights: Sequence,
        params: NeuronParams = NeuronParams(),
        bias_time: float = 0.9,
        dtype: torch.dtype = torch.float64,
    ) -> "TTFSNetwork":
        """Network with given weight matrices, each [n_in + 1, n_out] with the bias row last."""
        if isinstance(weights, (str, bytes, torch.Tensor)) or not hasattr(weights, "__iter__"):
            raise InputTypeError("from_weights needs a list of weight matrices [n_in + 1, n_out]")
        mats = [real_tensor(w, f"weight matrix {i}", dtype=dtype).clone() for i, w in enumerate(weights)]
        if not mats:
            raise ValueError("from_weights needs at least one weight matrix")
        for i, w in enumerate(mats):
            if w.dim() != 2:
                raise ValueError(f"weight matrix {i} must be 2-D [n_in + 1, n_out], got shape {tuple(w.shape)}")
            if not torch.isfinite(w).all():
                raise ValueError(f"weight matrix {i} contains NaN or inf")
            if i and w.shape[0] != mats[i - 1].shape[1] + 1:
                raise ValueError(
                    f"weight matrix {i} has {w.shape[0]} rows, expected {mats[i - 1].shape[1] + 1} "
                    f"({mats[i - 1].shape[1]} outputs of the previous layer + 1 bias row)"
                )
        sizes = [mats[0].shape[0] - 1] + [w.shape[1] for w in mats]
        net = cls(sizes, params=params, bias_time=bias_time, dtype=dtype, seed=0)
        with torch.no_grad():
            for layer, w in zip(net.layers, mats):
                layer.weight.copy_(w)
        return net

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.layers[0].n_in,) + tuple(layer.n_out for layer in self.layers)

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].weight.dtype

    def weights(self) -> list[torch.Tensor]:
        """Detached copies of the weight matrices (bias row last)."""
        return [layer.weight.detach().clone() for layer in self.layers]

    def spike_times(self, input_times) -> list[torch.Tensor]:
        """[input, hidden_1, ..., output] spike times, each [B, n] (for raster plots)."""
        x = real_tensor(input_times, "input_times", dtype=self.dtype)
        times = [x]
        for layer in self.layers:
            times.append(layer(times[-1]))
        return times

    def forward(self, input_times) -> torch.Tensor:
        return self.spike_times(input_times)[-1]

    @torch.no_grad()
    def predict(self, input_times) -> torch.Tensor:
        """Index of the first output to spike; -1 where every output stays silent."""
        return predict_from_times(self(input_times))


def predict_from_times(output_times: torch.Tensor) -> torch.Tensor:
    """Class = output that spikes first; -1 for samples whose outputs are all silent."""
    first = output_times.argmin(dim=1)
    silent = torch.isinf(output_times).all(dim=1)
    return torch.where(silent, torch.full_like(first, -1), first)
