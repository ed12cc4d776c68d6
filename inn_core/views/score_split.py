"""A run's score split: what a score histogram with its Beta-mixture split shows (the paper's Figure 6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inn_core.errors import InputError
from inn_core.method.metrics import flag_metrics
from inn_core.method.mixture import split_clean
from inn_core.method.registry import methods_in, posterior_key, score_key
from inn_core.runs.experiment import unit_interval
from inn_core.runs.store import RunStore

__all__ = [
    "IMBALANCED_GROUPS",
    "ScoreSplit",
    "score_split",
]

#: The four (true, observed) groups of the paper's Figure 6, in its colour order.
IMBALANCED_GROUPS = ("(y*, y) = (0, 0)", "(y*, y) = (0, 1)", "(y*, y) = (1, 1)", "(y*, y) = (1, 0)")


@dataclass(frozen=True, eq=False)
class ScoreSplit:
    """A method's scores at one evaluation epoch and the Beta-mixture split of them.

    Attributes
    ----------
    method, epoch : what was split.
    scores : (n,) float in [0, 1], the scores the mixture was fitted to (small-loss scores are
        min-max normalised first, as the experiment does).
    groups : (n,) int64 codes into ``group_names``.
    group_names : names of the sample groups: the four (true, observed) groups of the paper's
        Figure 6 for imbalanced two-class runs, ``("clean", "noisy")`` when the truth is known,
        ``("all samples",)`` otherwise.
    grid : (m,) float in [0, 1], where the densities are evaluated.
    pdf : (m, 2) float >= 0, weighted densities of the noisy (column 0) and clean (column 1)
        components; their sum is the mixture density.
    threshold : float in [0, 1] or None, the score where the clean posterior crosses 0.5 between
        the two components' means (None when it does not cross there).
    flagged : (n,) bool, clean posterior < 0.5 (as stored by the run).
    precision, recall : float in [0, 1] of flagging noisy samples, None when the truth is unknown.
    n_flagged : int.
    """

    method: str
    epoch: int
    scores: np.ndarray
    groups: np.ndarray
    group_names: tuple[str, ...]
    grid: np.ndarray
    pdf: np.ndarray
    threshold: float | None
    flagged: np.ndarray
    precision: float | None
    recall: float | None
    n_flagged: int


def score_split(
    store: RunStore, run_id: str, *, method: str = "inn", epoch: int | None = None, grid_size: int = 201
) -> ScoreSplit:
    """Gather a score histogram's data for ``method`` at an evaluation ``epoch`` (default: the last).

    Raises
    ------
    InputError : the run has no evaluated epoch yet, not this epoch, or not this method.
    """
    epochs = store.eval_epochs(run_id)
    if not epochs:
        raise InputError(f"run {run_id!r} has no evaluated epoch yet (status: {store.get_run(run_id).status})")
    epoch = epochs[-1] if epoch is None else int(epoch)
    if epoch not in epochs:
        raise InputError(f"run {run_id!r} was evaluated at epochs {epochs}, not at {epoch}")
    arrays = store.epoch_scores(run_id, epoch)
    if score_key(method) not in arrays:
        raise InputError(f"unknown method {method!r}; this run has {', '.join(methods_in(arrays))}")
    scores = unit_interval(arrays[score_key(method)].astype(np.float64))
    flagged = arrays[posterior_key(method)] < 0.5
    _, _, mixture = split_clean(scores)
    grid = np.linspace(0.0, 1.0, grid_size)
    pdf = mixture.pdf(grid)
    clean_posterior = mixture.clean_posterior(grid)
    means = np.sort(mixture.means_)
    between = (grid >= means[0]) & (grid <= means[1])
    crossing = np.flatnonzero(between[1:] & between[:-1] & (np.diff(np.sign(clean_posterior - 0.5)) != 0))
    threshold = float(grid[crossing[0] + 1]) if crossing.size and means[1] > means[0] else None

    labels = store.read_arrays(run_id, "labels.npz")
    info = store.read_json(run_id, "data.json", {})
    known = bool(info.get("labels_known")) and labels["is_noisy"].size == scores.size
    precision = recall = None
    if not known:
        groups, names = np.zeros(scores.size, np.int64), ("all samples",)
    else:
        is_noisy = labels["is_noisy"].astype(bool)
        flags = flag_metrics(flagged, is_noisy)
        precision, recall = flags["precision"], flags["recall"]
        if store.config(run_id).get("noise", {}).get("kind") == "imbalanced":
            true, observed = labels["true"], labels["observed"]
            # Figure 6 order: (0,0), (0,1), (1,1), (1,0).
            groups = np.select(
                [(true == 0) & (observed == 0), (true == 0) & (observed == 1), (true == 1) & (observed == 1)],
                [0, 1, 2],
                default=3,
            ).astype(np.int64)
            # Named by the chosen classes (e.g. 3 and 8) rather than their 0/1 codes, where the run knows them.
            pair = info.get("class_names") or []
            names = (
                IMBALANCED_GROUPS
                if len(pair) != 2
                else tuple(f"(y*, y) = ({pair[t]}, {pair[o]})" for t, o in ((0, 0), (0, 1), (1, 1), (1, 0)))
            )
        else:
            groups, names = is_noisy.astype(np.int64), ("clean", "noisy")
    return ScoreSplit(
        method=method,
        epoch=epoch,
        scores=scores,
        groups=groups,
        group_names=names,
        grid=grid,
        pdf=pdf,
        threshold=threshold,
        flagged=flagged,
        precision=precision,
        recall=recall,
        n_flagged=int(flagged.sum()),
    )
