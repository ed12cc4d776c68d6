"""Confident learning (Northcutt et al. 2021, the ``cleanlab`` package) as a peer method.

cleanlab scores a label by how confident a model that never saw it is in it: ``K``-fold
out-of-fold probabilities (each sample predicted by a model trained on the other folds), then the
self-confidence label-quality score ``p[i, y_i]``. :func:`out_of_fold_probabilities` trains the
fold models, :func:`self_confidence_scores` computes the score with NumPy alone (cleanlab is AGPL
and optional; the test checks it equals ``cleanlab.rank.get_label_quality_scores(...,
method="self_confidence")``), and :func:`find_label_issues_mask` asks cleanlab itself for its
``find_label_issues`` mask when the package is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold
from torch import nn

from inn_core.errors import InputError
from inn_core.method.training import TrainConfig, Trainer, predict_proba

__all__ = ["find_label_issues_mask", "fold_indices", "out_of_fold_probabilities", "self_confidence_scores"]


def self_confidence_scores(labels, pred_probs) -> np.ndarray:
    """Self-confidence label quality: the probability of the given label.

    Parameters
    ----------
    labels : (n,) int in [0, K)
    pred_probs : (n, K) float, out-of-fold probabilities, rows summing to 1

    Returns
    -------
    (n,) float64 in [0, 1]; higher = more likely clean (cleanlab's convention too).
    """
    labels, pred_probs = np.asarray(labels), np.asarray(pred_probs, dtype=np.float64)
    if pred_probs.ndim != 2 or labels.shape != (pred_probs.shape[0],):
        raise InputError(f"labels must be (n,) and pred_probs (n, K), got {labels.shape} and {pred_probs.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= pred_probs.shape[1]):
        raise InputError(f"labels must lie in [0, {pred_probs.shape[1]}), got range [{labels.min()}, {labels.max()}]")
    return pred_probs[np.arange(labels.size), labels]


def find_label_issues_mask(labels, pred_probs) -> np.ndarray | None:
    """cleanlab's ``filter.find_label_issues`` boolean mask (True = likely wrong), or ``None`` without cleanlab.

    Parameters
    ----------
    labels : (n,) int; pred_probs : (n, K) float out-of-fold probabilities.
    """
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        return None
    return np.asarray(find_label_issues(np.asarray(labels), np.asarray(pred_probs, dtype=np.float64)), dtype=bool)


def fold_indices(labels, folds: int, *, random_state: int) -> list[np.ndarray]:
    """Held-out indices of each of ``folds`` folds, stratified by label when every class allows it.

    Returns ``folds`` disjoint sorted int64 arrays covering ``range(n)``.
    """
    labels = np.asarray(labels)
    if not isinstance(folds, int) or folds < 2:
        raise InputError(f"folds must be an integer >= 2, got {folds!r}")
    if labels.size < folds:
        raise InputError(f"{folds} folds need at least {folds} samples, got {labels.size}")
    _, counts = np.unique(labels, return_counts=True)
    splitter = (StratifiedKFold if counts.min() >= folds else KFold)(folds, shuffle=True, random_state=random_state)
    return [np.sort(held).astype(np.int64) for _, held in splitter.split(np.zeros(labels.size), labels)]


def out_of_fold_probabilities(
    make_model: Callable[[int], nn.Module],
    inputs: torch.Tensor,
    labels,
    config: TrainConfig,
    *,
    folds: int,
    num_classes: int,
    device: str | torch.device = "auto",
    random_state: int = 0,
    done: dict[int, np.ndarray] | None = None,
    on_fold: Callable[[int, np.ndarray], None] | None = None,
    train_only: Collection[int] | None = None,
) -> np.ndarray:
    """K-fold out-of-fold probabilities of models trained with ``config`` on the observed labels.

    Parameters
    ----------
    make_model : fold number -> a freshly initialised classifier (the run's architecture).
    inputs : (n, ...) float32; labels : (n,) int observed labels.
    config : training of each fold model (the run's CE schedule).
    folds : K >= 2.  random_state : seeds the fold split and each fold's trainer.
    done : fold -> its held-out probabilities already computed (resume); those folds are skipped.
    on_fold : called with ``(fold, held-out probabilities)`` after each fold trains (to checkpoint).
    train_only : train only these folds (one rank's share under torchrun); the rows of other folds
        not in ``done`` are left at zero.

    Returns
    -------
    (n, K) float32, each row predicted by the one model that did not train on it.
    """
    labels = np.asarray(labels)
    done = dict(done or {})
    out = np.zeros((labels.size, num_classes), dtype=np.float32)
    for k, held in enumerate(fold_indices(labels, folds, random_state=random_state)):
        if k not in done and (train_only is None or k in train_only):
            train = np.setdiff1d(np.arange(labels.size), held)
            trainer = Trainer(
                make_model(k),
                inputs[torch.from_numpy(train)],
                labels[train],
                config,
                num_classes=num_classes,
                device=device,
                random_state=random_state + 7 * (k + 1),
            )
            while trainer.epoch < config.epochs:
                trainer.train_epoch()
            done[k] = predict_proba(trainer.model, inputs[torch.from_numpy(held)], device=device).astype(np.float32)
            if on_fold is not None:
                on_fold(k, done[k])
        if k in done:
            out[held] = done[k]
    return out
