"""Data sets and their spike-time encodings.

    features, labels = yin_yang("train")        # features in [0, 1], shape [n, 4]
    features, labels = mnist("train")           # pixel intensities in [0, 1], [n, 256]
    times, labels = load("yin_yang", "train")   # input spike times as in the paper
"""
from .encoding import encode
from .mnist import mnist
from .yinyang import CLASS_NAMES as YIN_YANG_CLASSES
from .yinyang import yin_yang

__all__ = ["encode", "load", "mnist", "yin_yang", "YIN_YANG_CLASSES"]


def load(name, split, **kwargs):
    """(input spike times float64 ndarray, labels int64 ndarray) for a data set.

    Each data set is encoded as in the paper (t_early = 0.15, t_late = 2 in τ_s):
      "yin_yang": t = 0.15 + 1.85 v
      "mnist":    t = 0.15 + 1.85 (1 − v), black pixels (v = 0) never spike (+inf)
    kwargs go to the data set function (size/seed for yin_yang, size/root for mnist).
    The bias spike is not included; the network adds it.
    """
    if name == "yin_yang":
        features, labels = yin_yang(split, **kwargs)
        return encode(features), labels
    if name == "mnist":
        features, labels = mnist(split, **kwargs)
        return encode(features, invert=True, silent_zero=True), labels
    raise ValueError(f"unknown data set {name!r}; valid names: 'yin_yang', 'mnist'")
