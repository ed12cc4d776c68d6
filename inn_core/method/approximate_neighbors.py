"""Approximate k-nearest neighbours through faiss (IVF or HNSW), tuned to a measured recall.

Above about a hundred thousand samples the exact search of :mod:`inn_core.method.neighbors` takes
minutes; faiss's inverted-file (``IndexIVFFlat``) and graph (``IndexHNSWFlat``) indexes answer in
a fraction of that, following faiss's own guidelines: nlist about ``4 sqrt(n)`` lists for IVF,
``M = 32`` links for HNSW. How widely they search (``nprobe``, ``efSearch``) decides their recall,
so it is tuned here instead of guessed: starting small, doubled until the recall@k measured against
exact search on 256 sampled queries reaches the target. The neighbours found are then put in the
exact engine's order - by float64 distance, ties by index - with the sample itself excluded by
index, so downstream code cannot tell the backends apart except by the few neighbours missed.

Called through :func:`inn_core.method.neighbors.nearest_neighbors`; faiss is passed in, so this
module imports without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from inn_core.errors import InputError

__all__ = ["approximate_neighbors"]

_HNSW_M = 32
_HNSW_EF_CONSTRUCTION = 64
_IVF_TRAIN_PER_LIST = 64
_TUNING_QUERIES = 256
_QUERY_BLOCK = 16384
_EXACT_BLOCK = 65536
_RERANK_ROWS = 8192


def approximate_neighbors(
    faiss,
    features,
    k: int,
    backend: str,
    *,
    recall_target: float = 0.95,
    report: Callable[[str], None] = lambda message: None,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(indices (n, k) int64, distances (n, k) float32)`` of every sample from a faiss index.

    Parameters
    ----------
    faiss : the imported faiss module.
    features : (n, d) finite real array or tensor, n >= 2.
    k : neighbours per sample, 1 <= k <= n - 1.
    backend : ``"faiss-ivf"`` or ``"faiss-hnsw"``.
    recall_target : tune the search breadth until recall@k on sampled queries reaches this.
    report : called with one-line messages (the index built, the breadth chosen and its recall).
    random_state : seeds the IVF training sample, the tuning queries and faiss's k-means.

    Notes
    -----
    Memory: the features once in float32 (``4 n d`` bytes) plus the index's own copy of them (and,
    for HNSW, ``2 M`` links per sample); the ``(n, k + 1)`` results; blocks of bounded size.
    """
    points = _as_float32_matrix(features)
    n, d = points.shape
    if not 1 <= k <= n - 1:
        raise InputError(f"k must be between 1 and n-1 = {n - 1}, got {k}")
    rng = np.random.default_rng(random_state)
    if backend == "faiss-ivf":
        nlist = max(1, min(round(4 * math.sqrt(n)), n // 39))
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist)
        index.cp.seed = random_state
        train = (
            points
            if n <= _IVF_TRAIN_PER_LIST * nlist
            else points[np.sort(rng.choice(n, _IVF_TRAIN_PER_LIST * nlist, replace=False))]
        )
        index.train(train)
        index.add(points)
        breadths = _doubling(min(8, nlist), nlist)
        name = "nprobe"

        def set_breadth(value: int) -> None:
            index.nprobe = value
    elif backend == "faiss-hnsw":
        index = faiss.IndexHNSWFlat(d, _HNSW_M)
        index.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
        index.add(points)
        breadths = _doubling(max(2 * (k + 1), 32), max(2 * (k + 1), 32, min(n, 4096)))
        name = "efSearch"

        def set_breadth(value: int) -> None:
            index.hnsw.efSearch = value
    else:
        raise InputError(f"unknown approximate backend {backend!r}; choose faiss-ivf or faiss-hnsw")

    queries = np.sort(rng.choice(n, min(n, _TUNING_QUERIES), replace=False))
    truth = _exact_rows(points, queries, k)
    for breadth in breadths:
        set_breadth(breadth)
        _, found = index.search(points[queries], k + 1)
        recall = _recall(_drop_self(found, queries, k), truth)
        if recall >= recall_target:
            break
    report(f"{backend}: {name} = {breadth} gives recall@{k} = {recall:.3f} on {len(queries)} sampled queries")

    indices = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, _QUERY_BLOCK):
        rows = np.arange(start, min(start + _QUERY_BLOCK, n))
        _, found = index.search(points[rows], k + 1)
        indices[rows] = _drop_self(found, rows, k, fallback=lambda short: _exact_rows(points, short, k))
    return _exact_order(points, indices)


