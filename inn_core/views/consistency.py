"""What a run's consistency means (the paper's Figure 2) show, in one sentence for the page under them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["consistency_reading", "model_means"]

#: How much the point gap ``E_cor - E_inc`` must shrink from its widest to the last epoch to count
#: as "drew together" (the memorisation the effect is about), and how much wider than it the midpoint
#: gap must end to count as "stayed apart".
_CLOSED = 0.15
_APART = 0.1


def model_means(models: Sequence[Mapping[str, Any]], model: str) -> list[Mapping[str, Any]]:
    """The records of ``model`` that carry the consistency means, in epoch order."""
    return sorted((r for r in models if r.get("model") == model and "E_cor" in r), key=lambda r: r["epoch"])


def consistency_reading(models: Sequence[Mapping[str, Any]], model: str) -> str | None:
    """One sentence on what the consistency means of ``model`` show in this run, from its numbers.

    Parameters
    ----------
    models : a run's ``metrics["models"]`` records (epoch, model, E_cor, E_inc, E_m_cor, E_m_inc, ...).
    model : "ce", "ce_ne" or "mixup".

    Returns
    -------
    The sentence, or ``None`` before two evaluation epochs have the means.
    """
    rows = model_means(models, model)
    if len(rows) < 2:
        return None
    gaps = [r["E_cor"] - r["E_inc"] for r in rows]
    widest = max(range(len(rows)), key=gaps.__getitem__)
    last = rows[-1]
    point, midpoint = gaps[-1], last["E_m_cor"] - last["E_m_inc"]
    at = f"epoch {rows[widest]['epoch']}"
    if gaps[widest] - point < _CLOSED:
        where = "a longer run shows it" if model == "ce" else "the cross-entropy model of a long enough run shows it"
        return (
            f"Here the point means have not drawn together (gap {gaps[widest]:.2f} at {at}, {point:.2f} at the "
            f"last epoch): this model shows no memorised wrong labels for the neighbourhood to look past, so "
            f"no consistency effect either; {where}."
        )
    if midpoint - point < _APART:
        return (
            f"Here the point means drew together (gap {gaps[widest]:.2f} at {at}, {point:.2f} at the last "
            f"epoch), and the midpoint means did too ({midpoint:.2f}): the neighbourhood does not separate "
            "them in this run either."
        )
    return (
        f"Here the point means drew together as the network memorised the wrong labels (gap {gaps[widest]:.2f} "
        f"at {at}, {point:.2f} at the last epoch) while the midpoint means stayed apart ({midpoint:.2f}): "
        "the consistency effect."
    )
