"""Our forward pass against a Yin-Yang network trained by the authors' own code (SPEC §3).

The fixture lives in the shared folder next to the repository (../shared/reference),
both here and in CI; it is never downloaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ttfs_lab import NeuronParams, TTFSNetwork, native
from ttfs_lab.data import encode, yin_yang

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
FIXTURE = REFERENCE_DIR / "yinyang_pretrained_fastanddeep.npz"

pytestmark = pytest.mark.skipif(
    not REFERENCE_DIR.is_dir(), reason=f"shared reference folder {REFERENCE_DIR} not present"
)


@pytest.fixture(scope="module")
def reference():
    assert FIXTURE.is_file(), f"{FIXTURE} is missing from the shared reference folder"
    with np.load(FIXTURE, allow_pickle=False) as data:
        ref = {key: data[key] for key in data.files}
    assert set(ref) >= {"w_hidden", "w_output", "test_output_times", "test_labels"}, sorted(ref)
    return ref


BACKENDS = [
    pytest.param("torch"),
    pytest.param("native", marks=pytest.mark.skipif(not native.available(), reason="ttfs_lab._native not built")),
]


@pytest.fixture(scope="module", params=BACKENDS)
def our_output(reference, request):
    features, labels = yin_yang("test")
    net = TTFSNetwork.from_weights(
        [reference["w_hidden"], reference["w_output"]], params=NeuronParams(), bias_time=0.9
    )
    with native.set_backend(request.param), torch.no_grad():
        out = net(torch.as_tensor(encode(features), dtype=torch.float64)).numpy()
    return out, labels


def test_fixture_shapes(reference):
    assert reference["w_hidden"].shape == (5, 120)
    assert reference["w_output"].shape == (121, 3)
    assert reference["test_output_times"].shape == (1000, 3)
    assert reference["test_labels"].shape == (1000,)


def test_fixture_labels_are_our_test_set(reference):
    _, labels = yin_yang("test")
    np.testing.assert_array_equal(reference["test_labels"], labels)


def test_output_times_match_reference(reference, our_output):
    out, _ = our_output
    expected = reference["test_output_times"]
    assert out.shape == expected.shape
    silent_ref, silent_ours = np.isinf(expected), np.isinf(out)
    assert (np.isposinf(out) == silent_ours).all(), "silent outputs must be +inf"
    mismatch = np.argwhere(silent_ref != silent_ours)
    assert mismatch.size == 0, f"silent entries differ at (sample, output) {mismatch[:10].tolist()}"
    err = np.where(silent_ours, 0.0, np.abs(out - np.where(silent_ref, 0.0, expected)))
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= 1e-5, f"max |dt| {err.max():.3g} at {worst}: ours {out[worst]}, ref {expected[worst]}"
    assert silent_ref.sum() > 0, "the fixture has silent outputs; they must be reproduced"


def test_accuracy_is_96_percent(reference, our_output):
    out, labels = our_output
    # prediction = first output to spike (an all-silent sample predicts nothing, i.e. wrong)
    pred = np.where(np.isinf(out).all(axis=1), -1, np.argmin(out, axis=1))
    accuracy = 100.0 * np.mean(pred == labels)
    ref_pred = np.argmin(reference["test_output_times"], axis=1)
    assert 100.0 * np.mean(ref_pred == reference["test_labels"]) == pytest.approx(96.0, abs=1e-9)
    assert accuracy == pytest.approx(96.0, abs=1e-9)
