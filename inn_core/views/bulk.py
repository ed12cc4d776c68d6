"""Bulk review: one decision on many samples, previewed before it is applied and undone as one.

A selection comes from the embedding map (box / lasso), from table rows, or from a rule such as
"accept the suggested label wherever the score is below t and the suggestion's probability is
above p". :func:`preview_bulk` says what would change, :func:`apply_bulk` writes it as ONE batch in
ONE SQLite transaction, and :meth:`RunStore.undo_batch` takes the whole batch back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from inn_core.errors import InputError
from inn_core.runs.store import RunStore

__all__ = ["BULK_ACTIONS", "apply_bulk", "preview_bulk", "rule_selection"]

#: Bulk actions: "accept" relabels each sample to the model's suggestion (keeps it where they agree).
BULK_ACTIONS = {
    "accept": "Accept the suggested label",
    "keep": "Keep the observed label",
    "drop": "Drop from training",
}


def rule_selection(
    table: pd.DataFrame, proba: np.ndarray, *, max_score: float, min_probability: float, only_disagreeing: bool = True
) -> np.ndarray:
    """Samples whose score is below ``max_score`` and whose suggested label has probability above ``min_probability``.

    Parameters
    ----------
    table : a run's :func:`~inn_core.views.review.sample_table` (``index``, ``observed_label``, ``score``).
    proba : (n, K) float in [0, 1] - the final model's class probabilities.
    max_score : score threshold; the INN score is in [0, 1], low = likely wrong label.
    min_probability : in [0, 1]; the suggestion (argmax of ``proba``) must be at least this sure.
    only_disagreeing : leave out samples whose suggestion equals their observed label.

    Returns
    -------
    (m,) int64 sample indices, lowest score first.
    """
    if not 0.0 <= float(min_probability) <= 1.0:
        raise InputError(f"the suggestion's probability threshold must be in [0, 1], got {min_probability}")
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape[0] != len(table):
        raise InputError(f"proba must have shape (n, K) with n = {len(table)}, got {proba.shape}")
    index = table["index"].to_numpy(dtype=np.int64)
    suggested = proba[index].argmax(1)
    sure = proba[index, suggested]
    mask = (table["score"].to_numpy() < float(max_score)) & (sure > float(min_probability))
    if only_disagreeing:
        mask &= suggested != table["observed_label"].to_numpy()
    chosen = table[mask].sort_values(["score", "index"], kind="stable")
    return chosen["index"].to_numpy(dtype=np.int64)


def _targets(action: str, observed: np.ndarray, suggested: np.ndarray) -> tuple[list[str], list[int | None]]:
    if action == "accept":
        decisions = ["keep" if s == o else "relabel" for o, s in zip(observed, suggested)]
        return decisions, [int(s) if d == "relabel" else None for d, s in zip(decisions, suggested)]
    if action in ("keep", "drop"):
        return [action] * len(observed), [None] * len(observed)
    raise InputError(f"unknown bulk action {action!r}; choose one of {', '.join(BULK_ACTIONS)}")


def preview_bulk(
    store: RunStore,
    run_id: str,
    indices: Sequence[int] | np.ndarray,
    action: str,
    *,
    proba: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """What :func:`apply_bulk` would write, one row per sample, without writing anything.

    Columns: ``index``, ``observed_label``, ``observed_name``, ``current`` (standing decision, "" if
    none), ``decision``, ``new_label`` (<NA> unless relabelled), ``new_name`` and ``changes`` (False
    where the standing decision already says the same).

    ``proba`` (n, K) is needed for ``action="accept"``; by default the run's stored ``final.npz`` probabilities.
    """
    indices = np.unique(np.asarray(indices, dtype=np.int64))
    observed = store.read_arrays(run_id, "labels.npz")["observed"]
    if indices.size and (indices.min() < 0 or indices.max() >= observed.shape[0]):
        raise InputError(f"samples must be in [0, {observed.shape[0]}) for run {run_id!r}")
    if action == "accept" and proba is None and store.has_file(run_id, "final.npz"):
        proba = store.read_arrays(run_id, "final.npz").get("proba")
    if action == "accept" and proba is None:
        raise InputError(
            f"accepting suggested labels needs the model's probabilities: run {run_id!r} has none stored "
            "(it is not done yet, or it stored no final model outputs)"
        )
    suggested = np.asarray(proba)[indices].argmax(1) if proba is not None else observed[indices]
    decisions, labels = _targets(action, observed[indices], suggested)
    names = list(class_names) if class_names else [str(k) for k in range(int(observed.max()) + 1)]
    standing = store.current_decisions(run_id)
    current = [standing[i].decision if i in standing else "" for i in indices.tolist()]
    current_label = [standing[i].new_label if i in standing else None for i in indices.tolist()]
    frame = pd.DataFrame(
        {
            "index": indices,
            "observed_label": observed[indices],
            "observed_name": [names[k] for k in observed[indices]],
            "current": current,
            "decision": decisions,
            "new_label": pd.array(labels, dtype="Int64"),
            "new_name": [names[k] if k is not None else "" for k in labels],
        }
    )
    frame["changes"] = [not (c == d and (cl == nl)) for c, cl, d, nl in zip(current, current_label, decisions, labels)]
    return frame


def apply_bulk(store: RunStore, run_id: str, preview: pd.DataFrame, *, note: str = "") -> str:
    """Write the rows of a :func:`preview_bulk` frame that change something, as one batch; returns the batch id."""
    rows = preview[preview["changes"]]
    if rows.empty:
        raise InputError("nothing to apply: every selected sample already has this decision")
    triples = [
        (int(i), str(d), None if pd.isna(nl) else int(nl))
        for i, d, nl in zip(rows["index"], rows["decision"], rows["new_label"])
    ]
    return store.record_decisions(run_id, triples, note=note or "bulk")
