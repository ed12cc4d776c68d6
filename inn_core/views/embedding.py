"""A 2-D map of a run's training samples: UMAP of the ``h`` features INN finds neighbours with.

Samples close on the map are close in feature space, so a wrongly labelled sample shows up as a
point of one colour among another class's points. The projection is computed once per run and
stored atomically as ``<run dir>/embedding.npz`` (``coords`` (n, 2) plus the settings used);
:func:`run_embedding` returns the stored map when there is one.

umap-learn compiles its kernels with numba on first use in a process (tens of seconds on a slow
CPU), so callers should show progress; later calls in the same process take about a second for a
few thousand samples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch

from inn_core.errors import InputError
from inn_core.method.threads import torch_threads
from inn_core.runs.store import RunStore

__all__ = ["EMBEDDING_FILE", "compute_embedding", "stored_embedding", "run_embedding"]

EMBEDDING_FILE = "embedding.npz"

#: ``progress(fraction in [0, 1], message)``
ProgressCallback = Callable[[float, str], None]


def compute_embedding(
    features: np.ndarray,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    random_state: int = 0,
) -> np.ndarray:
    """UMAP of ``features`` to two dimensions.

    Parameters
    ----------
    features : (n, d) float, n >= 4.
    n_neighbors : UMAP's neighbourhood size, >= 2; capped at n - 1.
    min_dist : how tightly UMAP packs points, in [0, 1].
    random_state : seed; the same seed and features give the same map.

    Returns
    -------
    (n, 2) float32 coordinates.
    """
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise InputError(f"features must have shape (n, d), got {features.shape}")
    n = features.shape[0]
    if n < 4:
        raise InputError(f"a map needs at least 4 samples, got {n}")
    if not np.isfinite(features).all():
        raise InputError(
            "features contain NaN or infinite values; the run's model diverged, so there is nothing to map"
        )
    if n_neighbors < 2:
        raise InputError(f"n_neighbors must be at least 2, got {n_neighbors}")
    if not 0.0 <= min_dist <= 1.0:
        raise InputError(f"min_dist must be in [0, 1], got {min_dist}")
    import umap  # imported here: it pulls in numba, which takes seconds to load

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(n_neighbors, n - 1),
        min_dist=min_dist,
        random_state=int(random_state),
        n_jobs=1,
        # Spectral initialisation needs more points than components + neighbours to be stable.
        init="spectral" if n > 2 * min(n_neighbors, n - 1) else "random",
    )
    # numba's parallel layer shares torch's OpenMP runtime and leaves its own thread count in it
    # (measured: torch at 1 thread before a fit, 2 after); the block restores torch's count, or
    # later training in this process - the dashboard server, a test session - gives other floats.
    with torch_threads(torch.get_num_threads()), warnings.catch_warnings():
        # A seed forces one thread; umap warns about it and about tiny inputs on every call.
        warnings.simplefilter("ignore", UserWarning)
        coords = reducer.fit_transform(features)
    return np.asarray(coords, dtype=np.float32)


def stored_embedding(store: RunStore, run_id: str) -> np.ndarray | None:
    """The run's stored map, (n, 2) float32, or ``None`` when none was computed yet."""
    if not store.has_file(run_id, EMBEDDING_FILE):
        return None
    return store.read_arrays(run_id, EMBEDDING_FILE)["coords"]


def run_embedding(
    store: RunStore,
    run_id: str,
    *,
    progress: ProgressCallback | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    random_state: int | None = None,
) -> np.ndarray:
    """The map of a finished run's final ``h`` features: the stored one, or computed and stored now.

    Parameters
    ----------
    store, run_id : the run; it must be done (``final.npz`` holds the features).
    progress : called with (fraction in [0, 1], message) as the work goes on.
    n_neighbors, min_dist : UMAP settings (see :func:`compute_embedding`), used only when computing.
    random_state : seed; default the run's own seed.

    Returns
    -------
    (n, 2) float32 coordinates, row i for training sample i.
    """
    report = progress or (lambda fraction, message: None)
    coords = stored_embedding(store, run_id)
    if coords is not None:
        report(1.0, "map loaded")
        return coords
    if not store.has_file(run_id, "final.npz"):
        status = store.get_run(run_id).status
        raise InputError(f"run {run_id!r} has no final features yet (status: {status}); wait until it is done")
    report(0.05, "reading the run's features")
    final = store.read_arrays(run_id, "final.npz")
    if "features" not in final:
        # Large embedding runs do not copy the user's embeddings into the store.
        raise InputError(
            f"run {run_id!r} kept no copy of its {store.read_json(run_id, 'data.json', {}).get('n', '?')} "
            f"embeddings (too large to store twice), so it has no map"
        )
    features = final["features"]
    seed = int(store.config(run_id).get("seed", 0)) if random_state is None else int(random_state)
    report(0.15, f"projecting {features.shape[0]} samples with UMAP (the first map in a session compiles UMAP first)")
    coords = compute_embedding(features, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed)
    report(0.95, "storing the map")
    store.write_arrays(
        run_id,
        EMBEDDING_FILE,
        coords=coords,
        n_neighbors=np.int64(n_neighbors),
        min_dist=np.float64(min_dist),
        random_state=np.int64(seed),
    )
    report(1.0, "map stored")
    return coords
