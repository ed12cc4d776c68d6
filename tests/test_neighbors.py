import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.neighbors import NearestNeighbors

from inn_core.errors import InputError
from inn_core.method.neighbors import choose_backend, nearest_neighbors, neighbor_recall


def _reference(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force in float64 ordered by (distance, index): the definition itself."""
    squared = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(squared, np.inf)
    n = len(points)
    order = np.lexsort((np.broadcast_to(np.arange(n), (n, n)), squared), axis=1)[:, :k]
    return order, np.sqrt(np.take_along_axis(squared, order, axis=1))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 40),
    d=st.integers(1, 6),
    k_fraction=st.floats(0.0, 1.0),
    chunk_size=st.integers(1, 45),
    seed=st.integers(0, 2**16),
    on_grid=st.booleans(),
)
def test_agrees_with_sklearn_brute(n, d, k_fraction, chunk_size, seed, on_grid):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, d))
    if on_grid:
        # Small integer coordinates: many exact ties and duplicates.
        points = np.round(points * 1.5)
    k = 1 + int(k_fraction * (n - 2))
    indices, distances = nearest_neighbors(points, k, chunk_size=chunk_size, device="cpu")

    assert indices.shape == distances.shape == (n, k)
    assert indices.dtype == np.int64 and distances.dtype == np.float32
    assert not (indices == np.arange(n)[:, None]).any()
    sk_distances, sk_indices = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(points).kneighbors()
    assert_allclose(distances, sk_distances, rtol=1e-4, atol=1e-5)
    # Where a distance is shared by no other sample the neighbour is unambiguous.
    all_distances = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(all_distances, np.inf)
    shared = (np.abs(all_distances[:, None, :] - sk_distances[:, :, None]) < 1e-9).sum(axis=2) > 1
    assert_array_equal(indices[~shared], sk_indices[~shared])
    # And everywhere, ties included, the order is (distance, index).
    expected_indices, expected_distances = _reference(points, k)
    assert_array_equal(indices, expected_indices)
    assert_allclose(distances, expected_distances, rtol=1e-6, atol=1e-7)


def test_duplicate_is_first_neighbour_and_self_is_excluded_by_index():
    points = np.array([[0.0, 0.0], [3.0, 0.0], [5.0, 5.0], [0.0, 0.0], [0.0, 1.0]])
    indices, distances = nearest_neighbors(points, 2, device="cpu")
    assert_array_equal(indices[0], [3, 4])
    assert_array_equal(indices[3], [0, 4])
    assert_allclose(distances[0], [0.0, 1.0], atol=0)
    assert_allclose(distances[3], [0.0, 1.0], atol=0)


def test_many_identical_points_are_ordered_by_index():
    # 30 copies crowd the candidate boundary, so the search has to widen it.
    points = np.vstack([np.ones((30, 4)), np.full((5, 4), 2.0)])
    indices, distances = nearest_neighbors(points, 3, device="cpu", chunk_size=7)
    assert_array_equal(indices[0], [1, 2, 3])
    assert_array_equal(indices[29], [0, 1, 2])
    assert_array_equal(indices[32], [30, 31, 33])
    assert_allclose(distances[:30], 0.0, atol=0)


def test_ties_on_a_grid_are_broken_by_lower_index():
    grid = np.array([(row, col) for row in range(3) for col in range(3)], dtype=np.float32)
    indices, distances = nearest_neighbors(grid, 4, device="cpu")
    # The centre (index 4) has four neighbours at distance 1: 1, 3, 5, 7.
    assert_array_equal(indices[4], [1, 3, 5, 7])
    assert_allclose(distances[4], 1.0, atol=0)
    # The corner 0: 1 and 3 at distance 1, then 4 at sqrt(2), then 2 and 6 at 2.
    assert_array_equal(indices[0], [1, 3, 4, 2])
    assert_allclose(distances[0], [1.0, 1.0, np.sqrt(2.0), 2.0], rtol=1e-6)


def test_chunk_size_one_equals_one_chunk():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(60, 5)).astype(np.float32)
    points[10] = points[20]
    one_by_one = nearest_neighbors(points, 7, chunk_size=1, device="cpu")
    at_once = nearest_neighbors(points, 7, chunk_size=60, device="cpu")
    default = nearest_neighbors(points, 7, device="cpu")
    for result in (at_once, default):
        assert_array_equal(one_by_one[0], result[0])
        assert_array_equal(one_by_one[1], result[1])


def test_tensor_and_array_input_agree_and_are_deterministic():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 8)).astype(np.float32)
    from_array = nearest_neighbors(points, 5, device="cpu")
    from_tensor = nearest_neighbors(torch.from_numpy(points), 5, device="cpu", backend="torch")
    assert_array_equal(from_array[0], from_tensor[0])
    assert_array_equal(from_array[1], from_tensor[1])
    again = nearest_neighbors(points, 5, device="cpu")
    assert_array_equal(from_array[1], again[1])


@pytest.mark.parametrize("factor", [1e-30, 1e25])
def test_extreme_magnitudes_keep_the_neighbours(factor):
    rng = np.random.default_rng(2)
    points = rng.normal(size=(40, 3))
    indices, distances = nearest_neighbors(points, 4, device="cpu")
    scaled_indices, scaled_distances = nearest_neighbors(points * factor, 4, device="cpu")
    assert_array_equal(scaled_indices, indices)
    assert_allclose(scaled_distances / factor, distances, rtol=1e-6)


@pytest.mark.parametrize(
    ("features", "k", "options", "message"),
    [
        (np.zeros((5, 2)), 0, {}, "k must be between 1 and n-1 = 4"),
        (np.zeros((5, 2)), 5, {}, "k must be between 1 and n-1 = 4"),
        (np.zeros((1, 2)), 1, {}, "k must be between 1 and n-1 = 0"),
        (np.zeros((5, 2)), 2.0, {}, "k must be an integer"),
        (np.zeros(5), 1, {}, "2-D"),
        (np.zeros((5, 2, 1)), 1, {}, "2-D"),
        (np.zeros((5, 0)), 1, {}, "at least one column"),
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), 1, {}, "finite"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), 1, {}, "finite"),
        (np.array([["a", "b"], ["c", "d"]]), 1, {}, "real numbers"),
        (np.zeros((5, 2)), 1, {"chunk_size": 0}, "chunk_size"),
        (np.zeros((5, 2)), 1, {"backend": "annoy"}, "backend must be one of"),
    ],
)
def test_bad_input_raises_input_error(features, k, options, message):
    with pytest.raises(InputError, match=message):
        nearest_neighbors(features, k, device="cpu", **options)


def test_faiss_backend_without_faiss_is_an_input_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(InputError, match="faiss"):
        nearest_neighbors(np.zeros((5, 2)), 1, device="cpu", backend="faiss")
    # "auto" quietly uses torch instead.
    indices, _ = nearest_neighbors(np.arange(10.0)[:, None], 1, device="cpu", backend="auto")
    assert_array_equal(indices[:, 0], [1, 0, 1, 2, 3, 4, 5, 6, 7, 8])


def test_faiss_backend_matches_torch():
    pytest.importorskip("faiss", reason="faiss-cpu is an optional extra (pip install faiss-cpu)")
    rng = np.random.default_rng(3)
    points = np.round(rng.normal(size=(300, 3)) * 2)  # grid: ties and duplicates
    points[:20] = points[0]
    with_torch = nearest_neighbors(points, 6, device="cpu", backend="torch", chunk_size=64)
    with_faiss = nearest_neighbors(points, 6, device="cpu", backend="faiss", chunk_size=64)
    assert_array_equal(with_faiss[0], with_torch[0])
    assert_array_equal(with_faiss[1], with_torch[1])


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    rng = np.random.default_rng(4)
    points = rng.normal(size=(500, 16)).astype(np.float32)
    points[7] = points[300]
    on_cpu = nearest_neighbors(points, 10, device="cpu")
    on_cuda = nearest_neighbors(points, 10, device="cuda", chunk_size=128)
    assert_array_equal(on_cuda[0], on_cpu[0])
    assert_allclose(on_cuda[1], on_cpu[1], rtol=1e-6)


def test_grouped_top_k_on_large_tiles_matches_reference():
    # Tiles of 576 columns take the two-stage (group minima) top-k; the ragged last tile does not.
    rng = np.random.default_rng(5)
    points = np.round(rng.normal(size=(1500, 3)) * 3)  # grid: ties and duplicates
    points[:40] = points[0]
    indices, distances = nearest_neighbors(points, 4, chunk_size=576, device="cpu")
    expected_indices, expected_distances = _reference(points, 4)
    assert_array_equal(indices, expected_indices)
    assert_allclose(distances, expected_distances, rtol=1e-6, atol=1e-7)


def test_worker_threads_find_the_same_neighbours_and_restore_the_setting():
    # With two torch threads the tiles are shared out to two workers, each with its own candidates.
    rng = np.random.default_rng(8)
    points = np.round(rng.normal(size=(1300, 3)) * 3)
    points[:30] = points[0]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = nearest_neighbors(points, 5, chunk_size=320, device="cpu")
        torch.set_num_threads(2)
        shared = nearest_neighbors(points, 5, chunk_size=320, device="cpu")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert_array_equal(shared[0], alone[0])
    assert_array_equal(shared[1], alone[1])
    assert_array_equal(alone[0], _reference(points, 5)[0])


# --------------------------------------------------------------------------- approximate backends


def _clusters(n=3000, d=24, seed=5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, d)) * 4
    return (centres[rng.integers(0, 12, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("backend", ["faiss-ivf", "faiss-hnsw"])
def test_approximate_backends_reach_their_recall_and_keep_the_exact_conventions(backend):
    points = _clusters()
    points[10] = points[11]  # a duplicate: still a neighbour, the sample itself never
    exact, _ = nearest_neighbors(points, 10, device="cpu", backend="exact")
    messages = []
    indices, distances = nearest_neighbors(
        points, 10, device="cpu", backend=backend, recall_target=0.95, progress=messages.append
    )
    assert indices.shape == distances.shape == (len(points), 10) and indices.dtype == np.int64
    assert not (indices == np.arange(len(points))[:, None]).any()
    assert neighbor_recall(indices, exact) >= 0.9
    assert indices[10, 0] == 11 and distances[10, 0] == 0
    # Ordered by true distance, as the exact engine orders.
    true = np.linalg.norm(points[indices].astype(np.float64) - points[:, None].astype(np.float64), axis=2)
    assert_allclose(distances, true, rtol=1e-5, atol=1e-6)
    assert (np.diff(distances, axis=1) >= 0).all()
    assert len(messages) == 1 and "recall@10" in messages[0]


def test_ivf_with_every_list_probed_is_exact():
    points = _clusters(n=800)
    exact, _ = nearest_neighbors(points, 5, device="cpu", backend="exact")
    found, _ = nearest_neighbors(points, 5, device="cpu", backend="faiss-ivf", recall_target=1.0)
    assert neighbor_recall(found, exact) == pytest.approx(1.0, abs=0.002)


def test_auto_goes_approximate_above_the_exact_budget_and_says_so(monkeypatch):
    from inn_core.method import neighbors as module

    assert choose_backend(10_000, 512) == "exact"
    assert choose_backend(100_000, 512) == "exact"
    assert choose_backend(1_000_000, 512) == "faiss-hnsw"
    monkeypatch.setattr(module, "_EXACT_BUDGET", 1e5)
    messages = []
    indices, _ = nearest_neighbors(_clusters(n=500), 4, device="cpu", backend="auto", progress=messages.append)
    assert indices.shape == (500, 4)
    assert "exact neighbour search would take minutes" in messages[0] and "faiss-hnsw" in messages[0]


def test_approximate_backend_without_faiss_is_an_input_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(InputError, match="needs the faiss package"):
        nearest_neighbors(np.zeros((5, 2)), 1, device="cpu", backend="faiss-hnsw")
    assert choose_backend(1_000_000, 512) == "exact"  # auto never asks for what is not installed


def test_neighbor_recall_counts_exact_neighbours_found():
    assert neighbor_recall(np.array([[1, 2], [0, 3]]), np.array([[2, 1], [0, 2]])) == 0.75
    with pytest.raises(InputError, match="same shape"):
        neighbor_recall(np.zeros((2, 2)), np.zeros((2, 3)))
