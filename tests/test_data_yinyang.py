"""Yin-Yang data set and the spike-time encoding.

Ground truth: the self-check values of SPEC §3 (from the published data set)
and the test labels stored with the authors' pretrained network.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from ttfs_lab.data import encode, load, yin_yang
from ttfs_lab.data.yinyang import which_class

REFERENCE = Path("/work/shared/reference/yinyang_pretrained_fastanddeep.npz")


def test_train_matches_published_self_check():
    features, labels = yin_yang("train")
    expected0 = [0.680307538588, 0.450499251970, 0.319692461412, 0.549500748030]
    np.testing.assert_allclose(features[0], expected0, rtol=0, atol=5e-13)  # SPEC gives 12 decimals
    assert labels[:10].tolist() == [2, 1, 2, 1, 1, 1, 0, 2, 2, 0]
    assert np.bincount(labels).tolist() == [1681, 1702, 1617]


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference fixture not present")
def test_test_split_labels_match_authors_fixture():
    _, labels = yin_yang("test")
    np.testing.assert_array_equal(labels, np.load(REFERENCE)["test_labels"])


@pytest.mark.parametrize("split,n", [("train", 5000), ("validation", 1000), ("test", 1000)])
def test_shapes_dtypes_and_geometry(split, n):
    features, labels = yin_yang(split)
    assert features.shape == (n, 4) and features.dtype == np.float64
    assert labels.shape == (n,) and labels.dtype == np.int64
    x, y = features[:, 0], features[:, 1]
    np.testing.assert_array_equal(features[:, 2], 1.0 - x)
    np.testing.assert_array_equal(features[:, 3], 1.0 - y)
    assert np.all(np.hypot(x - 0.5, y - 0.5) <= 0.5)
    assert set(labels.tolist()) == {0, 1, 2}


def test_splits_differ():
    assert not np.array_equal(yin_yang("validation")[0], yin_yang("test")[0])


@pytest.mark.parametrize(
    "x,y,label",
    [
        (0.75, 0.5, 2),  # centre of the right dot
        (0.25, 0.5, 2),  # centre of the left dot
        (0.5, 0.9, 1),  # top half, far from the right dot
        (0.5, 0.1, 0),  # bottom half, far from the left dot
        (0.25, 0.7, 1),  # ring around the left dot (0.1 < d_left <= 0.25)
        (0.75, 0.3, 0),  # ring around the right dot, lower half
        (0.75, 0.62, 0),  # ring around the right dot, upper half (d_right = 0.12)
    ],
)
def test_class_rule_on_hand_checked_points(x, y, label):
    assert which_class(np.float64(x), np.float64(y)) == label


def test_stored_labels_follow_the_class_rule():
    features, labels = yin_yang("validation")
    assert [which_class(x, y) for x, y in features[:, :2]] == labels.tolist()


def test_size_override_gives_a_prefix_and_seed_override_another_split():
    full_f, full_l = yin_yang("train")
    f, l = yin_yang("train", size=37)
    np.testing.assert_array_equal(f, full_f[:37])
    np.testing.assert_array_equal(l, full_l[:37])
    f, l = yin_yang("test", size=5000, seed=42)  # same stream as train
    np.testing.assert_array_equal(f, full_f)
    assert not np.array_equal(yin_yang("train", seed=7)[0][:10], full_f[:10])


def test_results_are_copies():
    features, labels = yin_yang("test")
    features[:] = -1.0
    labels[:] = 9
    features, labels = yin_yang("test")
    assert features.min() >= 0.0 and labels.max() == 2


@pytest.mark.parametrize("split", ["training", "val", "", None])
def test_unknown_split(split):
    with pytest.raises(ValueError, match="train.*validation.*test"):
        yin_yang(split)


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "10"])
def test_bad_size(size):
    with pytest.raises(ValueError, match="size"):
        yin_yang("train", size=size)


# ------------------------------------------------------------------ encode
def test_encode_numpy_values():
    times = encode(np.array([[0.0, 1.0, 0.5, 0.2]]))
    np.testing.assert_allclose(times, [[0.15, 2.0, 1.075, 0.52]], rtol=0, atol=1e-15)
    assert isinstance(times, np.ndarray) and times.dtype == np.float64
    np.testing.assert_allclose(encode(np.array([0.0, 1.0]), t_early=1.0, t_late=3.0), [1.0, 3.0])


def test_encode_torch_keeps_type_dtype_and_gradient():
    v = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float32, requires_grad=True)
    times = encode(v)
    assert isinstance(times, torch.Tensor) and times.dtype == torch.float32
    torch.testing.assert_close(times, torch.tensor([0.15, 0.6125, 2.0]))
    times.sum().backward()
    torch.testing.assert_close(v.grad, torch.full((3,), 1.85))


def test_encode_integer_input_becomes_float64():
    assert encode(np.array([0, 1])).dtype == np.float64
    assert encode(torch.tensor([0, 1])).dtype == torch.float64


def test_encode_invert_and_silent_zero():
    v = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(encode(v, invert=True), [2.0, 1.075, 0.15])
    np.testing.assert_array_equal(encode(v, silent_zero=True)[0], np.inf)
    # silent_zero looks at the feature before inversion: black stays silent, white is earliest
    t = encode(torch.tensor(v), invert=True, silent_zero=True)
    assert t[0] == torch.inf and t[2] == pytest.approx(0.15)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encode_rejects_non_finite_features(bad):
    with pytest.raises(ValueError, match="NaN"):
        encode(np.array([0.1, bad]))
    with pytest.raises(ValueError, match="NaN"):
        encode(torch.tensor([0.1, bad]))


@pytest.mark.parametrize("t_early,t_late", [(2.0, 2.0), (2.0, 0.15), (0.0, np.inf), (np.nan, 1.0)])
def test_encode_rejects_bad_window(t_early, t_late):
    with pytest.raises(ValueError, match="t_"):
        encode(np.array([0.5]), t_early=t_early, t_late=t_late)


def test_load_yin_yang_gives_the_paper_encoding():
    times, labels = load("yin_yang", "train")
    features, expected_labels = yin_yang("train")
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_allclose(times, 0.15 + features * 1.85, rtol=0, atol=1e-15)
    assert times.min() >= 0.15 and times.max() <= 2.0


def test_load_unknown_name():
    with pytest.raises(ValueError, match="yin_yang"):
        load("cifar", "train")
