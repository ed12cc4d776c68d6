"""Ablations of a finished run (the paper's Figure 3 and Appendix E.1), from its stored models.

:func:`ablate` rescores every sample of a finished experiment with one INN ingredient changed at a
time - the integral against the midpoint ``f_y((x + x̃)/2)``, the number of neighbours ``L``, the
number of trapezoids ``H``, the model ``f`` integrated (MixUp or CE) and the model ``h`` whose
features pick the neighbours (CE, CE+NE or MixUp) - and measures each variant's clean/noisy AUC.
Nothing is retrained. The table is cached as ``ablation.json`` in the run directory, so a second
call (or the dashboard's page) reads it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from inn_core.devices import resolve_device
from inn_core.errors import InputError
from inn_core.method.metrics import clean_noisy_auc
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.scoring import inn_scores
from inn_core.method.training import extract_features
from inn_core.runs.experiment import MODEL_ROLES, ExperimentConfig, load_model
from inn_core.runs.prepare import prepare_data
from inn_core.runs.store import RunStore

__all__ = ["ABLATION_FILE", "ABLATIONS", "ablate", "ablation_variants", "read_ablation"]

ABLATION_FILE = "ablation.json"

#: Groups of variants and the values each takes (the paper's Figure 3 and Appendix E.1).
ABLATIONS: dict[str, tuple[Any, ...]] = {
    "rule": ("trapezoid", "midpoint"),
    "L": (1, 5, 10, 20),
    "H": (1, 2, 5, 10),
    "f": ("mixup", "ce"),
    "h": ("ce", "ce_ne", "mixup"),
}


def ablation_variants(config: ExperimentConfig, n: int) -> list[dict[str, Any]]:
    """Every variant: the run's own setting with one ingredient changed; ``L`` capped at ``n - 1``."""
    base = {"rule": "trapezoid", "L": config.L, "H": config.H, "f": "mixup", "h": config.feature_model}
    variants = []
    for group, values in ABLATIONS.items():
        for value in values:
            if group == "L" and value > n - 1:
                continue
            variants.append({"group": group, "value": value, **base, group: value})
    return variants


def read_ablation(store: RunStore, run_id: str) -> dict[str, Any] | None:
    """The cached ablation table of ``run_id``, or ``None`` before :func:`ablate` ran."""
    return store.read_json(run_id, ABLATION_FILE, None)


def ablate(
    store: RunStore,
    run_id: str,
    *,
    device: str | torch.device = "auto",
    refresh: bool = False,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Score the run's samples under every ablation variant and cache the AUC table.

    Parameters
    ----------
    store, run_id : a finished experiment with known noise (its stored final models are used).
    device : where to score.  refresh : recompute even when a cached table exists.
    progress : called with ``(fraction in [0, 1], message)`` after every variant; never for a
        cached table.

    Returns
    -------
    ``{"run": run_id, "baseline": {...}, "rows": [{"group", "value", "rule", "L", "H", "f", "h", "auc"}]}``.
    """
    record = store.get_run(run_id)
    device = resolve_device(device)  # a bad device is an error even when the table is cached
    cached = None if refresh else read_ablation(store, run_id)
    if cached is not None:
        return cached
    if record.kind != "experiment":
        raise InputError(
            f"run {run_id!r} is of kind {record.kind!r}; ablations rescore an experiment's stored models "
            "(`python -m inn_core run` without --features)"
        )
    if record.status != "done":
        raise InputError(f"run {run_id!r} is {record.status}; ablations need a finished run")
    config = ExperimentConfig.from_dict(store.config(run_id))
    run = prepare_data(config)
    if run.is_noisy is None or not run.is_noisy.any() or run.is_noisy.all():
        raise InputError(f"run {run_id!r} has no known clean/noisy split, so no AUC can be measured")
    variants = ablation_variants(config, run.n)
    models = {role: load_model(store, run_id, role, run=run) for role in MODEL_ROLES}
    max_l = max(v["L"] for v in variants)
    neighbours = {}
    rows = []
    steps = len(variants) + len({v["h"] for v in variants})
    done = 0

    def tick(message: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done / steps, message)

    for h in sorted({v["h"] for v in variants}):
        features = extract_features(models[h], run.inputs, device=device)
        neighbours[h] = nearest_neighbors(features, max_l, device=device)[0]
        tick(f"neighbours in the {h} model's features")
    for v in variants:
        scores = inn_scores(
            models[v["f"]],
            run.inputs,
            run.observed_labels,
            neighbours[v["h"]][:, : v["L"]],
            H=v["H"],
            rule=v["rule"],
            device=device,
        )
        rows.append({**v, "auc": float(clean_noisy_auc(scores, run.is_noisy))})
        tick(f"{v['group']} = {v['value']}")
    table = {"run": run_id, "baseline": {k: rows[0][k] for k in ("rule", "L", "H", "f", "h")}, "rows": rows}
    store.write_json(run_id, ABLATION_FILE, table)
    return table
