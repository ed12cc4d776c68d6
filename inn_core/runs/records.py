"""The schema of a run's ``metrics.json``: one TypedDict per kind of record.

An experiment writes ``{"methods": [MethodRecord, ...], "models": [ModelRecord, ...]}``; a robust
training run writes ``{"robust": [RobustRecord, ...]}``. Keys marked ``NotRequired`` are present only
where the true labels are known (injected noise) or a test split exists.
"""

from __future__ import annotations

import sys
from typing import TypedDict

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # Python 3.10: typing_extensions comes with torch
    from typing_extensions import NotRequired

__all__ = ["MethodRecord", "ModelRecord", "RobustRecord", "ExperimentMetrics", "RobustMetrics"]


class MethodRecord(TypedDict):
    """One scoring method at one evaluation epoch."""

    epoch: int
    method: str  # a name of inn_core.method.registry.METHODS
    n_flagged: int  # samples in the Beta mixture's noisy component
    auc: NotRequired[float]  # clean/noisy AUC, clean = positive class
    precision: NotRequired[float]  # of the flagged samples, the share truly noisy
    recall: NotRequired[float]
    f1: NotRequired[float]
    precision_at_noisy: NotRequired[float]  # precision of the k lowest scores, k = number of noisy samples


class ModelRecord(TypedDict):
    """One trained model (role ce, ce_ne or mixup) at one evaluation epoch."""

    epoch: int
    model: str
    fit_observed: float  # share of the observed (noisy) labels the model predicts
    train_accuracy_true: NotRequired[float]
    test_accuracy: NotRequired[float]
    E_cor: NotRequired[float]  # the consistency means of the paper's Figure 2
    E_inc: NotRequired[float]
    E_m_cor: NotRequired[float]
    E_m_inc: NotRequired[float]


class RobustRecord(TypedDict):
    """One epoch of a robust training run (fields per network k = 1, 2 are ``None`` where not used)."""

    epoch: int
    method: str
    phase: str  # warmup, ssl, train, mixmatch, dividemix_ssl
    round: int | None
    lr: float
    test_accuracy: float | None
    best_test_accuracy: float | None
    test_accuracy_net1: float | None
    test_accuracy_net2: float | None
    loss_net1: float | None
    loss_net2: float | None
    labelled_size_net1: int | None
    labelled_precision_net1: float | None
    labelled_recall_net1: float | None
    labelled_size_net2: int | None
    labelled_precision_net2: float | None
    labelled_recall_net2: float | None
    seconds: float


class ExperimentMetrics(TypedDict):
    methods: list[MethodRecord]
    models: list[ModelRecord]


class RobustMetrics(TypedDict):
    robust: list[RobustRecord]
