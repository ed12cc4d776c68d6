"""Which samples to flag from their scores: the Beta-mixture split, the k lowest, a fraction, or a threshold.

cleanlab's ``find_label_issues(filter_by=...)`` picks among ways of turning scores into a mask;
this is INN's counterpart, on scores where low means "likely wrong label".
"""

from __future__ import annotations

import numpy as np

from inn_core.errors import InputError

__all__ = ["FILTERS", "check_filter", "flag_by"]

#: filter_by value -> what it flags.
FILTERS = {
    "beta_mixture": "the noisy component of a two-component Beta mixture (clean posterior < 0.5)",
    "top_k": "the k lowest scores",
    "fraction": "the lowest fraction of scores",
    "threshold": "every score below the threshold",
}


def check_filter(filter_by: str, *, k: int | None, fraction: float | None, threshold: float | None, n: int) -> None:
    """Raise :class:`InputError` unless ``filter_by`` and the one parameter it reads make sense for n samples."""
    if filter_by not in FILTERS:
        raise InputError(f"unknown filter_by {filter_by!r}; choose one of {', '.join(FILTERS)}")
    if filter_by == "top_k" and (k is None or isinstance(k, bool) or not 1 <= int(k) <= n):
        raise InputError(f"filter_by='top_k' needs k, a whole number between 1 and n = {n}, got {k!r}")
    if filter_by == "fraction" and (fraction is None or not 0.0 < float(fraction) <= 1.0):
        raise InputError(f"filter_by='fraction' needs fraction in (0, 1], got {fraction!r}")
    if filter_by == "threshold" and (threshold is None or not np.isfinite(float(threshold))):
        raise InputError(f"filter_by='threshold' needs a finite threshold (scores are in [0, 1]), got {threshold!r}")


def flag_by(
    scores: np.ndarray,
    clean_posterior: np.ndarray,
    filter_by: str = "beta_mixture",
    *,
    k: int | None = None,
    fraction: float | None = None,
    threshold: float | None = None,
) -> np.ndarray:
    """The mask of flagged samples.

    Parameters
    ----------
    scores : (n,) float in [0, 1] - low = likely wrong label.
    clean_posterior : (n,) float in [0, 1] - the Beta mixture's clean posterior (read by ``"beta_mixture"``).
    filter_by : one of :data:`FILTERS`; ``k``, ``fraction`` or ``threshold`` is the parameter it reads.

    Returns
    -------
    (n,) bool - True where the label is likely wrong. Ties at the cut go to the lower index.
    """
    scores = np.asarray(scores, dtype=float)
    check_filter(filter_by, k=k, fraction=fraction, threshold=threshold, n=scores.shape[0])
    if filter_by == "beta_mixture":
        return np.asarray(clean_posterior) < 0.5
    if filter_by == "threshold":
        return scores < float(threshold)
    count = int(k) if filter_by == "top_k" else max(1, round(float(fraction) * scores.shape[0]))
    mask = np.zeros(scores.shape[0], dtype=bool)
    mask[np.argsort(scores, kind="stable")[:count]] = True
    return mask
