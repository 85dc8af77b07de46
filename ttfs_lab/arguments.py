"""Command-line value types: a bad value is refused while the arguments are parsed, in one line.

argparse calls these on the option's text; an ArgumentTypeError becomes
``python -m ttfs_lab train: error: argument --lr: must be a finite number in (0, 1], got inf``
and exit code 2, before any data is loaded or any training starts. Every number is checked
for what can work: finite (no nan/inf), whole where a count is meant, inside its range.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

# torch.Generator.manual_seed takes 64-bit seeds and the trainer also uses seed + 1.
MAX_SEED = 2**63 - 2


def _interval(low, high, low_open: bool) -> str:
    left = "(" if low_open else "["
    return f"{left}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"


def integer(minimum: int | None = None, maximum: int | None = None):
    """An argparse type: a whole number in [minimum, maximum] ("1e23" and "2.5" are refused)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            if maximum is None:
                raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text}")
            raise argparse.ArgumentTypeError(f"must be a whole number in [{minimum}, {maximum}], got {text}")
        return value

    parse.__name__ = "integer"
    return parse


def real(minimum: float | None = None, maximum: float | None = None, above: bool = False):
    """An argparse type: a finite number in [minimum, maximum] (``above``: minimum excluded)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        in_range = (
            math.isfinite(value)
            and (minimum is None or (value > minimum if above else value >= minimum))
            and (maximum is None or value <= maximum)
        )
        if not in_range:
            raise argparse.ArgumentTypeError(
                f"must be a finite number in {_interval(minimum, maximum, above)}, got {text}"
            )
        return value

    parse.__name__ = "real"
    return parse


# The options' ranges, shared by every command that has them.
positive_count = integer(1, 1_000_000)      # epochs, batch size, runs
layer_size = integer(1, 100_000)            # neurons in one hidden layer
seed = integer(0, MAX_SEED)
learning_rate = real(0.0, 1.0, above=True)  # Adam: 1e-4 .. 1e-2 in practice; > 1 never converges
fraction = real(0.0, 1.0)
# Std of the input-time noise in tau_s. The inputs span 0.15-2 tau_s: noise beyond 10 tau_s
# only drowns them (and spreads the times past what float32 can represent).
input_noise = real(0.0, 10.0)


def folder(text: str) -> Path:
    """An argparse type: a folder name (an empty one would silently mean the working folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a folder, got {text!r}")
    return Path(text)


def file(text: str) -> Path:
    """An argparse type: a file name (not empty)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a file, got {text!r}")
    return Path(text)
