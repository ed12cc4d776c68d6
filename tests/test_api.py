"""Tests for inn_core.find_noisy_labels on a toy problem."""

import numpy as np
import pytest

import inn_core
from inn_core.data.datasets import load_dataset
from inn_core.data.noise import NoiseSpec, inject_noise
from inn_core.errors import InputError
from inn_core.method.metrics import clean_noisy_auc


@pytest.fixture(scope="module")
def blobs():
    data = load_dataset("toy2d", n_samples=300, num_classes=3, random_state=0)
    observed, noisy = inject_noise(
        data.true_labels.numpy(), NoiseSpec("symmetric", 0.3, symmetric_mode="flip"), random_state=0
    )
    return data.images.numpy(), observed, noisy


def test_finds_flipped_labels_on_blobs(blobs):
    x, observed, noisy = blobs
    result = inn_core.find_noisy_labels(x, observed, epochs=30, batch_size=32, random_state=0, device="cpu")
    assert result.scores.shape == (300,) and result.is_noisy.dtype == bool
    assert clean_noisy_auc(result.scores, noisy) > 0.9
    # ranked: exactly the flagged, lowest score first
    assert set(result.ranked_indices) == set(np.flatnonzero(result.is_noisy))
    assert np.all(np.diff(result.scores[result.ranked_indices]) >= 0)
    precision = noisy[result.is_noisy].mean()
    assert precision > 0.7
    assert result.suggested_labels.shape == (300,)
    assert (
        repr(result)
        == f"NoisyLabels(n=300, flagged={int(result.is_noisy.sum())}, variant='input', neighbor_backend='exact')"
    )
    assert result.pred_probs.shape == (300, int(observed.max()) + 1)
    np.testing.assert_allclose(result.pred_probs.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(result.pred_probs.argmax(axis=1), result.suggested_labels)


def test_same_seed_same_result(blobs):
    x, observed, _ = blobs
    a = inn_core.find_noisy_labels(x[:120], observed[:120], epochs=3, random_state=4, device="cpu")
    b = inn_core.find_noisy_labels(x[:120], observed[:120], epochs=3, random_state=4, device="cpu")
    np.testing.assert_array_equal(a.scores, b.scores)


def test_bad_input_messages(blobs):
    x, observed, _ = blobs
    with pytest.raises(InputError, match="same length"):
        inn_core.find_noisy_labels(x, observed[:10])
    with pytest.raises(InputError, match="at least two classes"):
        inn_core.find_noisy_labels(x[:5], np.zeros(5, int))
    with pytest.raises(InputError, match="shape"):
        inn_core.find_noisy_labels(x[:, 0], observed)
    with pytest.raises(InputError, match="L must be between"):
        inn_core.find_noisy_labels(x[:5], np.array([0, 1, 0, 1, 0]), L=5)


def test_image_layout_mistakes_say_how_to_fix_them():
    labels = np.arange(6) % 2
    with pytest.raises(InputError, match=r"looks like \(n, H, W, C\).*transpose\(0, 3, 1, 2\)"):
        inn_core.find_noisy_labels(np.zeros((6, 8, 8, 3), np.uint8), labels)
    with pytest.raises(InputError, match=r"add the channel axis: images\[:, None\]"):
        inn_core.find_noisy_labels(np.zeros((6, 8, 8), np.float32), labels)


def test_empty_input_and_negative_seed_are_input_errors():
    with pytest.raises(InputError, match="empty"):
        inn_core.find_noisy_labels(np.zeros((0, 2), np.float32), np.zeros(0, np.int64))
    x, y = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32), np.arange(20) % 2
    with pytest.raises(InputError, match="random_state must be a non-negative int"):
        inn_core.find_noisy_labels(x, y, random_state=-1, epochs=1, L=3)
