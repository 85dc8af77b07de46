"""Checkpoints: a network, its parameters and (optionally) the training state, in one file.

Format (version 3): a ``torch.save`` of a plain dict holding only tensors, numbers, strings,
lists and dicts, so that it loads with ``torch.load(weights_only=True)`` -- no arbitrary
Python objects are unpickled:

    {"format": "ttfs-lab-checkpoint", "version": 3,
     "network": {"sizes": [...], "params": {tau_m, tau_s, g_leak, e_leak, threshold},
                 "bias_time": float, "dtype": "float64", "weights": [Tensor, ...],
                 "delays": None | {"kind": "synaptic" | "axonal", "values": [Tensor, ...]}},
     "training": None | {...},          # see ttfs_lab.train.Trainer.state_dict
     "digest": "sha256:<64 hex digits>"}

The digest is the SHA-256 of every other entry, fed in a fixed order (``payload_digest``:
type tags, lengths, dict keys sorted, tensors as dtype + shape + raw bytes), so a single
flipped bit in a weight, a counter or the configuration makes the file fail to load with a
clear message instead of loading a silently different network. Version 3 added "delays"
(learned delays, ttfs_lab.delays: per layer [n_in + 1, n_out] synaptic or [n_in + 1] axonal,
finite and >= 0; None for a network without); with delays, the training state's parameter
lists (best_weights, average_weights) hold each layer's weights then its delays. Version 2
files (no "delays") and version 1 files (no digest either) still load. Every field is validated on load (types, finiteness, shapes) and a problem names
the field, e.g. ``network.bias_time``.

A later version (e.g. one that stores more per layer) adds its fields to the validators below
and to READABLE_VERSIONS; the digest covers whatever the payload holds.

Saves are atomic: written to a temporary file in the same folder, then renamed over the
target, so a crash never leaves a half-written checkpoint and never destroys the old one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import struct
from pathlib import Path

import torch

from .atomic import atomic_write
from .delays import KINDS as DELAY_KINDS
from .delays import DelayedTTFSNetwork
from .network import TTFSNetwork
from .params import NeuronParams

FORMAT = "ttfs-lab-checkpoint"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # 2: no "delays"; 1: no digest either
DIGEST_ALGORITHM = "sha256"
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


class CheckpointError(ValueError):
    """The file is not a readable ttfs-lab checkpoint."""


def _first_sentence(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text.split(". ")[0][:160]


# ------------------------------------------------------------------------------- digest
def payload_digest(payload: dict) -> str:
    """``"sha256:<hex>"`` of every entry of ``payload`` except "digest" (order-independent
    for dict keys; tensors by dtype, shape and bytes, so it survives a save/load round trip)."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != "digest"})
    return f"{DIGEST_ALGORITHM}:{h.hexdigest()}"


def _feed(h, obj):
    """Feed ``obj`` into hash ``h`` unambiguously: a type tag, then lengths before contents."""
    if obj is None:
        h.update(b"N")
    elif isinstance(obj, bool):
        h.update(b"T" if obj else b"F")
    elif isinstance(obj, int):
        text = str(obj).encode()
        h.update(b"I%d:" % len(text) + text)
    elif isinstance(obj, float):
        h.update(b"D" + struct.pack("<d", obj))
    elif isinstance(obj, str):
        data = obj.encode("utf-8", "surrogatepass")
        h.update(b"S%d:" % len(data) + data)
    elif isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"X{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, (list, tuple)):
        h.update(b"%s%d:" % (b"L" if isinstance(obj, list) else b"U", len(obj)))
        for item in obj:
            _feed(h, item)
    elif isinstance(obj, dict):
        h.update(b"M%d:" % len(obj))
        keyed = []
        for key, value in obj.items():
            key_hash = hashlib.sha256()
            _feed(key_hash, key)
            keyed.append((key_hash.digest(), key, value))
        for _, key, value in sorted(keyed, key=lambda item: item[0]):
            _feed(h, key)
            _feed(h, value)
    else:
        raise CheckpointError(f"a checkpoint cannot hold a {type(obj).__name__} ({obj!r:.60})")


# ---------------------------------------------------------------------------- network
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
    """The network described by a checkpoint's "network" entry (validated first)."""
    check_network_dict(d)
    params, dtype = NeuronParams(**d["params"]), _DTYPES[d["dtype"]]
    if d.get("delays") is not None:
        delays = d["delays"]
        return DelayedTTFSNetwork.from_weights_and_delays(
            d["weights"], delays["values"], kind=delays["kind"], params=params, bias_time=d["bias_time"], dtype=dtype,
        )
    return TTFSNetwork.from_weights(d["weights"], params=params, bias_time=d["bias_time"], dtype=dtype)


def _fail(field: str, problem: str):
    raise CheckpointError(f"{field} {problem}")


