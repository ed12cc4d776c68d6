"""Scores over time and between detectors: per-sample trajectories and where methods disagree.

:func:`score_trajectories` follows chosen samples' scores across a run's evaluation epochs (or
picks the ones whose rank moved most); :func:`detector_disagreement` puts several methods' scores
of the last epoch side by side with each method's flags (the Beta-mixture split every method gets)
and names the samples only one method flags - the cases worth opening on the Review page.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from inn_core.errors import InputError
from inn_core.runs.store import RunStore

__all__ = ["score_trajectories", "detector_disagreement", "DEFAULT_DETECTORS"]

#: INN against the small-loss criterion and confident learning.
DEFAULT_DETECTORS = ("inn", "ce", "cleanlab")


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank fraction in [0, 1] of each score (0 = most suspicious), ties by index."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(scores.size)
    ranks[order] = np.arange(scores.size) / max(1, scores.size - 1)
    return ranks


def score_trajectories(
    store: RunStore, run_id: str, *, method: str = "inn", samples: Sequence[int] | None = None, top: int = 20
) -> pd.DataFrame:
    """Each chosen sample's score and rank at every evaluation epoch where ``method`` was scored.

    Parameters
    ----------
    samples : sample indices to follow; default: the ``top`` samples whose rank fraction changed
        most between any two epochs (max - min).

    Returns
    -------
    Long DataFrame with columns ``sample``, ``epoch``, ``score``, ``rank`` (rank fraction in [0, 1],
    0 = most suspicious), ``is_noisy`` (bool, or NA when unknown), sorted by sample then epoch.
    """
    epochs = [e for e in store.eval_epochs(run_id) if f"scores_{method}" in store.epoch_scores(run_id, e)]
    if not epochs:
        raise InputError(f"run {run_id!r} has no {method!r} scores at any evaluation epoch")
    scores = np.stack([store.epoch_scores(run_id, e)[f"scores_{method}"].astype(np.float64) for e in epochs])
    ranks = np.stack([_ranks(s) for s in scores])
    n = scores.shape[1]
    if samples is None:
        change = ranks.max(axis=0) - ranks.min(axis=0)
        chosen = np.argsort(-change, kind="stable")[: max(1, min(int(top), n))]
    else:
        chosen = np.asarray(list(samples), dtype=np.int64)
        bad = chosen[(chosen < 0) | (chosen >= n)]
        if bad.size:
            raise InputError(f"sample {int(bad[0])} is out of range; this run has samples 0..{n - 1}")
    labels = store.read_arrays(run_id, "labels.npz")
    noisy = labels.get("is_noisy")
    known = noisy is not None and noisy.size == n
    rows = [
        {
            "sample": int(i),
            "epoch": int(e),
            "score": float(scores[k, i]),
            "rank": float(ranks[k, i]),
            "is_noisy": bool(noisy[i]) if known else pd.NA,
        }
        for i in chosen
        for k, e in enumerate(epochs)
    ]
    return pd.DataFrame(rows).sort_values(["sample", "epoch"], kind="stable").reset_index(drop=True)


def detector_disagreement(
    store: RunStore, run_id: str, *, methods: Sequence[str] = DEFAULT_DETECTORS, epoch: int | None = None
) -> pd.DataFrame:
    """Scores and flags of several methods at one epoch, and which samples only one method flags.

    Parameters
    ----------
    methods : scoring methods present at the epoch (missing ones are left out; at least two needed).
    epoch : default the last evaluation epoch (where cleanlab is scored).

    Returns
    -------
    One row per sample: ``sample``, ``observed``, ``is_noisy`` (NA when unknown), per method
    ``score_<m>``, ``rank_<m>`` (in [0, 1], 0 = most suspicious) and ``flag_<m>`` (clean posterior
    < 0.5), ``n_flags`` and ``only`` (the one method flagging it, else "").
    """
    epochs = store.eval_epochs(run_id)
    if not epochs:
        raise InputError(f"run {run_id!r} has no evaluated epoch yet")
    epoch = epochs[-1] if epoch is None else int(epoch)
    if epoch not in epochs:
        raise InputError(f"run {run_id!r} was evaluated at epochs {epochs}, not at {epoch}")
    arrays = store.epoch_scores(run_id, epoch)
    present = [m for m in methods if f"scores_{m}" in arrays]
    if len(present) < 2:
        raise InputError(
            f"need at least two of {', '.join(methods)} at epoch {epoch}; the run has "
            f"{', '.join(sorted(k.removeprefix('scores_') for k in arrays if k.startswith('scores_')))}"
        )
    labels = store.read_arrays(run_id, "labels.npz")
    n = arrays[f"scores_{present[0]}"].shape[0]
    noisy = labels.get("is_noisy")
    frame = pd.DataFrame(
        {
            "sample": np.arange(n),
            "observed": labels["observed"].astype(np.int64),
            "is_noisy": noisy.astype(bool) if noisy is not None and noisy.size == n else pd.NA,
        }
    )
    for m in present:
        s = arrays[f"scores_{m}"].astype(np.float64)
        frame[f"score_{m}"] = s
        frame[f"rank_{m}"] = _ranks(s)
        frame[f"flag_{m}"] = arrays[f"posterior_{m}"] < 0.5
    flags = frame[[f"flag_{m}" for m in present]].to_numpy()
    frame["n_flags"] = flags.sum(axis=1)
    only = np.where(flags.sum(axis=1) == 1, np.asarray(present, dtype=object)[flags.argmax(axis=1)], "")
    frame["only"] = only
    return frame
