"""Exact k-nearest neighbours of every training sample, in bounded memory.

INN averages a model's predictions over the neighbourhood of each training
sample (``neighbor(x_i, D)`` in the paper's Algorithm 1); the neighbours are
searched on the feature space of a pre-trained model. The paper names this
search the slowest step of the method (Table E.1), so it runs as tiled matrix
products on the device and never holds an n x n distance matrix.

The result is exact and reproducible: the sample itself is excluded by index
(not by distance 0, so a duplicate of it is still a neighbour), and equal
distances are ordered by the lower index.

How it is fast: every sample is a query and a database point at once, and the
distance matrix is symmetric, so each tile of it (rows I x columns J, I <= J)
is computed once in float32 and read twice - along its rows for the samples of
I and along its columns for the samples of J. That is half the arithmetic of a
query-by-query search such as faiss's ``IndexFlatL2``. Reading a tile costs
little next to its matrix product: group minima first, then only the entries
that can still beat a sample's current candidates (see ``_Candidates.offer``).
On the CPU the tiles are shared out to one worker thread per core, each
running single-threaded torch calls (see ``_Search.tile_candidates``).

How it stays exact: the float32 squared distances ``|q|^2 - 2 q.x + |x|^2``
select ``k + extra`` candidates per sample. A rigorous bound on their float32
rounding error then proves that no other point can beat the k-th neighbour -
already from the float32 values where the k-th and (k+1)-th candidates are far
enough apart, else after re-ranking all candidates - and the k neighbours are
re-ranked on float64 differences ``sqrt(sum((q - x)^2))`` and ordered by
(distance, index). Rows where the proof fails (crowded boundaries, many
duplicates) are searched again with twice as many candidates, up to all n - 1.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from numbers import Integral

import numpy as np
import torch

from inn_core._validation import check_int
from inn_core.devices import resolve_device
from inn_core.errors import InputError
from inn_core.method.threads import torch_threads

__all__ = ["BACKENDS", "nearest_neighbors", "choose_backend", "neighbor_recall"]

# Default tile side: on the CPU a 2048 x 2048 float32 tile (16 MiB) stays in
# the last-level cache while it is read along rows and columns; on a GPU
# larger tiles keep the device busy.
_TILE_CPU = 2048
_TILE_CUDA = 8192
# Column groups of a tile whose minima are looked at first (see _Candidates.offer).
_GROUPS = 16
# Working memory of one block of full-row distances when unproven rows are
# searched again.
_BLOCK_BYTES = 256 * 2**20
# Candidate differences per re-rank step: on the CPU small enough to stay in
# cache (the re-rank is bound by memory traffic), large enough that few steps
# are needed.
_RERANK_BYTES = {"cpu": 16 * 2**20}
_RERANK_BYTES_DEFAULT = 256 * 2**20
# Candidates beyond k taken before the exact re-rank; more rarely pays off,
# fewer makes the boundary check fail (and repeat) more often.
_EXTRA_CANDIDATES = 4
#: Exact: ``"exact"`` (torch tiles; ``"torch"`` is its old name) and ``"faiss"`` (a faiss flat index
#: proposes, the same exact re-rank proves). Approximate: ``"faiss-ivf"`` and ``"faiss-hnsw"``.
#: ``"auto"``: exact unless that would take minutes (see :func:`choose_backend`).
BACKENDS = ("auto", "exact", "torch", "faiss", "faiss-ivf", "faiss-hnsw")
_BACKENDS = BACKENDS
# Unit roundoff of the inputs of a float32 matrix product under each
# torch.set_float32_matmul_precision setting (float32, tf32, bfloat16).
_MATMUL_INPUT_ROUNDOFF = {"highest": 2.0**-24, "high": 2.0**-11, "medium": 2.0**-8}
_FLOAT32_ROUNDOFF = 2.0**-24
_APPROXIMATE = ("faiss-ivf", "faiss-hnsw")
# "auto" leaves exact search above this many multiply-adds (n^2 d / 2, the tiles' arithmetic):
# about two minutes on two CPU cores (n = 100,000 at d = 512 took 54 s; benchmarks/bench_embeddings.py).
_EXACT_BUDGET = 5e12
_LOG = logging.getLogger(__name__)


def nearest_neighbors(
    features,
    k: int,
    *,
    chunk_size: int | None = None,
    device: str | torch.device = "auto",
    backend: str = "auto",
    recall_target: float = 0.95,
    progress: Callable[[str], None] | None = None,
    rows=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Find the ``k`` nearest other samples of every sample (Euclidean; exact unless asked otherwise).

    Parameters
    ----------
    features : (n, d) float array or torch.Tensor
        One row per sample, finite values; ``n >= 2``, ``d >= 1``.
    k : int
        Neighbours per sample, ``1 <= k <= n - 1``.
    chunk_size : int or None, keyword-only
        Side of the square tiles of the distance matrix (rows of queries per
        block with ``backend="faiss"``). ``None`` picks 2048 on the CPU (a
        16 MiB tile that stays in cache) and 8192 on CUDA. On the CPU the
        search uses ``torch.get_num_threads()`` worker threads.
    device : str or torch.device, keyword-only
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    backend : {"auto", "exact", "faiss", "faiss-ivf", "faiss-hnsw"}, keyword-only
        ``"exact"`` (alias ``"torch"``): torch matrix products over the
        symmetric tiles propose candidates; ``"faiss"``: a faiss
        ``IndexFlatL2`` proposes them. Both feed the same exact re-rank, so the
        results are identical. ``"faiss-ivf"`` (``IndexIVFFlat``, nlist about
        ``4 sqrt(n)``) and ``"faiss-hnsw"`` (``IndexHNSWFlat``, M = 32) are
        approximate: their search breadth (``nprobe``, ``efSearch >= 2k``) is
        raised until the recall@k measured against exact search on 256 sampled
        queries reaches ``recall_target``; the neighbours they return are then
        ordered by exact distance, ties by index. ``"auto"`` is exact unless
        the exact search would take minutes (about ``n^2 d / 2`` multiply-adds
        above ``5e12``, e.g. n = 150,000 at d = 512), then ``"faiss-hnsw"``, and
        says so through ``progress`` and the ``inn_core.method.neighbors``
        logger. The faiss backends need ``faiss-cpu`` (imported only then).
    recall_target : float in (0, 1], keyword-only
        Approximate backends only: the recall@k their search breadth is tuned to.
    progress : callable or None, keyword-only
        Called with one-line messages: the backend ``"auto"`` chose, the tuned
        search breadth and its measured recall.
    rows : (m,) int array or None, keyword-only
        Search only these query rows against all ``n`` samples (one rank's
        shard under torchrun). The rows are searched query by query on full
        rows of distances (no symmetric tiles) and go through the same exact
        re-rank and proof, so ``indices[j]`` equals row ``rows[j]`` of the
        full search. ``backend`` does not apply. Default: every row.

    Returns
    -------
    indices : (n, k) int64 ndarray (``(m, k)`` with ``rows``)
        ``indices[i]`` are the neighbours of sample ``i`` by increasing
        distance, ties by increasing index; ``i`` itself never appears.
    distances : (n, k) float32 ndarray
        Matching Euclidean distances, ascending, ``>= 0`` (computed from
        coordinate differences, so duplicates are at exactly 0).

    Raises
    ------
    InputError
        ``features`` not 2-D, empty or non-finite; ``k`` outside
        ``[1, n - 1]``; bad ``chunk_size``; unknown ``backend``, or a faiss
        backend without faiss installed.

    Notes
    -----
    Memory grows linearly in n, never with n^2: the features in float64 and,
    twice, in float32 (``16 n (d + 2)`` bytes); the ``(n, k + 4)`` candidates,
    once per CPU thread; per CPU thread (once on CUDA) one ``chunk_size x
    chunk_size`` float32 tile (16 MiB by default on the CPU, 256 MiB on CUDA)
    and its ``1/16``-size group minima; 16 MiB of gathered differences for the
    re-rank on the CPU (256 MiB on CUDA); and, only for rows whose boundary was
    not proven, blocks of full rows of about 256 MiB.
    The arithmetic is about ``n^2 d`` multiply-adds (half of a query-by-query
    search), plus ``n k d`` for the re-rank.

    Examples
    --------
    >>> import numpy as np
    >>> from inn_core.method.neighbors import nearest_neighbors
    >>> points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    >>> indices, distances = nearest_neighbors(points, k=2, device="cpu")
    >>> indices[0].tolist(), distances[0].round(3).tolist()
    ([1, 2], [1.0, 2.0])
    """
    if backend not in _BACKENDS:
        raise InputError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}")
    if not 0 < recall_target <= 1:
        raise InputError(f"recall_target must be in (0, 1], got {recall_target}")
    if rows is None and backend in ("auto", "faiss-ivf", "faiss-hnsw"):
        shape = _shape_of(features)
        chosen = choose_backend(shape[0], shape[1]) if backend == "auto" and len(shape) == 2 else backend
        if chosen in _APPROXIMATE:
            if backend == "auto":
                _say(
                    progress,
                    f"{shape[0]:,} samples x {shape[1]} dimensions: exact neighbour search would take "
                    f"minutes, so 'auto' uses the approximate {chosen} backend (recall@{k} tuned to "
                    f">= {recall_target:.2f}); pass backend='exact' to insist on exact search",
                )
            return _approximate_neighbors(features, k, chosen, recall_target=recall_target, progress=progress)
        backend = "exact"
    points = _as_float64_matrix(features)
    magnitude = _magnitude(points)
    n, d = points.shape
    if not isinstance(k, Integral) or isinstance(k, bool):
        raise InputError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= n - 1:
        raise InputError(f"k must be between 1 and n-1 = {n - 1}, got {k}")
    check_int("chunk_size", chunk_size, low=1, allow_none=True)
    target = resolve_device(device)
    faiss = _import_faiss() if backend == "faiss" else None
    if backend == "faiss" and faiss is None:
        raise InputError(
            "backend='faiss' needs the faiss package (pip install faiss-cpu); use backend='exact' or 'auto'"
        )
    chunk = int(chunk_size) if chunk_size is not None else _TILE_CUDA if target.type == "cuda" else _TILE_CPU

    points = points.to(target)
    # Rescaling by a power of two is exact and keeps |x|^2 inside float32 range
    # for huge or tiny coordinates; distances are scaled back at the end.
    # (The clamp only matters for subnormal float64 input.)
    exponent = max(math.frexp(magnitude)[1], -1000)
    points.mul_(math.ldexp(1.0, -exponent))
    # On the CPU every torch call runs on one thread, and the cores are used by
    # worker threads over tiles instead: an OpenMP barrier per small step
    # stalls whenever another process holds a core (measured 3x slower on a
    # shared 2-core machine). The caller's setting comes back at the end.
    queries = None if rows is None else _as_rows(rows, n).to(target)
    with _threads(target, 1) as threads:
        search = _Search(points, k, threads)
        if queries is not None:
            indices, distances = search.query_rows(queries)
        else:
            if faiss is None:
                candidates, approximate = search.tile_candidates(chunk)
            else:
                candidates, approximate = search.faiss_candidates(faiss, chunk)
            indices, distances = search.exact(candidates, approximate)
    distances.mul_(math.ldexp(1.0, exponent))
    return indices.cpu().numpy(), distances.to(torch.float32).cpu().numpy()


