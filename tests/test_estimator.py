"""INNDetector: a scikit-learn estimator (clone, get_params, fit returns self, learned attributes), and the
find_noisy_labels conventions it shares: filter_by, verbose, to_frame with Datalab's columns."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

import inn_core
from inn_core.data.datasets import load_dataset
from inn_core.data.noise import NoiseSpec, inject_noise
from inn_core.errors import InputError


@pytest.fixture(scope="module")
def blobs():
    data = load_dataset("toy2d", n_samples=120, num_classes=3, random_state=0)
    observed, noisy = inject_noise(
        data.true_labels.numpy(), NoiseSpec("symmetric", 0.3, symmetric_mode="flip"), random_state=0
    )
    return data.images.numpy(), observed, noisy


def test_clone_params_fit_and_attributes(blobs):
    x, y, _ = blobs
    detector = inn_core.INNDetector(L=5, H=4, epochs=4, batch_size=32, random_state=1, device="cpu")
    twin = clone(detector)
    assert twin is not detector and twin.get_params() == detector.get_params()
    assert twin.get_params()["L"] == 5 and not hasattr(twin, "scores_")
    assert detector.set_params(H=3) is detector and detector.H == 3
    assert detector.fit(x, y) is detector
    n = len(y)
    assert detector.scores_.shape == detector.is_noisy_.shape == detector.suggested_labels_.shape == (n,)
    assert detector.pred_probs_.shape[0] == n and (detector.pred_probs_.argmax(1) == detector.suggested_labels_).all()
    assert detector.neighbor_indices_.shape == (n, 5)
    assert set(detector.ranked_indices_) == set(np.flatnonzero(detector.is_noisy_))
    assert np.all(np.diff(detector.scores_[detector.ranked_indices_]) >= 0)
    # The same parameters through the one-call form give the same scores.
    again = inn_core.find_noisy_labels(x, y, L=5, H=3, epochs=4, batch_size=32, random_state=1, device="cpu")
    np.testing.assert_allclose(detector.scores_, again.scores, atol=1e-7)
    assert list(detector.to_frame().columns) == ["is_label_issue", "label_score", "given_label", "predicted_label"]


def test_filter_by_top_k_fraction_threshold_and_verbose(blobs, capsys):
    x, y, _ = blobs
    common = {"L": 4, "H": 2, "epochs": 2, "random_state": 0, "device": "cpu"}
    top = inn_core.find_noisy_labels(x, y, filter_by="top_k", k=7, verbose=True, **common)
    assert "training f and h" in capsys.readouterr().err  # tqdm writes to stderr
    assert top.is_noisy.sum() == 7 and len(top.ranked_indices) == 7
    assert top.scores[top.is_noisy].max() <= top.scores[~top.is_noisy].min()
    share = inn_core.find_noisy_labels(x, y, filter_by="fraction", fraction=0.25, **common)
    assert share.is_noisy.sum() == 30
    cut = float(np.median(share.scores))
    below = inn_core.find_noisy_labels(x, y, filter_by="threshold", threshold=cut, **common)
    np.testing.assert_array_equal(below.is_noisy, below.scores < cut)
    frame = below.to_frame()
    np.testing.assert_array_equal(frame["given_label"], y)
    np.testing.assert_array_equal(frame["is_label_issue"], below.is_noisy)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter_by": "confident"}, "unknown filter_by 'confident'; choose one of beta_mixture"),
        ({"filter_by": "top_k"}, "needs k"),
        ({"filter_by": "top_k", "k": 1000}, "between 1 and n = 120"),
        ({"filter_by": "fraction", "fraction": 1.5}, "fraction in (0, 1]"),
        ({"filter_by": "threshold"}, "needs a finite threshold"),
    ],
)
def test_filter_errors_before_any_training(blobs, kwargs, message):
    x, y, _ = blobs
    with pytest.raises(
        InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")
    ):
        inn_core.INNDetector(epochs=1000, device="cpu", **kwargs).fit(x, y)
