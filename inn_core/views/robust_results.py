"""Robust-training results as tables: per-epoch history and the best / last summary of every run.

The layout of the paper's Tables 2 and 3, read from the run store, for the dashboard and scripts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from inn_core.runs.estimate import format_duration
from inn_core.runs.store import RunStore

__all__ = ["robust_history", "robust_table", "schedule_text", "precision_comparison"]


def robust_history(store: RunStore, run_ids: Sequence[str]) -> pd.DataFrame:
    """Per-epoch records of robust runs.

    Returns
    -------
    DataFrame with one row per run and epoch: ``run`` (name), ``run_id``, ``method``, ``epoch``,
    ``phase``, ``test_accuracy`` in [0, 1] and ``labelled_precision`` - the share of truly clean
    labels in the labelled set, averaged over the run's networks (NaN where no split was made,
    e.g. warm-up and CE).
    """
    rows = []
    for run_id in run_ids:
        record = store.get_run(run_id)
        for r in store.read_json(run_id, "metrics.json", {}).get("robust", []):
            precisions = [r[k] for k in ("labelled_precision_net1", "labelled_precision_net2") if r.get(k) is not None]
            rows.append(
                {
                    "run": record.name,
                    "run_id": run_id,
                    "method": r["method"],
                    "epoch": r["epoch"],
                    "phase": r.get("phase"),
                    "test_accuracy": r.get("test_accuracy"),
                    "labelled_precision": float(np.mean(precisions)) if precisions else np.nan,
                }
            )
    columns = ["run", "run_id", "method", "epoch", "phase", "test_accuracy", "labelled_precision"]
    return pd.DataFrame(rows, columns=columns)


def robust_table(store: RunStore) -> pd.DataFrame:
    """One row per robust run, newest first.

    Columns: ``name``, ``method``, ``noise`` (kind and rate), ``seed``, ``status``, ``epochs`` done,
    ``best`` and ``last`` test accuracy, ``gap`` = best - last (how much the run decayed),
    ``training time`` as text (``"8 min 45 s"``, None before the first epoch), ``id``.
    """
    rows = []
    for run in store.list_runs(kind="robust"):
        records = store.read_json(run.id, "metrics.json", {}).get("robust", [])
        last = records[-1] if records else {}
        noise = run.experiment.get("noise", {})
        best, final = last.get("best_test_accuracy"), last.get("test_accuracy")
        rows.append(
            {
                "name": run.name,
                "method": run.config.get("method"),
                "noise": f"{noise.get('kind', '?')} {noise.get('rate', 0):.0%}",
                "seed": run.experiment.get("seed"),
                "status": run.status,
                "epochs": last.get("epoch", 0),
                "best": best,
                "last": final,
                "gap": None if best is None or final is None else best - final,
                "training time": None if last.get("seconds") is None else format_duration(last["seconds"]),
                "id": run.id,
            }
        )
    columns = ["name", "method", "noise", "seed", "status", "epochs", "best", "last", "gap", "training time", "id"]
    return pd.DataFrame(rows, columns=columns)


def schedule_text(config) -> str:
    """How long a :class:`~inn_core.runs.robust.RobustConfig`'s final network trains, in words, from its own fields."""
    if config.method == "inn_dividemix":
        return (
            f"INN+DivideMix: {config.inn_epochs} epochs as INN's f, then {config.T1 + config.T2 * config.T3} for the "
            f"final networks (T1 = {config.T1}, then T2 = {config.T2} rounds of T3 = {config.T3})"
        )
    if config.method == "dividemix":
        return (
            f"DivideMix: {config.epochs} epochs ({config.warmup_epochs} warm-up + "
            f"{config.epochs - config.warmup_epochs} semi-supervised)"
        )
    return f"CE: {config.epochs} epochs of cross-entropy"


def precision_comparison(history: pd.DataFrame) -> str | None:
    """What the chosen runs show about the labelled sets' clean share at their last epochs, or ``None``.

    Compares the mean last-epoch ``labelled_precision`` of the INN+DivideMix runs with the DivideMix
    runs in ``history`` (:func:`robust_history`); ``None`` unless both methods are there with a split.
    """
    if history.empty:
        return None
    last = history.dropna(subset=["labelled_precision"]).sort_values("epoch").groupby("run_id").tail(1)
    means = last.groupby("method")["labelled_precision"].mean()
    if not {"inn_dividemix", "dividemix"} <= set(means.index):
        return None
    inn, dm = float(means["inn_dividemix"]), float(means["dividemix"])
    verdict = "cleaner than" if inn > dm else "not cleaner than" if inn < dm else "as clean as"
    return (
        f"Here INN+DivideMix's labelled set is {verdict} DivideMix's at the last epoch "
        f"({inn:.1%} vs {dm:.1%} truly clean)."
    )
