"""Exact k-nearest neighbours of every training sample, in bounded memory.

INN averages a model's predictions over the neighbourhood of each training
sample (``neighbor(x_i, D)`` in the paper's Algorithm 1); the neighbours are
searched on the feature space of a pre-trained model. The paper names this
search the slowest step of the method (Table E.1), so it runs as chunked matrix
products on the device and never holds an n x n distance matrix.

The result is exact and reproducible: the sample itself is excluded by index
(not by distance 0, so a duplicate of it is still a neighbour), and equal
distances are ordered by the lower index.

How exactness is kept while the bulk work stays in float32: for each chunk of
queries the squared distances ``|q|^2 - 2 q.x + |x|^2`` select ``k + extra``
candidates; those are re-ranked on float64 differences ``sum((q - x)^2)`` and
ordered by (distance, index). A rigorous bound on the float32 rounding error
then proves that no non-candidate can beat the k-th neighbour; rows where it
cannot be proved (crowded boundaries, many duplicates) are searched again with
twice as many candidates, up to all n - 1.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import torch

from inn_core.devices import resolve_device
from inn_core.errors import InputError

__all__ = ["nearest_neighbors"]

# Working memory of one block of approximate squared distances (or of one block
# of candidate differences during the re-rank).
_BLOCK_BYTES = 256 * 2**20
# Candidates beyond k taken before the exact re-rank; more rarely pays off,
# fewer makes the boundary check fail (and repeat) more often.
_EXTRA_CANDIDATES = 8
# ``backend="auto"`` hands the candidate search to faiss from this many samples
# on (CPU only); below it torch is as fast and needs no extra package.
_FAISS_MIN_SAMPLES = 100_000
_BACKENDS = ("auto", "torch", "faiss")
# Unit roundoff of the inputs of a float32 matrix product under each
# torch.set_float32_matmul_precision setting (float32, tf32, bfloat16).
_MATMUL_INPUT_ROUNDOFF = {"highest": 2.0**-24, "high": 2.0**-11, "medium": 2.0**-8}
_FLOAT32_ROUNDOFF = 2.0**-24


def nearest_neighbors(
    features,
    k: int,
    *,
    chunk_size: int | None = None,
    device: str | torch.device = "auto",
    backend: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Find the ``k`` nearest other samples of every sample (Euclidean, exact).

    Parameters
    ----------
    features : (n, d) float array or torch.Tensor
        One row per sample, finite values; ``n >= 2``, ``d >= 1``.
    k : int
        Neighbours per sample, ``1 <= k <= n - 1``.
    chunk_size : int or None, keyword-only
        Query rows per block. Working memory is about
        ``chunk_size * n * 4`` bytes for the block of approximate squared
        distances (never n x n unless ``chunk_size >= n``; up to twice that
        while rows whose boundary was not proven are retried), plus the exact
        re-rank, itself split into blocks of about 256 MiB. ``None`` picks
        ``max(1, min(n, 256 MiB // (4 n)))`` so the block stays near 256 MiB.
    device : str or torch.device, keyword-only
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    backend : {"auto", "torch", "faiss"}, keyword-only
        Who proposes candidates: torch matrix products, or a faiss
        ``IndexFlatL2`` (needs ``faiss-cpu``). Both feed the same exact
        re-rank, so the results are identical. ``"auto"`` uses faiss only when
        it can be imported, the device is the CPU and ``n >= 100_000``.

    Returns
    -------
    indices : (n, k) int64 ndarray
        ``indices[i]`` are the neighbours of sample ``i`` by increasing
        distance, ties by increasing index; ``i`` itself never appears.
    distances : (n, k) float32 ndarray
        Matching Euclidean distances, ascending, ``>= 0`` (computed from
        coordinate differences, so duplicates are at exactly 0).

    Raises
    ------
    InputError
        ``features`` not 2-D, empty or non-finite; ``k`` outside
        ``[1, n - 1]``; bad ``chunk_size``; unknown ``backend``, or
        ``"faiss"`` without faiss installed.
    """
    points = _as_float64_matrix(features)
    n, d = points.shape
    if not isinstance(k, Integral) or isinstance(k, bool):
        raise InputError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= n - 1:
        raise InputError(f"k must be between 1 and n-1 = {n - 1}, got {k}")
    if chunk_size is not None and (
        not isinstance(chunk_size, Integral) or isinstance(chunk_size, bool) or chunk_size < 1
    ):
        raise InputError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    if backend not in _BACKENDS:
        raise InputError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}")
    target = resolve_device(device)
    faiss = _import_faiss()
    if backend == "faiss" and faiss is None:
        raise InputError("backend='faiss' needs the faiss package (pip install faiss-cpu); use backend='torch' or 'auto'")
    use_faiss = faiss is not None and (
        backend == "faiss" or (backend == "auto" and target.type == "cpu" and n >= _FAISS_MIN_SAMPLES)
    )
    chunk = int(chunk_size) if chunk_size is not None else max(1, min(n, _BLOCK_BYTES // (4 * n)))

    points = points.to(target)
    # Rescaling by a power of two is exact and keeps |x|^2 inside float32 range
    # for huge or tiny coordinates; distances are scaled back at the end.
    # (The clamp only matters for subnormal float64 input.)
    exponent = max(math.frexp(float(points.abs().max()))[1], -1000)
    points = points * math.ldexp(1.0, -exponent)
    search = _Search(points, k)
    index = _faiss_index(faiss, search.points32) if use_faiss else None

    indices = torch.empty((n, k), dtype=torch.int64, device=target)
    squared = torch.empty((n, k), dtype=torch.float64, device=target)
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(start + chunk, n), device=target)
        if index is None:
            block_indices, block_squared = search.torch_rows(rows, search.first_candidates)
        else:
            block_indices, block_squared = search.faiss_rows(index, rows)
        indices[rows] = block_indices
        squared[rows] = block_squared
    distances = squared.sqrt() * math.ldexp(1.0, exponent)
    return indices.cpu().numpy(), distances.to(torch.float32).cpu().numpy()


class _Search:
    """Candidate selection, exact re-rank and boundary proof for one point set."""

    def __init__(self, points: torch.Tensor, k: int) -> None:
        n, d = points.shape
        self.points = points
        self.points32 = points.to(torch.float32)
        self.norms32 = self.points32.square().sum(dim=1)
        self.k = k
        self.n = n
        self.first_candidates = min(k + _EXTRA_CANDIDATES, n - 1)
        # Rounding error of the float32 expansion, bounded per query row:
        # |q.x| <= (|q|^2 + |x|^2) / 2 (Cauchy-Schwarz), each length-d sum is
        # off by at most d * u relative, inputs of the product (and the cast to
        # float32) by 2 * u_in; 2.2 instead of 2 covers the final additions.
        unit = _FLOAT32_ROUNDOFF
        unit_in = max(_MATMUL_INPUT_ROUNDOFF.get(torch.get_float32_matmul_precision(), 2.0**-8), unit)
        norms64 = points.square().sum(dim=1)
        self.slack = 2.2 * ((d + 4) * unit + 2 * unit_in) * (norms64 + norms64.max())

    def approximate(self, rows: torch.Tensor) -> torch.Tensor:
        """(m, n) float32 squared distances of ``rows`` to all points, self at +inf."""
        block = torch.addmm(self.norms32.expand(rows.numel(), -1), self.points32[rows], self.points32.T, alpha=-2.0)
        block.add_(self.norms32[rows, None])
        block[torch.arange(rows.numel(), device=rows.device), rows] = torch.inf
        return block

    def torch_rows(self, rows: torch.Tensor, n_candidates: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact neighbours of ``rows``, widening the candidate set until proven."""
        block = self.approximate(rows)
        indices = torch.empty((rows.numel(), self.k), dtype=torch.int64, device=rows.device)
        squared = torch.empty((rows.numel(), self.k), dtype=torch.float64, device=rows.device)
        pending = torch.arange(rows.numel(), device=rows.device)
        while pending.numel():
            sub = block if pending.numel() == rows.numel() else block[pending]
            values, candidates = torch.topk(sub, n_candidates, dim=1, largest=False, sorted=False)
            proven, best, best_squared = self.rerank(rows[pending], candidates, values.max(dim=1).values)
            indices[pending[proven]] = best[proven]
            squared[pending[proven]] = best_squared[proven]
            pending = pending[~proven]
            n_candidates = min(2 * n_candidates, self.n - 1)
        return indices, squared

    def faiss_rows(self, index, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact neighbours of ``rows`` from faiss candidates; unproven rows go to torch."""
        n_candidates = self.first_candidates
        queries = self.points32[rows].cpu().numpy()
        values, labels = index.search(queries, n_candidates + 1)
        # Drop the query itself where faiss returned it, else the farthest one,
        # keeping the order of the rest.
        row_ids = rows.cpu().numpy()[:, None]
        position = np.where(labels == row_ids, n_candidates + 1, np.arange(n_candidates + 1))
        keep = np.argsort(position, axis=1, kind="stable")[:, :n_candidates]
        candidates = torch.from_numpy(np.take_along_axis(labels, keep, axis=1)).to(rows.device)
        lower = torch.from_numpy(np.take_along_axis(values, keep, axis=1).max(axis=1)).to(rows.device)
        proven, indices, squared = self.rerank(rows, candidates, lower)
        if not bool(proven.all()):
            retry = ~proven
            indices[retry], squared[retry] = self.torch_rows(rows[retry], min(2 * n_candidates, self.n - 1))
        return indices, squared

    def rerank(
        self, rows: torch.Tensor, candidates: torch.Tensor, largest_candidate: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Order candidates by exact (distance, index); prove the first k are the true ones.

        ``largest_candidate`` is, per row, the largest approximate squared
        distance among the candidates: every other point is at least that far
        approximately, hence at least ``largest_candidate - slack`` exactly.
        """
        m, n_candidates = candidates.shape
        candidates = candidates.sort(dim=1).values
        exact = torch.empty((m, n_candidates), dtype=torch.float64, device=rows.device)
        step = max(1, _BLOCK_BYTES // (8 * n_candidates * self.points.shape[1]))
        for start in range(0, m, step):
            part = slice(start, start + step)
            # In place: the gathered block is the largest tensor of the re-rank.
            difference = self.points[candidates[part]]
            difference.sub_(self.points[rows[part], None, :])
            exact[part] = difference.square_().sum(dim=2)
        # Candidates are sorted by index, so a stable sort on distance breaks
        # ties by the lower index.
        exact, order = torch.sort(exact, dim=1, stable=True)
        best = candidates.gather(1, order)[:, : self.k]
        best_squared = exact[:, : self.k]
        if n_candidates >= self.n - 1:
            proven = torch.ones(m, dtype=torch.bool, device=rows.device)
        else:
            proven = best_squared[:, -1] < largest_candidate.to(torch.float64) - self.slack[rows]
        return proven, best, best_squared


def _as_float64_matrix(features) -> torch.Tensor:
    if isinstance(features, torch.Tensor):
        tensor = features.detach()
        if tensor.is_complex() or tensor.dtype == torch.bool:
            raise InputError(f"features must hold real numbers, got dtype {tensor.dtype}")
        tensor = tensor.to(torch.float64)
    else:
        array = np.asarray(features)
        if array.dtype.kind not in "iuf":
            raise InputError(f"features must hold real numbers, got dtype {array.dtype}")
        tensor = torch.from_numpy(array.astype(np.float64))
    if tensor.ndim != 2:
        raise InputError(f"features must be a 2-D (n, d) array, got shape {tuple(tensor.shape)}")
    if tensor.shape[1] == 0:
        raise InputError(f"features must have at least one column, got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise InputError("features must be finite; found NaN or infinity")
    return tensor


def _import_faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _faiss_index(faiss, points32: torch.Tensor):
    index = faiss.IndexFlatL2(points32.shape[1])
    index.add(np.ascontiguousarray(points32.cpu().numpy()))
    return index
