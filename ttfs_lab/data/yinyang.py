"""The Yin-Yang data set (Kriener et al., 2021), reproduced bit for bit.

Points (x, y) in the unit square, inside a circle of radius r_big = 0.5
centred at (0.5, 0.5), are labelled by which region of a yin-yang symbol
they fall in:

    0  "yin"
    1  "yang"
    2  "dot"   (within r_small = 0.1 of either of the two small dots)

The three classes are balanced by rejection sampling: each sample first draws
its goal class, then draws points until one lands in that class. A shallow
(linear) classifier reaches only about 64 %, so the set needs a hidden layer,
yet it is small enough to train in minutes on a CPU.

Each sample has four features (x, y, 1 - x, 1 - y); the mirrored pair makes
the total input drive independent of the position, which matters for
time-to-first-spike networks where a feature is a spike time.

The published splits use numpy's legacy Mersenne Twister with fixed seeds:
train 5000 samples (seed 42), validation 1000 (seed 41), test 1000 (seed 40).
The order of random draws below mirrors the original code exactly; changing
it (e.g. drawing x and y separately) would give a different data set.
"""
from functools import lru_cache

import numpy as np

R_SMALL = 0.1
R_BIG = 0.5
CLASS_NAMES = ("yin", "yang", "dot")
SPLITS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}


def which_class(x, y, r_small=R_SMALL, r_big=R_BIG):
    """Label of the point (x, y) (assumed inside the big circle).

    With d_r, d_l the distances to the right dot (1.5 r_big, r_big) and the
    left dot (0.5 r_big, r_big):

        2  if d_r < r_small or d_l < r_small
        1  if d_r <= r_small or r_small < d_l <= r_big/2
              or (y > r_big and d_r > r_big/2)
        0  otherwise

    (The original code names the label-1 test `is_yin`, yet lists the classes
    as ['yin', 'yang', 'dot']; we keep the list's names: 0 yin, 1 yang.)
    """
    # np.sqrt on numpy scalars, as in the original, so the rounding is identical.
    d_right = np.sqrt((x - 1.5 * r_big) ** 2 + (y - r_big) ** 2)
    d_left = np.sqrt((x - 0.5 * r_big) ** 2 + (y - r_big) ** 2)
    if d_right < r_small or d_left < r_small:
        return 2
    upper = (
        d_right <= r_small
        or r_small < d_left <= 0.5 * r_big
        or (y > r_big and d_right > 0.5 * r_big)
    )
    return int(upper)


def _sample(rng, goal, r_small, r_big):
    """Draw points until one lies in the big circle and has class `goal`."""
    while True:
        x, y = rng.rand(2) * 2.0 * r_big
        if np.sqrt((x - r_big) ** 2 + (y - r_big) ** 2) > r_big:
            continue
        if which_class(x, y, r_small, r_big) == goal:
            return x, y, goal


@lru_cache(maxsize=32)
def _generate(size, seed):
    rng = np.random.RandomState(seed)
    features = np.empty((size, 4), dtype=np.float64)
    labels = np.empty(size, dtype=np.int64)
    for i in range(size):
        goal = rng.randint(3)  # one draw per sample, before its points: keeps the stream aligned
        x, y, c = _sample(rng, goal, R_SMALL, R_BIG)
        features[i] = (x, y, 1.0 - x, 1.0 - y)
        labels[i] = c
    features.flags.writeable = False
    labels.flags.writeable = False
    return features, labels


def yin_yang(split, size=None, seed=None):
    """Return (features float64 [n, 4], labels int64 [n]) for one split.

    split: "train" (5000 samples, seed 42), "validation" (1000, seed 41) or
    "test" (1000, seed 40); `size` and `seed` override the defaults. With the
    defaults the arrays equal the published data set exactly.
    Results are cached; each call returns fresh copies you may modify.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown Yin-Yang split {split!r}; valid splits: {', '.join(SPLITS)}")
    default_size, default_seed = SPLITS[split]
    size = default_size if size is None else size
    seed = default_seed if seed is None else seed
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    features, labels = _generate(int(size), int(seed))
    return features.copy(), labels.copy()
