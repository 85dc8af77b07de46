"""Training configuration: one frozen record, plus named presets."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..loss import LossParams
from ..params import NeuronParams

DATASETS = ("yin_yang", "mnist")
DTYPES = ("float64", "float32")
SILENT_OUTPUTS = ("any", "label")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the paper's Yin-Yang protocol by default).

    The defaults follow SPEC §2 and, where it is silent, the authors' code (fastAndDeep,
    experiment_configs/yin_yang.yaml with src/training.py and src/utils.py):

    - data: 5000/1000/1000 samples (seeds 42/41/40), t = 0.15 + 1.85 v, one bias spike at
      0.9 per layer; mini-batches of 150 drawn by a fresh shuffle every epoch, the last
      (50 samples) kept; no input noise for Yin-Yang; float64.
    - init: normal, mean 1.5 / std 0.8 (hidden), 0.5 / 0.8 (output), bias row included.
    - loss: SPEC §2 (theirs adds alpha e^t without the constant -1: same gradients). It is
      only ever evaluated with all outputs spiking, since any silent output means a bump.
    - bumping: per layer, the fraction of silent (sample, neuron) pairs against
      [0.3 hidden, 0.0 output]; only the first layer over its limit is bumped, all incoming
      weights (bias row too) of every neuron silent for any sample, by 0.0005, doubled while
      consecutive batches bump the same layer, reset by any batch that does not bump; a bump
      batch makes no gradient step but counts for the training accuracy.
    - ``max_dw_norm`` = 0.2: their backward pass drops the weight update of one sample for
      one neuron when its largest entry exceeds 0.2 (near-tangential threshold crossings),
      in every layer, and passes the error on unchanged (ttfs_lab.train.clipping). None
      turns it off (plain exact gradients).
    - Adam (lr 0.005, default betas), StepLR x0.95 every 20 epochs stepped once per epoch;
      validation after every epoch; the result is the network after the last epoch (they
      select nothing), evaluated on the test split.
    Not reproduced: their torch/numpy seeds (2000/12345) and their eps = 1e-6 in the
    Lambert-W argument; we seed per run (``seed``: init; ``seed + 1``: shuffling, noise).

    Silent neurons: when in a batch more than ``max_silent_hidden`` of the (sample, neuron)
    pairs of a hidden layer (``max_silent_output`` of the output layer) are silent, the
    incoming weights of that layer's silent neurons are raised by ``bump`` ("weight
    bumping"), doubling while the same layer keeps needing it. With ``skip_step_on_bump``
    (the paper) that batch makes no gradient step.

    ``silent_outputs``: which silent output neurons count for bumping. "any" (the paper):
    every silent (sample, output) pair. "label": only a silent correct output; a wrong output
    that stays silent is the loss's ideal (infinitely late: softmax probability 0), so the
    paper's rule keeps fighting the loss (about 3 in 4 of its batches are bumps).

    ``weight_average`` = d > 0: keep an exponential moving average of the weights over the
    batches (avg <- d avg + (1 - d) w; 1/(1 - d) batches long); validation, keep_best and the
    final network use the average, which smooths the kicks of bumps and noisy steps.

    ``keep_best``: at the end of run(), return to the weights of the epoch with the best
    validation accuracy (model selection on the validation split; the test split is untouched).

    ``init``: per-layer (mean, std) of the normal weight initialisation; None = the paper's
    Yin-Yang values (ttfs_lab.network.HIDDEN_INIT / OUTPUT_INIT).
    """

    dataset: str = "yin_yang"
    hidden: tuple[int, ...] = (120,)
    epochs: int = 300
    batch_size: int = 150
    lr: float = 0.005
    lr_step: int = 20
    lr_gamma: float = 0.95
    seed: int = 0
    dtype: str = "float64"
    input_noise: float = 0.0
    neuron: NeuronParams = field(default_factory=NeuronParams)
    bias_time: float = 0.9
    loss: LossParams = field(default_factory=LossParams)
    max_dw_norm: float | None = 0.2
    max_silent_hidden: float = 0.3
    max_silent_output: float = 0.0
    silent_outputs: str = "any"
    weight_average: float = 0.0
    bump: float = 0.0005
    skip_step_on_bump: bool = True
    keep_best: bool = False
    init: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {DATASETS}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; choose one of {DTYPES}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.init is not None:
            init = tuple(tuple(float(v) for v in mean_std) for mean_std in self.init)
            if len(init) != len(self.hidden) + 1 or any(len(m) != 2 or not m[1] >= 0 for m in init):
                raise ValueError(f"init needs one (mean, std >= 0) per layer ({len(self.hidden) + 1}), got {self.init!r}")
            object.__setattr__(self, "init", init)
        for name in ("epochs", "batch_size", "lr_step"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden layer sizes must be positive, got {self.hidden}")
        for name in ("lr", "lr_gamma"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be positive and finite, got {getattr(self, name)!r}")
        if not 0 <= self.input_noise < math.inf:
            raise ValueError(f"input_noise must be finite and >= 0, got {self.input_noise!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= 2**63 - 2:
            raise ValueError(f"seed must be an integer in [0, 2**63 - 2], got {self.seed!r}")
        if self.silent_outputs not in SILENT_OUTPUTS:
            raise ValueError(f"silent_outputs must be one of {SILENT_OUTPUTS}, got {self.silent_outputs!r}")
        if not 0.0 <= self.weight_average < 1.0:
            raise ValueError(f"weight_average must lie in [0, 1), got {self.weight_average!r}")
        if self.max_dw_norm is not None and not self.max_dw_norm > 0:
            raise ValueError(f"max_dw_norm must be positive or None, got {self.max_dw_norm!r}")

    @property
    def n_inputs(self) -> int:
        return 4 if self.dataset == "yin_yang" else 256

    @property
    def n_classes(self) -> int:
        return 3 if self.dataset == "yin_yang" else 10

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n_inputs, *self.hidden, self.n_classes)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict (JSON- and weights_only-safe)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        if self.init is not None:
            d["init"] = [list(mean_std) for mean_std in self.init]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        if "neuron" in d:
            d["neuron"] = NeuronParams(**d["neuron"])
        if "loss" in d:
            d["loss"] = LossParams(**d["loss"])
        return cls(**d)


PRESETS = {
    # SPEC §2: the paper's Yin-Yang protocol (published: 95.9 +- 0.7 %). Measured, 300 epochs, test
    # accuracy of the last epoch: seeds 0-4 96.2/95.4/94.7/96.1/96.5 % (mean 95.8 %); seeds 5-14
    # 96.4/94.4/97.5/95.4/96.5/92.1/95.8/93.1/96.9/96.0 %; all 15: mean 95.5 %, std 1.4, 4 below 95 %.
    # The low ones (seeds 6, 10, 12) had reached 96.2-97.1 % validation accuracy in earlier epochs
    # and ended at 92.1-94.2 %: the weight bumps (about 3 in 4 batches to the end) can kick a good
    # network off, and the protocol keeps the last epoch.
    "paper": TrainConfig(),
    # The paper's protocol with a gentler treatment of silent neurons and a wider hidden layer:
    # every batch makes its gradient step (the paper skips the ~75 % of batches that bump) while
    # silent neurons are still bumped, up to 5 % silent (sample, output) pairs pass without a
    # bump, the learning rate decays faster (x0.85 every 20 epochs, 4.4e-4 at the end), 200
    # hidden neurons instead of 120, and the epoch with the best validation accuracy is kept
    # (the test split is never looked at). Chosen by validation accuracy (seeds 0-1, 300 epochs:
    # 200 hidden 98.1/98.0 %; 120 hidden 97.6/98.2 %; batch 50: 97.8/97.5 %; tolerating 50 %
    # silent hidden and 20 % silent output pairs: 92.3 %). Measured, 5 seeds x 300 epochs, test:
    # 97.2/97.4/98.3/97.6/98.5 %, mean 97.8 % (validation 98.1/98.0/98.0/98.9/98.3 %), about
    # 95 s CPU per run; the paper preset: mean 95.8 %. With 120 hidden neurons: 96.9/96.6/96.0/
    # 97.4/97.5 %, mean 96.9 % (500 epochs: 97.1 %). Tried on the way (same or worse, by
    # validation): only silent correct outputs bumped (silent_outputs="label"), tau_m = 2 tau_s,
    # input noise 0.03, weight averaging, max_dw_norm off, the margin loss (5 seeds with 120
    # hidden: test mean 96.7 %, best validation 97.5 %, with half as many bumps).
    "improved": TrainConfig(
        hidden=(200,), skip_step_on_bump=False, keep_best=True, max_silent_output=0.05, lr_gamma=0.85,
    ),
    # 16x16 MNIST, 256-246-10 as on BrainScaleS-2, with the authors' MNIST settings
    # (fastAndDeep experiment_configs/16x16_mnist.yaml): with 256 inputs the Yin-Yang init
    # (mean 1.5) makes every hidden neuron fire on its first few inputs, so the hidden layer
    # starts near 0.1 +- 0.4; up to half of the (sample, neuron) pairs of a layer may stay
    # silent before bumping; batch 50, lr 0.003, input noise 0.3. Their schedule (x0.9 every
    # 10 epochs over 200 epochs) runs twice as fast here (every 5 of 100 epochs). Unlike them,
    # plain exact gradients (max_dw_norm off; not needed to reach 97 %) and the best
    # validation epoch is kept. notebooks/data/README.md has the run and its accuracy.
    "mnist": TrainConfig(
        dataset="mnist", hidden=(246,), epochs=100, batch_size=50, lr=0.003, lr_step=5, lr_gamma=0.9,
        input_noise=0.3, max_silent_hidden=0.5, max_silent_output=0.5, init=((0.1, 0.4), (0.6, 0.8)),
        max_dw_norm=None, keep_best=True,
    ),
}


def preset(name: str, **overrides) -> TrainConfig:
    """A named configuration with some fields changed."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides)
