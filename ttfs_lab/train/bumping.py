"""Weight bumping: how the paper revives silent neurons.

A silent neuron has no spike time and therefore no gradient, so gradient descent alone can
never bring it back. Instead, when too many neurons of a layer are silent, we raise the
weights onto the neurons that were silent for some sample of the batch.
"""
from __future__ import annotations

import torch


def layer_needing_bump(layer_times, tolerances) -> int | None:
    """Index of the first layer whose fraction of silent (sample, neuron) pairs exceeds its
    tolerance, or None. Earlier layers first: their silence starves the later ones."""
    for i, (times, tolerance) in enumerate(zip(layer_times, tolerances)):
        # count / n in Python double: the same number as a float64 mean, with fewer tensor ops
        if torch.count_nonzero(torch.isinf(times)).item() / max(1, times.numel()) > tolerance:
            return i
    return None


@torch.no_grad()
def bump_silent_neurons(weight: torch.Tensor, times: torch.Tensor, amount: float) -> int:
    """Add ``amount`` to all incoming weights of neurons silent for any sample; returns
    how many neurons were bumped."""
    silent = torch.isinf(times).any(dim=0)
    # one broadcast add instead of a masked index: adding 0.0 leaves the other columns as they are
    weight += silent.to(weight.dtype) * amount
    return int(silent.sum())
