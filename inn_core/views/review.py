"""Review: the samples a run flags, the decisions taken on them, and the cleaned labels they give.

Tables are pandas DataFrames so the CLI writes them as CSV and the dashboard shows them as they are;
the files the dashboard offers for download are exactly the files :func:`export_run` writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from inn_core.errors import InputError
from inn_core.method.registry import methods_in, posterior_key, score_key
from inn_core.runs.store import RunStore, atomic_write_bytes

__all__ = [
    "sample_table",
    "flagged_samples",
    "cleaned_labels",
    "decision_log",
    "review_progress",
    "export_run",
]


def _latest_epoch(store: RunStore, run_id: str, epoch: int | None) -> int:
    epochs = store.eval_epochs(run_id)
    if not epochs:
        raise InputError(f"run {run_id!r} has no evaluated epoch yet (status: {store.get_run(run_id).status})")
    if epoch is None:
        return epochs[-1]
    if epoch not in epochs:
        raise InputError(f"run {run_id!r} was evaluated at epochs {epochs}, not at {epoch}")
    return epoch


def sample_table(store: RunStore, run_id: str, *, method: str = "inn", epoch: int | None = None) -> pd.DataFrame:
    """One row per training sample of a run, with a method's score at an evaluation epoch.

    Columns: ``index`` (position in the run's training set), ``observed_label``, ``observed_name``,
    ``predicted_label``/``predicted_name`` (the MixUp model's final prediction, when the run is done),
    ``score`` (higher = more likely clean), ``clean_posterior`` (Beta mixture) and ``flagged``
    (posterior < 0.5); ``true_label``, ``true_name``, ``is_noisy`` where the truth is known;
    ``source`` for data read from files.
    """
    epoch = _latest_epoch(store, run_id, epoch)
    arrays = store.epoch_scores(run_id, epoch)
    if score_key(method) not in arrays:
        raise InputError(f"unknown method {method!r}; this run has {', '.join(methods_in(arrays))}")
    labels = store.read_arrays(run_id, "labels.npz")
    info = store.read_json(run_id, "data.json", {})
    names = np.asarray(
        info.get("class_names") or [str(k) for k in range(int(labels["observed"].max()) + 1)], dtype=object
    )
    observed = labels["observed"]
    table = pd.DataFrame(
        {
            "index": np.arange(observed.shape[0]),
            "observed_label": observed,
            "observed_name": names[observed],
        }
    )
    if store.has_file(run_id, "final.npz"):
        predicted = store.read_arrays(run_id, "final.npz")["predicted"]
        table["predicted_label"] = predicted
        table["predicted_name"] = names[predicted]
    table["score"] = arrays[score_key(method)]
    table["clean_posterior"] = arrays[posterior_key(method)]
    table["flagged"] = table["clean_posterior"] < 0.5
    if info.get("labels_known") and labels["is_noisy"].size:
        table["true_label"] = labels["true"]
        table["true_name"] = names[labels["true"]]
        table["is_noisy"] = labels["is_noisy"]
    sources = store.read_json(run_id, "sources.json")
    if sources:
        table["source"] = sources
    return table


def flagged_samples(
    store: RunStore, run_id: str, *, method: str = "inn", epoch: int | None = None, top: int | None = None
) -> pd.DataFrame:
    """The samples to review, most suspicious (lowest score) first.

    ``top=None`` gives the Beta-mixture's noisy component (clean posterior < 0.5); ``top=N`` the N
    lowest scores whatever the split says.
    """
    table = sample_table(store, run_id, method=method, epoch=epoch)
    table = table.sort_values(["score", "index"], kind="stable")
    if top is None:
        return table[table["flagged"]].reset_index(drop=True)
    if top < 1:
        raise InputError(f"top must be a positive number of samples, got {top}")
    return table.head(top).reset_index(drop=True)


def decision_log(store: RunStore, run_id: str) -> pd.DataFrame:
    """Every review decision ever taken on the run, oldest first, undone ones marked."""
    rows = [
        {
            "id": d.id,
            "sample": d.sample,
            "decision": d.decision,
            "new_label": d.new_label,
            "note": d.note,
            "time": pd.Timestamp(d.created, unit="s", tz="UTC").isoformat(),
            "undone": d.undone,
        }
        for d in store.decision_log(run_id)
    ]
    columns = ["id", "sample", "decision", "new_label", "note", "time", "undone"]
    return pd.DataFrame(rows, columns=columns).astype({"new_label": "Int64"})


def cleaned_labels(store: RunStore, run_id: str) -> pd.DataFrame:
    """The observed labels with the standing review decisions applied.

    Columns: ``index``, ``observed_label``, ``decision`` ("" where none), ``cleaned_label``
    (the new label for relabelled samples, the observed one otherwise; <NA> for dropped),
    ``dropped``; plus ``source`` for data read from files.
    """
    labels = store.read_arrays(run_id, "labels.npz")
    observed = labels["observed"]
    decisions = store.current_decisions(run_id)
    decision = np.full(observed.shape[0], "", dtype=object)
    cleaned = pd.array(observed, dtype="Int64")
    for sample, d in decisions.items():
        decision[sample] = d.decision
        if d.decision == "relabel":
            cleaned[sample] = d.new_label
        elif d.decision == "drop":
            cleaned[sample] = pd.NA
    table = pd.DataFrame(
        {
            "index": np.arange(observed.shape[0]),
            "observed_label": observed,
            "decision": decision,
            "cleaned_label": cleaned,
            "dropped": decision == "drop",
        }
    )
    sources = store.read_json(run_id, "sources.json")
    if sources:
        table.insert(1, "source", sources)
    return table


def review_progress(store: RunStore, run_id: str, flagged_indices: np.ndarray) -> dict[str, int]:
    """How far review of ``flagged_indices`` has come.

    Returns ``reviewed`` and ``flagged`` counts, and where the truth is known ``really_noisy`` - how
    many of the reviewed flagged samples carried a wrong label.
    """
    flagged_indices = np.asarray(flagged_indices, dtype=np.int64)
    decided = np.array(sorted(store.current_decisions(run_id)), dtype=np.int64)
    reviewed = np.intersect1d(flagged_indices, decided)
    out = {"reviewed": int(reviewed.size), "flagged": int(flagged_indices.size)}
    labels = store.read_arrays(run_id, "labels.npz")
    if labels["is_noisy"].size:
        out["really_noisy"] = int(labels["is_noisy"][reviewed].sum())
    return out


def export_run(store: RunStore, run_id: str, out_dir: str | Path, *, method: str = "inn") -> dict[str, Path]:
    """Write the cleaned labels, the decision log and a reproducibility bundle into ``out_dir``.

    Files: ``cleaned_labels.csv`` and ``decisions.csv`` (each label id followed by its class name),
    ``scores.csv`` (every sample's score, clean posterior and observed label at the last evaluated epoch)
    and ``config.json`` (the run's full configuration, seed included, so ``python -m inn_core run`` can
    reproduce it). Returns the paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "cleaned_labels": out / "cleaned_labels.csv",
        "decisions": out / "decisions.csv",
        "scores": out / "scores.csv",
        "config": out / "config.json",
    }
    names = _names(store, run_id)
    cleaned = _name_after(
        cleaned_labels(store, run_id), names, ("observed_label", "observed_name"), ("cleaned_label", "cleaned_name")
    )
    log = _name_after(decision_log(store, run_id), names, ("new_label", "new_name"))
    atomic_write_bytes(files["cleaned_labels"], cleaned.to_csv(index=False).encode())
    atomic_write_bytes(files["decisions"], log.to_csv(index=False).encode())
    atomic_write_bytes(files["scores"], sample_table(store, run_id, method=method).to_csv(index=False).encode())
    atomic_write_bytes(files["config"], json.dumps({"run_id": run_id, **store.config(run_id)}, indent=2).encode())
    return files


def _names(store: RunStore, run_id: str) -> list[str]:
    info = store.read_json(run_id, "data.json", {})
    observed = store.read_arrays(run_id, "labels.npz")["observed"]
    return list(info.get("class_names") or [str(k) for k in range(int(observed.max()) + 1)])


def _name_after(table: pd.DataFrame, names: list[str], *pairs: tuple[str, str]) -> pd.DataFrame:
    """Insert a class-name column right after each label-id column ("" where the id is missing)."""
    table = table.copy()
    for column, name in pairs:
        values = [names[int(v)] if not pd.isna(v) else "" for v in table[column]]
        table.insert(table.columns.get_loc(column) + 1, name, values)
    return table
