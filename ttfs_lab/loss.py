"""The paper's loss on output spike times, and accuracy.

    L = -log( exp(-t_{n*}/(xi tau_s)) / sum_k exp(-t_k/(xi tau_s)) ) + alpha (exp(t_{n*}/(beta tau_s)) - 1)

The first term is a cross-entropy on "earlier is more likely": the correct output should
spike first, by a margin set by xi. The second term pulls the correct spike earlier, so the
network answers fast.

``LossParams(kind="margin")`` replaces the cross-entropy by a shift-invariant squared error on
the time differences: every wrong output should spike at least a margin Δ after the correct one,

    L = 1/2 Σ_{k ≠ n*} max(0, Δ − (t_k − t_{n*}))² / τ_s²  + α (exp(t_{n*}/(βτ_s)) − 1)

(with α = 0 it depends on time differences only). Outputs already Δ apart cost nothing, so
the gradient concentrates on the samples still near a decision boundary.

A silent output (t = +inf) has no spike time to differentiate. In the loss it counts as
spiking at ``silent_time`` (a constant, no gradient flows to it): a silent wrong output then
adds almost nothing, a silent correct output costs a lot, and the loss stays finite.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .network import predict_from_times


LOSS_KINDS = ("paper", "margin")


@dataclass(frozen=True)
class LossParams:
    """xi: softmax temperature, alpha/beta: strength/time scale of the early-spike term,
    tau_s: the time unit, silent_time: stand-in time of a silent output (see module doc);
    kind: "paper" (cross-entropy) or "margin" (squared error on time differences, margin
    in units of tau_s; xi is then unused)."""

    xi: float = 0.2
    alpha: float = 0.005
    beta: float = 1.0
    tau_s: float = 1.0
    silent_time: float = 5.0
    kind: str = "paper"
    margin: float = 0.5

    def __post_init__(self):
        if self.kind not in LOSS_KINDS:
            raise ValueError(f"LossParams.kind must be one of {LOSS_KINDS}, got {self.kind!r}")
        if not self.margin > 0:
            raise ValueError(f"LossParams.margin must be positive, got {self.margin!r}")
        for name in ("xi", "beta", "tau_s", "silent_time"):
            if not getattr(self, name) > 0:
                raise ValueError(f"LossParams.{name} must be positive, got {getattr(self, name)!r}")
        if not self.alpha >= 0:
            raise ValueError(f"LossParams.alpha must be >= 0, got {self.alpha!r}")


def spike_time_loss(output_times: torch.Tensor, labels: torch.Tensor, params: LossParams = LossParams()) -> torch.Tensor:
    """Mean paper loss over the batch. output_times [B, C] (+inf allowed), labels [B]."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    if output_times.dim() != 2 or labels.shape != output_times.shape[:1]:
        raise ValueError(
            f"need output_times [B, C] and labels [B]; got {tuple(output_times.shape)} and {tuple(labels.shape)}"
        )
    if torch.isnan(output_times).any():
        raise ValueError("output_times contains NaN")
    if labels.numel() and (labels.min() < 0 or labels.max() >= output_times.shape[1]):
        raise ValueError(f"labels must lie in [0, {output_times.shape[1] - 1}]")
    silent = torch.isinf(output_times)
    # torch.where routes no gradient to the silent entries, so nothing is NaN.
    times = torch.where(silent, torch.full_like(output_times, params.silent_time), output_times)
    t_true = times.gather(1, labels[:, None]).squeeze(1)
    if params.kind == "margin":
        gap = (times - t_true[:, None]) / params.tau_s  # t_k - t_{n*}; 0 for k = n*, masked out
        shortfall = torch.relu(params.margin - gap).masked_fill(F.one_hot(labels, times.shape[1]).bool(), 0.0)
        main = 0.5 * shortfall.pow(2).sum(dim=1)
    else:
        main = F.cross_entropy(-times / (params.xi * params.tau_s), labels, reduction="none")
    early = params.alpha * (torch.exp(t_true / (params.beta * params.tau_s)) - 1.0)
    return (main + early).mean()


def accuracy(output_times: torch.Tensor, labels) -> float:
    """Fraction of samples whose first output spike is the label (all silent = wrong)."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    if len(labels) == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return (predict_from_times(output_times) == labels).double().mean().item()