def _require_dict(value, field: str, keys=()) -> dict:
    if not isinstance(value, dict):
        _fail(field, f"must be a dict, got {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        _fail(field, f"lacks {', '.join(map(repr, missing))}")
    return value


def _require_int(value, field: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(field, f"must be an integer, got {value!r:.60} ({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"[{minimum if minimum is not None else '-inf'}, {maximum if maximum is not None else 'inf'}]"
        _fail(field, f"must lie in {bounds}, got {value}")
    return value


def _require_real(value, field: str, finite: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(field, f"must be a number, got {value!r:.60} ({type(value).__name__})")
    if finite and not math.isfinite(value):
        _fail(field, f"must be finite, got {value!r}")
    return float(value)


def _require_matrix(value, field: str, shape: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        _fail(field, f"must be a tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        _fail(field, f"must hold floating-point numbers, got {value.dtype}")
    if tuple(value.shape) != shape:
        _fail(field, f"has shape {tuple(value.shape)}, expected {shape} (from network.sizes)")
    if not torch.isfinite(value).all():
        _fail(field, "contains NaN or inf")
    return value


def _layer_shapes(sizes) -> list[tuple[int, int]]:
    return [(n_in + 1, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def _require_matrices(value, field: str, sizes, shapes=None) -> list:
    shapes = _layer_shapes(sizes) if shapes is None else shapes
    if not isinstance(value, (list, tuple)):
        _fail(field, f"must be a list of {len(shapes)} weight matrices, got {type(value).__name__}")
    if len(value) != len(shapes):
        _fail(field, f"holds {len(value)} matrices, expected {len(shapes)} (one per layer of network.sizes)")
    for i, (w, shape) in enumerate(zip(value, shapes)):
        _require_matrix(w, f"{field}[{i}]", shape)
    return list(value)


def check_network_dict(d) -> None:
    """Validate a checkpoint's "network" entry; CheckpointError naming the field otherwise."""
    _require_dict(d, "network", ("sizes", "params", "bias_time", "dtype", "weights"))
    sizes = d["sizes"]
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
        _fail("network.sizes", f"must be a list of at least two layer sizes, got {sizes!r:.60}")
    for i, size in enumerate(sizes):
        _require_int(size, f"network.sizes[{i}]", minimum=1)
    params = _require_dict(d["params"], "network.params")
    fields = {f.name for f in dataclasses.fields(NeuronParams)}
    unknown = sorted(set(params) - fields, key=str)
    if unknown:
        _fail("network.params", f"has unknown fields {unknown}; NeuronParams has {sorted(fields)}")
    for name, value in params.items():
        _require_real(value, f"network.params.{name}")
    try:
        NeuronParams(**params)
    except ValueError as error:
        _fail("network.params", f"are invalid: {error}")
    _require_real(d["bias_time"], "network.bias_time")
    if d["dtype"] not in _DTYPES:
        _fail("network.dtype", f"must be one of {sorted(_DTYPES)}, got {d['dtype']!r:.60}")
    _require_matrices(d["weights"], "network.weights", sizes)
    _check_delays_entry(d.get("delays"), sizes)


def _delay_shapes(kind, sizes) -> list[tuple[int, ...]]:
    return [shape if kind == "synaptic" else shape[:1] for shape in _layer_shapes(sizes)]


def _check_delays_entry(delays, sizes) -> None:
    """network.delays: None, or {"kind", "values"} with one finite, >= 0 tensor per layer."""
    if delays is None:
        return
    _require_dict(delays, "network.delays", ("kind", "values"))
    if delays["kind"] not in DELAY_KINDS:
        _fail("network.delays.kind", f"must be one of {DELAY_KINDS}, got {delays['kind']!r:.60}")
    values = _require_matrices(delays["values"], "network.delays.values", sizes, _delay_shapes(delays["kind"], sizes))
    for i, d in enumerate(values):
        if bool((d < 0).any()):
            _fail(f"network.delays.values[{i}]", f"must be >= 0 (delays cannot be negative), smallest is {float(d.min()):.4g}")


def _parameter_shapes(network: dict) -> list[tuple[int, ...]]:
    """Shapes of network.parameters() in order: weights, or per layer weights then delays."""
    weights = _layer_shapes(network["sizes"])
    delays = network.get("delays")
    if delays is None:
        return weights
    return [shape for pair in zip(weights, _delay_shapes(delays["kind"], network["sizes"])) for shape in pair]


# --------------------------------------------------------------------- training state
def check_training_dict(t, sizes, version: int = VERSION, parameter_shapes=None) -> None:
    """Validate a checkpoint's "training" entry (None or Trainer.state_dict()) against the
    network's sizes. Version 2 files hold every field the trainer writes; version 1 files are
    checked for the fields they have."""
    if t is None:
        return
    from .train.config import TrainConfig  # here: the trainer imports this module

    required = ("config",) if version < 2 else (
        "config", "epoch", "step", "optimizer", "scheduler", "generator", "bump_value", "last_bumped_layer",
        "order", "batch_index", "epoch_stats", "history", "best_validation_accuracy", "best_weights",
    )
    _require_dict(t, "training", required)
    _require_dict(t["config"], "training.config")
    try:
        config = TrainConfig.from_dict(t["config"])
    except (TypeError, ValueError, KeyError) as error:
        _fail("training.config", f"is invalid: {error}")
    if list(config.sizes) != list(sizes):
        _fail("training.config", f"describes a {'-'.join(map(str, config.sizes))} network, "
                                 f"but network.sizes is {'-'.join(map(str, sizes))}")
    n_layers = len(sizes) - 1
    for name in ("epoch", "step", "batch_index"):
        if name in t:
            _require_int(t[name], f"training.{name}", minimum=0)
    if "last_bumped_layer" in t:
        _require_int(t["last_bumped_layer"], "training.last_bumped_layer", minimum=-1, maximum=n_layers - 1)
    if "bump_value" in t and not _require_real(t["bump_value"], "training.bump_value") > 0:
        _fail("training.bump_value", f"must be positive, got {t['bump_value']!r}")
    if "best_validation_accuracy" in t:
        _require_real(t["best_validation_accuracy"], "training.best_validation_accuracy")
    for name in ("optimizer", "scheduler", "epoch_stats", "history"):
        if name in t:
            _require_dict(t[name], f"training.{name}")
    for name, values in t.get("history", {}).items():
        if not isinstance(values, list) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            _fail(f"training.history.{name}", "must be a list of numbers")
    if "generator" in t:
        g = t["generator"]
        if not isinstance(g, torch.Tensor) or g.dtype is not torch.uint8 or g.dim() != 1:
            _fail("training.generator", "must be a 1-D uint8 tensor (torch.Generator.get_state())")
    order = t.get("order")
    if order is not None:
        if not isinstance(order, torch.Tensor) or order.dtype is not torch.int64 or order.dim() != 1:
            _fail("training.order", "must be None or a 1-D int64 tensor (the epoch's permutation)")
        if order.numel() and int(order.min()) < 0:
            _fail("training.order", "holds negative sample indices")
    for name in ("best_weights", "average_weights"):
        if t.get(name) is not None:
            _require_matrices(t[name], f"training.{name}", sizes, parameter_shapes)


# ----------------------------------------------------------------------- save / load
def save(path, network: TTFSNetwork, training: dict | None = None) -> Path:
    """Write a checkpoint atomically; returns the path."""
    payload = checkpoint_payload(network, training)
    return atomic_write(path, lambda f: torch.save(payload, f))


def checkpoint_payload(network: TTFSNetwork, training: dict | None = None) -> dict:
    """The dict that ``save`` writes, digest included (for writing it yourself, e.g. as part
    of a group of files committed together: ttfs_lab.atomic.AtomicGroup)."""
    payload = {"format": FORMAT, "version": VERSION, "network": network_to_dict(network), "training": training}
    payload["digest"] = payload_digest(payload)
    return payload


def load_dict(path) -> dict:
    """The raw checkpoint dict, validated; raises CheckpointError with the reason."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}" + (" (that is a folder)" if path.is_dir() else ""))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated/foreign files
        raise CheckpointError(
            f"{path} is not a readable ttfs-lab checkpoint (corrupted, truncated or another format): "
            f"{type(error).__name__}{': ' + _first_sentence(error) if _first_sentence(error) else ''}"
        ) from error
    try:
        check_payload(payload)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return payload


def check_payload(payload) -> None:
    """Format marker, version, digest, then every field; CheckpointError otherwise."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"not a ttfs-lab checkpoint (no '{FORMAT}' marker)")
    version = payload.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"checkpoint version {version!r:.40}; this ttfs-lab reads versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    stored = payload.get("digest")
    if version >= 2 and stored is None:
        raise CheckpointError(f"has no digest, which every version-{version} checkpoint carries: it was altered")
    if stored is not None:
        if not isinstance(stored, str) or not stored.startswith(DIGEST_ALGORITHM + ":"):
            raise CheckpointError(f"digest must be a '{DIGEST_ALGORITHM}:...' string, got {stored!r:.60}")
        if payload_digest(payload) != stored:
            raise CheckpointError(
                "is damaged: its contents do not match the SHA-256 digest stored with them (a changed bit, "
                "an edit or a broken copy); refusing to load it. Use a backup or the run's other checkpoint"
            )
    check_network_dict(payload.get("network"))
    if version < 3 and payload["network"].get("delays") is not None:
        _fail("network.delays", f"needs checkpoint version 3, but the file says version {version}")
    network = payload["network"]
    check_training_dict(payload.get("training"), network["sizes"], version, _parameter_shapes(network))


def load(path) -> tuple[TTFSNetwork, dict | None]:
    """(network, training state or None) from a checkpoint file."""
    payload = load_dict(path)
    try:
        return network_from_dict(payload["network"]), payload["training"]
    except ValueError as error:  # e.g. weights too large to compute with (ttfs_lab.validation)
        raise CheckpointError(f"{path}: network {error}") from error
