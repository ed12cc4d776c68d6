"""Tests for inn_core.method.embedding_inn and inn_core.data.features: INN in embedding space."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

import inn_core
from inn_core.data.features import read_features, read_labels
from inn_core.errors import InputError
from inn_core.method.embedding_inn import HeadSettings, build_head, embedding_inn, head_inn_scores
from inn_core.method.metrics import clean_noisy_auc
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.scoring import inn_scores


def _blobs(n=240, d=16, k=3, rate=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    true = rng.integers(0, k, n)
    x = (centres[true] + rng.normal(size=(n, d))).astype(np.float32)
    observed = np.where(rng.random(n) < rate, rng.integers(0, k, n), true)
    return x, observed, observed != true


class _LinearBetweenEmbeddings(nn.Module):
    """A head that has perfectly fitted MixUp on the embeddings: it maps each training embedding
    x_i to onehot(y_i) through the barycentric coordinates of the (affinely independent) set, so on
    the segment between x_i and x_j it predicts exactly alpha onehot(y_i) + (1 - alpha) onehot(y_j)."""

    def __init__(self, x: np.ndarray, observed: np.ndarray, k: int):
        super().__init__()
        targets = np.eye(k)[observed]
        # p(x) = x @ X^-1 @ targets: x_i @ X^-1 = e_i, and the map is linear.
        self.register_buffer("map", torch.from_numpy(np.linalg.solve(x.astype(np.float64), targets)).float())

    def forward(self, x):
        return torch.log((x @ self.map).clamp_min(0) + 1e-12)


def test_lemma_1_in_embedding_space_with_neighbours_found_there():
    rng = np.random.default_rng(4)
    k, per_class, L = 3, 10, 4
    n = k * per_class
    true = np.repeat(np.arange(k), per_class)
    # n affinely independent embeddings (n dimensions), tightly clustered by true class.
    x = (np.eye(n) * 0.3 + np.eye(k)[true] @ rng.normal(size=(k, n)) * 5).astype(np.float32)
    observed = true.copy()
    noisy = np.zeros(n, bool)
    for c in range(k):
        flip = rng.choice(np.flatnonzero(true == c), size=1, replace=False)
        observed[flip] = (c + 1) % k
        noisy[flip] = True
    neighbors, _ = nearest_neighbors(x, L, device="cpu")
    assert (true[neighbors] == true[:, None]).all()  # the embedding space groups the true classes
    scores = head_inn_scores(
        _LinearBetweenEmbeddings(x, observed, k), torch.from_numpy(x), observed, neighbors, H=10, device="cpu"
    )
    agree = (observed[neighbors] == observed[:, None]).sum(1)
    np.testing.assert_allclose(scores, 0.5 + agree / (2 * L), atol=1e-4)
    assert scores[~noisy].min() > scores[noisy].max()


@pytest.mark.parametrize("head", ["linear_head", "mlp_head"])
def test_scoring_after_the_affine_layer_equals_scoring_interpolated_embeddings(head):
    x, y, _ = _blobs(n=60, d=7)
    model = build_head(head, torch.from_numpy(x), 3, seed=1)
    nn.init.normal_(model.first.weight)  # a head that is far from linear in its probabilities
    neighbors, _ = nearest_neighbors(x, 5, device="cpu")
    fast, fast_paths = head_inn_scores(model, torch.from_numpy(x), y, neighbors, H=6, device="cpu", return_paths=True)
    plain, plain_paths = inn_scores(model, torch.from_numpy(x), y, neighbors, H=6, device="cpu", return_paths=True)
    np.testing.assert_allclose(fast, plain, atol=1e-5)
    np.testing.assert_allclose(fast_paths, plain_paths, atol=1e-5)
    # Tiny chunks (one sample per forward pass) give the same scores.
    np.testing.assert_allclose(
        head_inn_scores(model, torch.from_numpy(x), y, neighbors, H=6, device="cpu", chunk_bytes=4), fast, atol=1e-6
    )


def test_head_standardises_raw_embeddings_inside_the_model():
    x = np.random.default_rng(0).normal(loc=100.0, scale=[1.0, 50.0, 0.0], size=(50, 3)).astype(np.float32)
    head = build_head("linear_head", torch.from_numpy(x), 2, seed=0)
    z = head.features(torch.from_numpy(x))
    np.testing.assert_allclose(z.mean(0).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0, unbiased=False).numpy()[:2], 1, atol=1e-4)
    assert torch.isfinite(z).all()  # the constant column is centred, not divided by 0


def test_embedding_inn_detects_noise_and_is_reproducible():
    x, y, noisy = _blobs()
    settings = HeadSettings(epochs=8)
    first = embedding_inn(x, y, settings=settings, L=5, H=5, device="cpu", random_state=3)
    again = embedding_inn(x, y, settings=settings, L=5, H=5, device="cpu", random_state=3)
    assert first.variant == "embedding" and first.backend == "exact"
    assert set(first.scores) == {"inn", "mixup_fy", "ce", "deep_knn"}
    assert clean_noisy_auc(first.scores["inn"], noisy) > 0.9
    np.testing.assert_array_equal(first.scores["inn"], again.scores["inn"])
    assert ((first.scores["inn"] >= 0) & (first.scores["inn"] <= 1)).all()


def test_find_noisy_labels_with_features_says_it_ran_in_embedding_space():
    x, y, noisy = _blobs()
    result = inn_core.find_noisy_labels(labels=y, features=x, epochs=8, L=5, H=5, device="cpu", random_state=0)
    assert result.variant == "embedding" and result.neighbor_backend == "exact"
    assert result.scores.shape == (len(y),) and result.neighbor_indices.shape == (len(y), 5)
    assert result.is_noisy[noisy].mean() > result.is_noisy[~noisy].mean()
    assert (np.diff(result.scores[result.ranked_indices]) >= 0).all()
    assert result.pred_probs.shape == (len(y), int(y.max()) + 1)
    np.testing.assert_array_equal(result.pred_probs.argmax(axis=1), result.suggested_labels)


def test_find_noisy_labels_with_approximate_neighbours_names_the_backend():
    x, y, _ = _blobs()
    result = inn_core.find_noisy_labels(
        labels=y, features=x, epochs=2, L=5, H=2, device="cpu", neighbor_backend="faiss-hnsw"
    )
    assert result.neighbor_backend == "faiss-hnsw"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0]])}, "NaN or infinite values in 1 of 3 rows"),
        ({"features": np.zeros((4, 2))}, "same number of rows"),
        ({"features": np.zeros((3, 2, 2))}, "2-D"),
        ({"features": np.zeros((3, 2)), "images": np.zeros((3, 2))}, "not both"),
    ],
)
def test_bad_embeddings_are_one_clear_input_error(kwargs, message):
    with pytest.raises(InputError, match=message):
        inn_core.find_noisy_labels(labels=np.array([0, 1, 0]), L=1, **kwargs)


def test_features_files_in_every_format(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.save(tmp_path / "f.npy", x)
    np.savez(tmp_path / "f.npz", embeddings=x, ids=np.arange(4))
    pq.write_table(pa.table({"embedding": list(x), "label": [0, 1, 0, 1]}), tmp_path / "list.parquet")
    pq.write_table(
        pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": [0, 1, 0, 1]}), tmp_path / "cols.parquet"
    )
    for name in ("f.npy", "f.npz", "list.parquet", "cols.parquet"):
        got = read_features(tmp_path / name)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, x)


def test_labels_files_in_every_format(tmp_path):
    np.save(tmp_path / "y.npy", np.array([2, 0, 1]))
    (tmp_path / "y.txt").write_text("cat\ndog\ncat\n")
    pd.DataFrame({"id": [7, 8, 9], "label": [1, 1, 0]}).to_csv(tmp_path / "named.csv", index=False)
    (tmp_path / "bare.csv").write_text("3\n0\n1\n")
    assert read_labels(tmp_path / "y.npy")[0].tolist() == [2, 0, 1]
    labels, names = read_labels(tmp_path / "y.txt")
    assert labels.tolist() == [0, 1, 0] and names == ("cat", "dog")
    assert read_labels(tmp_path / "named.csv")[0].tolist() == [1, 1, 0]
    labels, names = read_labels(tmp_path / "bare.csv")
    assert labels.tolist() == [3, 0, 1] and names == ("0", "1", "2", "3")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("f.csv", b"1,2", "must end in .npy, .npz, .parquet"),
        ("f.npy", b"not an array", "cannot read features file f.npy"),
        ("f.parquet", b"PAR1 damaged", "cannot read features file f.parquet"),
    ],
)
def test_unreadable_features_files_are_input_errors(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_features(tmp_path / name)


def test_missing_and_nan_features_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no features file"):
        read_features(tmp_path / "absent.npy")
    bad = np.ones((5, 2))
    bad[3, 1] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(InputError, match=r"first: row 3"):
        read_features(tmp_path / "bad.npy")
