"""The UMAP map of a run's features: seeded, structure-preserving, computed once and stored."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import inn_core.views.embedding as embedding
from inn_core.errors import InputError
from inn_core.runs.store import RunStore
from inn_core.views.embedding import EMBEDDING_FILE, compute_embedding, run_embedding, stored_embedding


def blobs(n_per: int = 40, k: int = 3, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(k, d))
    labels = np.repeat(np.arange(k), n_per)
    return (centres[labels] + rng.normal(size=(k * n_per, d))).astype(np.float32), labels


def fake_run(tmp_path, features: np.ndarray, seed: int = 3) -> tuple[RunStore, str]:
    store = RunStore(tmp_path)
    run_id = store.create_run({"seed": seed})
    store.write_arrays(run_id, "final.npz", features=features)
    return store, run_id


@pytest.fixture(scope="module")
def blob_map() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # umap-learn compiles on its first call (10-30 s); every other call here is quick.
    features, labels = blobs()
    return features, labels, compute_embedding(features, random_state=0)


@pytest.mark.slow
def test_map_is_2d_and_keeps_clusters_apart(blob_map):
    features, labels, coords = blob_map
    assert coords.shape == (120, 2) and coords.dtype == np.float32
    assert np.isfinite(coords).all()
    # Each point's nearest other point on the map belongs to its own blob.
    dist = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    assert (labels[dist.argmin(axis=1)] == labels).mean() >= 0.95


@pytest.mark.slow
def test_same_seed_same_map(blob_map):
    features, _, coords = blob_map
    assert_array_equal(compute_embedding(features, random_state=0), coords)


def test_bad_features_are_refused():
    with pytest.raises(InputError, match="at least 4 samples"):
        compute_embedding(np.zeros((3, 5)))
    with pytest.raises(InputError, match=r"shape \(n, d\)"):
        compute_embedding(np.zeros(10))
    bad = np.ones((10, 3))
    bad[2, 1] = np.nan
    with pytest.raises(InputError, match="NaN or infinite"):
        compute_embedding(bad)
    with pytest.raises(InputError, match="n_neighbors"):
        compute_embedding(np.ones((10, 3)), n_neighbors=1)
    with pytest.raises(InputError, match="min_dist"):
        compute_embedding(np.ones((10, 3)), min_dist=2.0)


@pytest.mark.slow
def test_tiny_inputs_still_map(blob_map):
    features, _, _ = blob_map
    coords = compute_embedding(features[::12], n_neighbors=15)  # 10 samples
    assert coords.shape == (10, 2) and np.isfinite(coords).all()


@pytest.mark.slow
def test_run_map_is_computed_once_stored_and_reused(tmp_path, blob_map, monkeypatch):
    features, _, _ = blob_map
    store, run_id = fake_run(tmp_path, features)
    assert stored_embedding(store, run_id) is None
    reports: list[tuple[float, str]] = []
    coords = run_embedding(store, run_id, progress=lambda f, m: reports.append((f, m)))
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3
    assert store.has_file(run_id, EMBEDDING_FILE)
    saved = store.read_arrays(run_id, EMBEDDING_FILE)
    assert int(saved["random_state"]) == 3  # the run's own seed
    assert_array_equal(saved["coords"], coords)
    assert_array_equal(coords, compute_embedding(features, random_state=3))

    def must_not_run(*args, **kwargs):
        raise AssertionError("the stored map should have been reused")

    monkeypatch.setattr(embedding, "compute_embedding", must_not_run)
    again: list[tuple[float, str]] = []
    assert_array_equal(run_embedding(store, run_id, progress=lambda f, m: again.append((f, m))), coords)
    assert again == [(1.0, "map loaded")]


def test_unfinished_run_has_no_map(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run({"seed": 0})
    with pytest.raises(InputError, match="no final features yet"):
        run_embedding(store, run_id)


def test_a_map_leaves_torchs_thread_count_as_it_found_it():
    # numba's parallel layer shares torch's OpenMP runtime: without the guard, torch ran on 2 threads
    # after the first map, and later training in the same process gave other floats.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        features = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
        embedding.compute_embedding(features, random_state=0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