def _doubling(first: int, last: int) -> list[int]:
    values = [first]
    while values[-1] < last:
        values.append(min(2 * values[-1], last))
    return values


def _as_float32_matrix(features) -> np.ndarray:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    array = np.asarray(features)
    if array.dtype.kind not in "iuf":
        raise InputError(f"features must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise InputError(f"features must be a 2-D (n, d) array, got shape {array.shape}")
    if array.shape[1] == 0:
        raise InputError(f"features must have at least one column, got shape {array.shape}")
    points = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(points).all():
        raise InputError("features must be finite; found NaN or infinity (or values beyond float32 range)")
    return points


def _drop_self(
    found: np.ndarray, rows: np.ndarray, k: int, fallback: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray:
    """The first k results of each row that are neither the row itself nor faiss's -1 filler.

    Rows with fewer than k such results get ``fallback(rows)`` (exact search); without one they
    keep -1 entries, which count as misses when recall is measured.
    """
    valid = (found >= 0) & (found != rows[:, None])
    rank = np.cumsum(valid, axis=1)
    keep = valid & (rank <= k)
    out = np.full((found.shape[0], k), -1, dtype=np.int64)
    full = keep.sum(axis=1) == k
    out[full] = found[full][keep[full]].reshape(-1, k)
    short = np.flatnonzero(~full)
    for i in short:
        got = found[i][keep[i]]
        out[i, : got.size] = got
    if fallback is not None and short.size:
        out[short] = fallback(rows[short])
    return out


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float((found[:, :, None] == truth[:, None, :]).any(axis=1).mean())


def _exact_rows(points: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact (float32) k nearest other samples of ``rows``, by blocks of database columns."""
    data = torch.from_numpy(points)
    queries = data[torch.from_numpy(rows)]
    query_norms = queries.square().sum(1, keepdim=True)
    best_values = torch.full((len(rows), 0), torch.inf)
    best_indices = torch.empty((len(rows), 0), dtype=torch.int64)
    for start in range(0, points.shape[0], _EXACT_BLOCK):
        block = data[start : start + _EXACT_BLOCK]
        distances = query_norms - 2 * queries @ block.T + block.square().sum(1)[None]
        own = (torch.from_numpy(rows)[:, None] - start) == torch.arange(block.shape[0])[None]
        distances[own] = torch.inf
        values = torch.cat([best_values, distances], dim=1)
        labels = torch.cat([best_indices, torch.arange(start, start + block.shape[0]).expand(len(rows), -1)], dim=1)
        top = torch.topk(values, min(k, values.shape[1]), dim=1, largest=False)
        best_values, best_indices = top.values, labels.gather(1, top.indices)
    return best_indices.numpy()


def _exact_order(points: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row's neighbours by float64 distance, ties by index; return them with distances."""
    n, k = indices.shape
    distances = np.empty((n, k), dtype=np.float64)
    for start in range(0, n, _RERANK_ROWS):
        rows = slice(start, min(start + _RERANK_ROWS, n))
        diff = points[indices[rows]].astype(np.float64) - points[rows, None].astype(np.float64)
        distances[rows] = np.sqrt(np.einsum("nkd,nkd->nk", diff, diff))
    by_index = np.argsort(indices, axis=1, kind="stable")
    indices = np.take_along_axis(indices, by_index, axis=1)
    distances = np.take_along_axis(distances, by_index, axis=1)
    by_distance = np.argsort(distances, axis=1, kind="stable")
    return np.take_along_axis(indices, by_distance, axis=1), np.take_along_axis(distances, by_distance, axis=1).astype(
        np.float32
    )
