"""How well scores and splits separate clean from noisy labels.

The paper reports the AUC of its scores for telling clean from noisy labelled
samples, and - when the scores split the data for semi-supervised learning -
the precision of the labelled (clean) set, as the DivideMix papers do. These
functions compute those numbers, and detection metrics for a reviewer who
inspects the lowest-scored samples, from plain arrays against the known
noise mask of a synthetic-noise experiment.

Conventions: a higher score means "more likely clean"; ``is_noisy`` is the
ground truth (``True`` = the label was corrupted); a *flagged* sample is one
predicted noisy.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from inn_core._validation import check_int
from inn_core.errors import InputError

__all__ = ["clean_noisy_auc", "clean_split_metrics", "consistency_means", "flag_metrics", "precision_at_k"]


def clean_noisy_auc(scores, is_noisy) -> float:
    """ROC AUC of the scores with *clean* as the positive class.

    Parameters
    ----------
    scores : (n,) float
        Finite; higher = more likely clean.
    is_noisy : (n,) bool
        Ground truth (0/1 integers are accepted).

    Returns
    -------
    float in [0, 1], or NaN
        Probability that a random clean sample outscores a random noisy one
        (ties count one half): 1 for a perfect ranking, 0 for an inverted one.
        NaN - not an exception - when only one class is present (or ``n``
        is 0), so a run without noise still produces a metrics table.
    """
    score_values = _as_scores(scores, "scores")
    noisy = _as_mask(is_noisy, "is_noisy")
    _check_same_length(score_values, "scores", noisy, "is_noisy")
    if noisy.all() or not noisy.any():
        return float("nan")
    return float(roc_auc_score(~noisy, score_values))


def flag_metrics(flagged, is_noisy) -> dict[str, float]:
    """Precision, recall and F1 of flagging noisy samples.

    Parameters
    ----------
    flagged : (n,) bool
        Predicted noisy.
    is_noisy : (n,) bool
        Ground truth.

    Returns
    -------
    dict
        ``precision`` (noisy among flagged), ``recall`` (flagged among noisy),
        ``f1`` - floats in [0, 1], 0.0 where the ratio is 0/0, without a
        warning - and the counts ``n_flagged``, ``n_noisy`` (ints).
    """
    flagged_mask = _as_mask(flagged, "flagged")
    noisy = _as_mask(is_noisy, "is_noisy")
    _check_same_length(flagged_mask, "flagged", noisy, "is_noisy")
    hits = int(np.count_nonzero(flagged_mask & noisy))
    n_flagged, n_noisy = int(np.count_nonzero(flagged_mask)), int(np.count_nonzero(noisy))
    precision, recall = _ratio(hits, n_flagged), _ratio(hits, n_noisy)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "n_flagged": n_flagged,
        "n_noisy": n_noisy,
    }


def precision_at_k(scores, is_noisy, k: int) -> float:
    """Fraction of truly noisy samples among the ``k`` lowest-scored ones.

    The question a reviewer with a budget of ``k`` inspections asks: how many
    of them will be real label errors?

    Parameters
    ----------
    scores : (n,) float
        Finite; higher = more likely clean.
    is_noisy : (n,) bool
        Ground truth.
    k : int
        Review budget, ``1 <= k <= n``.

    Returns
    -------
    float in [0, 1]
        Equal scores are taken in index order (stable sort), so the result is
        deterministic.
    """
    score_values = _as_scores(scores, "scores")
    noisy = _as_mask(is_noisy, "is_noisy")
    _check_same_length(score_values, "scores", noisy, "is_noisy")
    n = score_values.size
    k = check_int("k", k, low=1, high=n)
    lowest = np.argsort(score_values, kind="stable")[:k]
    return float(noisy[lowest].mean())


def clean_split_metrics(clean_mask, is_noisy) -> dict[str, float]:
    """Quality of a clean/noisy split, from both sides.

    Parameters
    ----------
    clean_mask : (n,) bool
        Samples kept as clean (the labelled set of DivideMix-style training).
    is_noisy : (n,) bool
        Ground truth.

    Returns
    -------
    dict
        ``clean_precision`` (truly clean among kept - the labelled-set
        precision of the DivideMix papers), ``clean_recall`` (kept among truly
        clean), ``n_clean`` (kept), and :func:`flag_metrics` of
        ``~clean_mask`` under the keys ``noisy_precision``, ``noisy_recall``,
        ``noisy_f1``, ``n_flagged``, ``n_noisy``. Ratios 0/0 are 0.0.
    """
    kept = _as_mask(clean_mask, "clean_mask")
    noisy = _as_mask(is_noisy, "is_noisy")
    _check_same_length(kept, "clean_mask", noisy, "is_noisy")
    kept_clean = int(np.count_nonzero(kept & ~noisy))
    n_clean = int(np.count_nonzero(kept))
    flags = flag_metrics(~kept, noisy)
    return {
        "clean_precision": _ratio(kept_clean, n_clean),
        "clean_recall": _ratio(kept_clean, noisy.size - flags["n_noisy"]),
        "n_clean": n_clean,
        "noisy_precision": flags["precision"],
        "noisy_recall": flags["recall"],
        "noisy_f1": flags["f1"],
        "n_flagged": flags["n_flagged"],
        "n_noisy": flags["n_noisy"],
    }


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _as_scores(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InputError(f"{name} must be a 1-D array, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise InputError(f"{name} must be real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError(f"{name} must be finite; found NaN or infinity")
    return array


def _as_mask(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InputError(f"{name} must be a 1-D array, got shape {array.shape}")
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf":
        raise InputError(f"{name} must be boolean (or 0/1), got dtype {array.dtype}")
    if not np.isin(array, (0, 1)).all():
        raise InputError(f"{name} must be boolean (or 0/1), got values other than 0 and 1")
    return array.astype(bool)


def _check_same_length(first: np.ndarray, first_name: str, second: np.ndarray, second_name: str) -> None:
    if first.size != second.size:
        raise InputError(
            f"{first_name} and {second_name} must have the same length, "
            f"but {first_name} has length {first.size} and {second_name} has length {second.size}"
        )


def consistency_means(model, inputs, labels, is_noisy, neighbor_indices, *, device="auto") -> dict[str, float]:
    """The paper's Figure 2: mean ``f_y`` at each sample and halfway to its nearest neighbour.

    Parameters
    ----------
    model : torch classifier returning logits.
    inputs : (n, ...) float tensor.
    labels : (n,) int observed labels.
    is_noisy : (n,) bool ground truth.
    neighbor_indices : (n, L) int; column 0 is the nearest neighbour.

    Returns
    -------
    dict with ``E_cor``, ``E_inc`` (mean ``f_y(x)`` over clean / noisy samples) and ``E_m_cor``,
    ``E_m_inc`` (mean ``f_y((x + x̃)/2)``, x̃ the nearest neighbour), each in [0, 1] or NaN when
    the group is empty. The consistency effect: ``E_m_cor - E_m_inc`` stays large while
    ``E_cor - E_inc`` shrinks as the model memorises.
    """
    from inn_core.method.scoring import inn_scores, label_probabilities

    is_noisy = np.asarray(is_noisy, dtype=bool)
    nearest = np.asarray(neighbor_indices)[:, :1]
    fy = label_probabilities(model, inputs, labels, device=device)
    fy_mid = inn_scores(model, inputs, labels, nearest, rule="midpoint", device=device)
    if fy.shape[0] != is_noisy.shape[0]:
        raise InputError(
            f"inputs and is_noisy must have the same length, but got {fy.shape[0]} and {is_noisy.shape[0]}"
        )

    def mean(values: np.ndarray, mask: np.ndarray) -> float:
        return float(values[mask].mean()) if mask.any() else float("nan")

    return {
        "E_cor": mean(fy, ~is_noisy),
        "E_inc": mean(fy, is_noisy),
        "E_m_cor": mean(fy_mid, ~is_noisy),
        "E_m_inc": mean(fy_mid, is_noisy),
    }
