"""Checkpoints: a network, its parameters and (optionally) the training state, in one file.

Format (version 2): a ``torch.save`` of a plain dict holding only tensors, numbers, strings,
lists and dicts, so that it loads with ``torch.load(weights_only=True)`` -- no arbitrary
Python objects are unpickled:

    {"format": "ttfs-lab-checkpoint", "version": 2,
     "network": {"sizes": [...], "params": {tau_m, tau_s, g_leak, e_leak, threshold},
                 "bias_time": float, "dtype": "float64", "weights": [Tensor, ...],
                 "delays": None | {"kind": "synaptic" | "axonal", "values": [Tensor, ...]}},
     "training": None | {...}}          # see ttfs_lab.train.Trainer.state_dict

Version 2 added "delays" (learned delays, ttfs_lab.delays; None for a network without).
Version 1 files (no "delays" key) still load, as networks without delays.

Saves are atomic: written to a temporary file in the same folder, then renamed over the
target, so a crash never leaves a half-written checkpoint and never destroys the old one.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .atomic import atomic_write
from .delays import DelayedTTFSNetwork
from .network import TTFSNetwork
from .params import NeuronParams

FORMAT = "ttfs-lab-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


class CheckpointError(ValueError):
    """The file is not a readable ttfs-lab checkpoint."""


def _first_sentence(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text.split(". ")[0][:160]


def network_to_dict(network: TTFSNetwork) -> dict:
    return {
        "sizes": list(network.sizes),
        "params": dataclasses.asdict(network.params),
        "bias_time": network.bias_time,
        "dtype": str(network.dtype).removeprefix("torch."),
        "weights": network.weights(),
        "delays": {"kind": network.kind, "values": network.delays()} if isinstance(network, DelayedTTFSNetwork) else None,
    }


def network_from_dict(d: dict) -> TTFSNetwork:
    dtype = _DTYPES[d["dtype"]]
    params = NeuronParams(**d["params"])
    delays = d.get("delays")
    if delays is None:
        net = TTFSNetwork.from_weights(d["weights"], params=params, bias_time=d["bias_time"], dtype=dtype)
    else:
        net = DelayedTTFSNetwork.from_weights_and_delays(
            d["weights"], delays["values"], kind=delays["kind"], params=params, bias_time=d["bias_time"], dtype=dtype,
        )
    if list(net.sizes) != list(d["sizes"]):
        raise CheckpointError(f"weights give sizes {net.sizes} but the checkpoint says {d['sizes']}")
    return net


def save(path, network: TTFSNetwork, training: dict | None = None) -> Path:
    """Write a checkpoint atomically; returns the path."""
    payload = {"format": FORMAT, "version": VERSION, "network": network_to_dict(network), "training": training}
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_dict(path) -> dict:
    """The raw checkpoint dict, validated; raises CheckpointError with the reason."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated/foreign files
        raise CheckpointError(
            f"{path} is not a readable ttfs-lab checkpoint (corrupted, truncated or another format): "
            f"{type(error).__name__}: {_first_sentence(error)}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ttfs-lab checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')!r}; this ttfs-lab reads versions {READABLE_VERSIONS}"
        )
    if payload.get("version") == 1 and "delays" in payload.get("network", {}):
        raise CheckpointError(f"{path} is a version 1 checkpoint with a 'delays' field (delays need version 2)")
    try:
        network_from_dict(payload["network"])
    except CheckpointError:
        raise
    except Exception as error:
        raise CheckpointError(f"{path} holds an invalid network: {error}") from error
    return payload


def load(path) -> tuple[TTFSNetwork, dict | None]:
    """(network, training state or None) from a checkpoint file."""
    payload = load_dict(path)
    return network_from_dict(payload["network"]), payload["training"]
