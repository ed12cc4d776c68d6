"""Display labels of the dashboard in one place: scoring methods (from the engine's registry) and training methods."""

from __future__ import annotations

from collections.abc import Iterable

from inn_core.method.registry import METHODS, method_label, order_methods

__all__ = ["METHOD_LABELS", "MODEL_LABELS", "TRAINING_LABELS", "method_label", "method_help", "order_methods"]

#: Display names of the scoring methods, in the order charts list them.
METHOD_LABELS = {name: method.label for name, method in METHODS.items()}

#: Display names of an experiment's three trained models.
MODEL_LABELS = {"ce": "cross-entropy", "ce_ne": "CE + negative entropy", "mixup": "MixUp"}

#: Display names of the robust-training methods (:data:`inn_core.runs.robust.TRAINING_METHODS`).
TRAINING_LABELS = {"inn_dividemix": "INN+DivideMix", "dividemix": "DivideMix", "ce": "CE (baseline)"}


def method_help(methods: Iterable[str]) -> str:
    """A tooltip naming what each of ``methods`` computes."""
    return "\n\n".join(f"**{method_label(m)}**: {METHODS[m].description if m in METHODS else ''}" for m in methods)