class _Search:
    """Candidate selection, exact re-rank and boundary proof for one point set."""

    def __init__(self, points: torch.Tensor, k: int, threads: int) -> None:
        n, d = points.shape
        self.threads = threads
        self.points = points
        points32 = points.to(torch.float32)
        norms32 = torch.linalg.vecdot(points32, points32)[:, None]
        ones = torch.ones_like(norms32)
        # One matrix product gives a whole tile of |q|^2 - 2 q.x + |x|^2:
        # [q, |q|^2, 1] . [-2x, 1, |x|^2], with no pass over the tile to add norms.
        self.left = torch.cat([points32, norms32, ones], dim=1)
        self.right = torch.cat([points32.mul_(-2.0), ones, norms32], dim=1)
        self.k = k
        self.n = n
        self.first_candidates = min(k + _EXTRA_CANDIDATES, n - 1)
        # Rounding error of the float32 expansion, bounded per query row:
        # |q.x| <= (|q|^2 + |x|^2) / 2 (Cauchy-Schwarz); the length-(d+2) sum
        # of the product is off by (d + 2) u times the sum of its terms' sizes,
        # at most 2 (|q|^2 + |x|^2); the float32 norms by d u, the inputs of
        # the product (and the cast to float32) by 2 u_in, all relative to
        # |q|^2 + |x|^2: (3d + 8) u in all, which 3.3 ((d + 4) u + 2 u_in)
        # covers with room to spare. The bound is symmetric in q and x, so it
        # holds for a distance read along a tile's rows or along its columns.
        unit = _FLOAT32_ROUNDOFF
        unit_in = max(_MATMUL_INPUT_ROUNDOFF.get(torch.get_float32_matmul_precision(), 2.0**-8), unit)
        norms64 = torch.linalg.vector_norm(points, dim=1).square_()
        self.slack = 3.3 * ((d + 4) * unit + 2 * unit_in) * (norms64 + norms64.max())

    def tile(self, rows: slice, cols: slice) -> torch.Tensor:
        """Approximate float32 squared distances between two blocks of points."""
        return self.left[rows] @ self.right[cols].T

    def tile_candidates(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``first_candidates`` smallest approximate distances of every row.

        The diagonal tiles come first, so that every row holds candidates (and
        a threshold) before the off-diagonal tiles ``(I, J)``, ``I < J``, are
        visited once each and offered along their rows to the samples of ``I``
        and along their columns to the samples of ``J``. On the CPU one worker
        thread per core takes tiles from a shared queue into candidates of its
        own, merged at the end: every torch call runs single-threaded, so no
        core ever waits at a barrier for another (a stall whenever other
        processes share the machine), yet all cores work.

        Returns ``(candidates (n, c) int64, approximate (n, c) float32)``: each
        row's candidates and their approximate squared distances, in any order.
        """
        device = self.points.device
        blocks = [slice(start, min(start + size, self.n)) for start in range(0, self.n, size)]
        tiles = [(rows, rows) for rows in blocks]
        tiles += [(rows, cols) for i, rows in enumerate(blocks) for cols in blocks[i + 1 :]]
        workers = min(self.threads, len(tiles)) if device.type == "cpu" else 1
        queue = iter(tiles)
        lock = threading.Lock()

        def work(found: _Candidates) -> None:
            while True:
                with lock:
                    rows, cols = next(queue, (None, None))
                if rows is None:
                    return
                block = self.tile(rows, cols)
                if rows == cols:
                    block.fill_diagonal_(torch.inf)  # the sample itself, excluded by index
                    found.offer(rows, block, rows.start)
                else:
                    found.offer(rows, block, cols.start)
                    found.offer(cols, block.T, rows.start)

        shares = [_Candidates(self.n, self.first_candidates, device) for _ in range(workers)]
        if workers == 1:
            work(shares[0])
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(work, shares))
        found = shares[0]
        for other in shares[1:]:
            found.merge(slice(0, self.n), other.values, other.labels)
        return found.labels, found.values

    def faiss_candidates(self, faiss, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The same candidates as :meth:`tile_candidates`, proposed by a faiss ``IndexFlatL2``."""
        d = self.points.shape[1]
        index = faiss.IndexFlatL2(d)
        database = np.ascontiguousarray(self.left[:, :d].cpu().numpy())
        index.add(database)
        count = self.first_candidates
        candidates = np.empty((self.n, count), dtype=np.int64)
        approximate = np.empty((self.n, count), dtype=np.float32)
        for start in range(0, self.n, size):
            values, labels = index.search(database[start : start + size], count + 1)
            # Drop the query itself where faiss returned it, else the farthest
            # one, keeping the order of the rest.
            row_ids = np.arange(start, start + labels.shape[0])[:, None]
            position = np.where(labels == row_ids, count + 1, np.arange(count + 1))
            keep = np.argsort(position, axis=1, kind="stable")[:, :count]
            candidates[start : start + labels.shape[0]] = np.take_along_axis(labels, keep, axis=1)
            approximate[start : start + labels.shape[0]] = np.take_along_axis(values, keep, axis=1)
        device = self.points.device
        return torch.from_numpy(candidates).to(device), torch.from_numpy(approximate).to(device)

    def exact(self, candidates: torch.Tensor, approximate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact ``(indices (n, k) int64, distances (n, k) float64)`` from every row's candidates.

        Where the approximate k-th and (k+1)-th candidates are more than twice
        the error bound apart, the first k candidates are the neighbours
        already and only they are re-ranked; other rows re-rank all of their
        candidates, and rows still unproven are searched again on full rows.
        """
        n, k, count = self.n, self.k, candidates.shape[1]
        approximate, order = approximate.sort(dim=1)
        candidates = candidates.gather(1, order)
        indices = torch.empty((n, k), dtype=torch.int64, device=candidates.device)
        distances = torch.empty((n, k), dtype=torch.float64, device=candidates.device)
        rows = torch.arange(n, device=candidates.device)
        if count > k:
            clear = approximate[:, k].double() - approximate[:, k - 1].double() > 2 * self.slack
            groups = [(rows[clear], k, k), (rows[~clear], count, count - 1)]
        else:
            groups = [(rows, count, count - 1)]
        retry = []
        for group, width, bound in groups:
            proven, indices[group], distances[group] = self.rerank(
                group, candidates[group, :width], approximate[group, bound]
            )
            retry.append(group[~proven])
        # Unproven rows: full rows of distances, twice the candidates, in blocks of bounded memory.
        retry = torch.cat(retry)
        step = max(1, _BLOCK_BYTES // (4 * n))
        for start in range(0, retry.numel(), step):
            part = retry[start : start + step]
            indices[part], distances[part] = self.torch_rows(part, min(2 * self.first_candidates, n - 1))
        return indices, distances

    def query_rows(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact neighbours of the given rows only, from full rows of distances in bounded blocks."""
        indices = torch.empty((rows.numel(), self.k), dtype=torch.int64, device=rows.device)
        distances = torch.empty((rows.numel(), self.k), dtype=torch.float64, device=rows.device)
        step = max(1, _BLOCK_BYTES // (4 * self.n))
        for start in range(0, rows.numel(), step):
            part = slice(start, start + step)
            indices[part], distances[part] = self.torch_rows(rows[part], self.first_candidates)
        return indices, distances

    def torch_rows(self, rows: torch.Tensor, n_candidates: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact neighbours of ``rows`` from their full rows of distances, widening until proven."""
        with _threads(rows.device, self.threads):
            block = self.left[rows] @ self.right.T
        block[torch.arange(rows.numel(), device=rows.device), rows] = torch.inf
        indices = torch.empty((rows.numel(), self.k), dtype=torch.int64, device=rows.device)
        distances = torch.empty((rows.numel(), self.k), dtype=torch.float64, device=rows.device)
        pending = torch.arange(rows.numel(), device=rows.device)
        while pending.numel():
            sub = block if pending.numel() == rows.numel() else block[pending]
            values, candidates = torch.topk(sub, n_candidates, dim=1, largest=False, sorted=False)
            proven, best, best_distances = self.rerank(rows[pending], candidates, values.amax(dim=1))
            indices[pending[proven]] = best[proven]
            distances[pending[proven]] = best_distances[proven]
            pending = pending[~proven]
            n_candidates = min(2 * n_candidates, self.n - 1)
        return indices, distances

    def rerank(
        self, rows: torch.Tensor, candidates: torch.Tensor, others_at_least: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Order candidates by exact (distance, index); prove the first k are the true ones.

        ``others_at_least`` is, per row, a lower bound on the approximate
        squared distance of every point that is not a candidate, hence
        ``others_at_least - slack`` one on their exact squared distance.

        Returns ``(proven (m,) bool, indices (m, k) int64, distances (m, k) float64)``.
        """
        m, n_candidates = candidates.shape
        d = self.points.shape[1]
        candidates = candidates.sort(dim=1).values
        exact = torch.empty((m, n_candidates), dtype=torch.float64, device=rows.device)
        budget = _RERANK_BYTES.get(rows.device.type, _RERANK_BYTES_DEFAULT)
        step = max(1, min(m, budget // (8 * n_candidates * d)))
        # One reused buffer: the gathered differences are the largest tensor of the re-rank.
        buffer = torch.empty((step * n_candidates, d), dtype=torch.float64, device=rows.device)
        for start in range(0, m, step):
            part = candidates[start : start + step]
            difference = torch.index_select(self.points, 0, part.reshape(-1), out=buffer[: part.numel()])
            difference = difference.view(part.shape[0], n_candidates, d)
            difference.sub_(self.points[rows[start : start + step], None, :])
            # One fused pass: sqrt of the float64 sum of squared differences.
            torch.linalg.vector_norm(difference, dim=2, out=exact[start : start + step])
        # Candidates are sorted by index, so a stable sort on distance breaks
        # ties by the lower index.
        exact, order = torch.sort(exact, dim=1, stable=True)
        best = candidates.gather(1, order[:, : self.k])
        best_distances = exact[:, : self.k].contiguous()
        if n_candidates >= self.n - 1:
            proven = torch.ones(m, dtype=torch.bool, device=rows.device)
        else:
            proven = best_distances[:, -1].square() < others_at_least.to(torch.float64) - self.slack[rows]
        return proven, best, best_distances


class _Candidates:
    """Every row's ``count`` smallest approximate distances seen so far, and their columns.

    Invariant: every entry offered to a row and not kept is at least that row's
    ``threshold``, the largest value it keeps - which is what the exactness
    proof needs of the final candidates.
    """

    def __init__(self, n: int, count: int, device: torch.device) -> None:
        self.count = count
        self.values = torch.full((n, count), torch.inf, device=device)
        self.labels = torch.zeros((n, count), dtype=torch.int64, device=device)
        self.threshold = torch.full((n,), torch.inf, device=device)
        # Sparse offers (below) cost a host sync per tile: worth it on the CPU only.
        self.sparse = device.type == "cpu"

    def offer(self, rows: slice, block: torch.Tensor, first_column: int) -> None:
        """Offer ``block[r, j]`` as the distance of row ``rows.start + r`` to ``first_column + j``.

        ``block`` may be a transposed view. Its columns are split into
        ``_GROUPS`` interleaved groups (column ``j`` in group ``j % width``) and
        reduced to the group minima first - elementwise minima of slabs of the
        block's memory, vectorised and cheap. Once rows hold candidates only the
        few groups whose minimum beats the row's threshold can matter, and only
        their entries are looked at; otherwise (first offers, small blocks) the
        ``count`` groups with the smallest minima hold the ``count`` smallest
        entries (each lies in a group whose minimum is no larger), and only
        those groups go to an exact top-k. A full-width ``torch.topk`` would cost
        several times the tile's matrix product on the CPU.
        """
        m, columns = block.shape
        width = columns // _GROUPS
        if columns % _GROUPS or width < 2 * self.count:
            top = torch.topk(block, min(self.count, columns), dim=1, largest=False, sorted=False)
            self.merge(rows, top.values, top.indices.add_(first_column))
            return
        if block.stride(1) == 1:
            minima = block.view(m, _GROUPS, width).amin(dim=1)
        else:
            minima = block.T.view(_GROUPS, width, m).amin(dim=0).T
        offsets = torch.arange(0, columns, width, device=block.device)
        threshold = self.threshold[rows]
        if self.sparse:
            hits = (minima < threshold[:, None]).nonzero()
            if hits.shape[0] <= m * self.count:
                self._offer_hits(rows, block, hits, offsets, threshold, first_column)
                return
        groups = torch.topk(minima, self.count, dim=1, largest=False, sorted=False).indices
        columns_seen = (groups[:, :, None] + offsets).view(m, self.count * _GROUPS)
        top = torch.topk(block.gather(1, columns_seen), self.count, dim=1, largest=False, sorted=False)
        self.merge(rows, top.values, columns_seen.gather(1, top.indices).add_(first_column))

    def _offer_hits(
        self,
        rows: slice,
        block: torch.Tensor,
        hits: torch.Tensor,
        offsets: torch.Tensor,
        threshold: torch.Tensor,
        first_column: int,
    ) -> None:
        """Offer the entries below the threshold of the groups in ``hits`` (row, group) pairs."""
        hit_rows, hit_groups = hits.unbind(1)
        hit_columns = hit_groups[:, None] + offsets
        # Flat offsets into the tile's memory: one-dimensional gathers are the cheap ones.
        row_stride, column_stride = block.stride()
        tile = block if column_stride == 1 else block.T
        hit_values = torch.take(tile, hit_rows[:, None] * row_stride + hit_columns * column_stride)
        kept = (hit_values < threshold[hit_rows, None]).view(-1).nonzero().squeeze(1)
        if kept.numel() == 0:
            return
        entry_rows = hit_rows[kept // _GROUPS]
        # nonzero lists entries row by row, so an entry's place in its row is
        # its position minus where its row's run starts.
        per_row = torch.bincount(entry_rows, minlength=block.shape[0])
        place = torch.arange(kept.numel(), device=block.device) - (per_row.cumsum(0) - per_row)[entry_rows]
        width = int(per_row.max())
        slots = entry_rows * width + place
        values = torch.full((block.shape[0] * width,), torch.inf, device=block.device)
        labels = torch.zeros(block.shape[0] * width, dtype=torch.int64, device=block.device)
        values[slots] = hit_values.view(-1)[kept]
        labels[slots] = hit_columns.view(-1)[kept] + first_column
        self.merge(rows, values.view(-1, width), labels.view(-1, width))

    def merge(self, rows: slice, values: torch.Tensor, labels: torch.Tensor) -> None:
        """Keep the ``count`` smallest of the current and the given ``(m, *)`` candidates of ``rows``."""
        merged_values = torch.cat([self.values[rows], values], dim=1)
        top = torch.topk(merged_values, self.count, dim=1, largest=False, sorted=False)
        self.labels[rows] = torch.cat([self.labels[rows], labels], dim=1).gather(1, top.indices)
        self.values[rows] = top.values
        self.threshold[rows] = top.values.amax(dim=1)


@contextmanager
def _threads(device: torch.device, count: int) -> Iterator[int]:
    """Run torch's CPU kernels on ``count`` threads for the block (not other devices); yields the count found."""
    if device.type != "cpu":
        yield torch.get_num_threads()
        return
    with torch_threads(count) as previous:
        yield previous


def _as_rows(rows, n: int) -> torch.Tensor:
    rows = torch.as_tensor(np.asarray(rows), dtype=torch.int64).reshape(-1)
    if rows.numel() and (rows.min() < 0 or rows.max() >= n):
        raise InputError(f"rows must lie in [0, {n}), got range [{int(rows.min())}, {int(rows.max())}]")
    return rows


def _as_float64_matrix(features) -> torch.Tensor:
    if isinstance(features, torch.Tensor):
        tensor = features.detach()
        if tensor.is_complex() or tensor.dtype == torch.bool:
            raise InputError(f"features must hold real numbers, got dtype {tensor.dtype}")
        tensor = tensor.to(torch.float64, copy=True)
    else:
        array = np.asarray(features)
        if array.dtype.kind not in "iuf":
            raise InputError(f"features must hold real numbers, got dtype {array.dtype}")
        tensor = torch.from_numpy(array.astype(np.float64))
    if tensor.ndim != 2:
        raise InputError(f"features must be a 2-D (n, d) array, got shape {tuple(tensor.shape)}")
    if tensor.shape[1] == 0:
        raise InputError(f"features must have at least one column, got shape {tuple(tensor.shape)}")
    return tensor


def _magnitude(points: torch.Tensor) -> float:
    """Largest absolute coordinate; one pass that also rejects NaN and infinity."""
    if points.numel() == 0:
        return 0.0
    low, high = torch.aminmax(points)
    magnitude = max(-float(low), float(high))
    if not math.isfinite(magnitude):
        raise InputError("features must be finite; found NaN or infinity")
    return magnitude


def _import_faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def choose_backend(n: int, d: int, *, device: str | torch.device = "cpu") -> str:
    """The backend ``backend="auto"`` uses for ``n`` samples of ``d`` dimensions.

    ``"exact"`` while the exact search costs at most about ``5e12`` multiply-adds (``n^2 d / 2``;
    about two minutes on two CPU cores: n = 100,000 at d = 512 stays exact, 150,000 does not), else
    ``"faiss-hnsw"`` when faiss is installed (``"exact"`` otherwise: a slow exact answer beats none).
    HNSW rather than IVF: ``IndexIVFFlat`` scans its lists without BLAS and needed a quarter of them for
    a 0.95 recall on 512-d embeddings, slower than the exact search (benchmarks/RESULTS.md, section 5).
    """
    if n * n * d / 2 <= _EXACT_BUDGET:
        return "exact"
    return "faiss-hnsw" if _import_faiss() is not None else "exact"


def neighbor_recall(found: np.ndarray, exact: np.ndarray) -> float:
    """recall@k: the fraction of the exact neighbours that ``found`` contains, over all rows.

    Parameters
    ----------
    found, exact : (m, k) int neighbour indices of the same m samples.

    Returns
    -------
    float in [0, 1]; 1 when every exact neighbour was found.
    """
    found, exact = np.asarray(found), np.asarray(exact)
    if found.shape != exact.shape or found.ndim != 2:
        raise InputError(
            f"found and exact must be (m, k) arrays of the same shape, got {found.shape} and {exact.shape}"
        )
    hits = (np.sort(found, axis=1)[:, :, None] == exact[:, None, :]).any(axis=1)
    return float(hits.mean()) if hits.size else 1.0


def _say(progress: Callable[[str], None] | None, message: str) -> None:
    _LOG.info(message)
    if progress is not None:
        progress(message)


def _shape_of(features) -> tuple[int, ...]:
    return tuple(features.shape) if hasattr(features, "shape") else np.shape(features)


def _approximate_neighbors(
    features, k: int, backend: str, *, recall_target: float, progress: Callable[[str], None] | None
) -> tuple[np.ndarray, np.ndarray]:
    from inn_core.method.approximate_neighbors import approximate_neighbors

    faiss = _import_faiss()
    if faiss is None:
        raise InputError(f"backend={backend!r} needs the faiss package (pip install faiss-cpu); use backend='exact'")
    return approximate_neighbors(
        faiss, features, k, backend, recall_target=recall_target, report=lambda message: _say(progress, message)
    )
