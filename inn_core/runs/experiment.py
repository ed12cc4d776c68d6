"""Experiments: the paper's clean/noisy detection study as one resumable call.

:func:`run_experiment` trains three models with independent initialisations on the noisy labels -
a CE model (small-loss CE; its penultimate layer is ``h`` by default), a CE + negative-entropy model
(small-loss CE+NE) and the MixUp model ``f`` (INN) - and at every evaluation epoch scores every
sample with every method, measures clean/noisy AUC, the consistency means and the Beta-mixture
split, and stores it all through a :class:`~inn_core.runs.store.RunStore`. A run checkpoints after every
epoch; :func:`resume_experiment` continues it and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from inn_core._seeds import role_seed
from inn_core._validation import check_int, check_settings
from inn_core.data.datasets import DATASETS
from inn_core.data.noise import NoiseSpec
from inn_core.devices import resolve_device
from inn_core.errors import InputError
from inn_core.method.distributed import SINGLE, World, init_world
from inn_core.method.metrics import clean_noisy_auc, consistency_means, flag_metrics, precision_at_k
from inn_core.method.mixture import split_clean
from inn_core.method.models import check_model_name
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.registry import METHODS, ScoringInputs, posterior_key, score_key
from inn_core.method.training import TrainConfig, Trainer, extract_features, predict_proba
from inn_core.runs.backbone_defaults import OWN_IMAGE_DATASETS
from inn_core.runs.distributed import as_rank, on_main_rank, rank_store
from inn_core.runs.lifecycle import (
    Cancelled,
    Progress,
    Reporter,
    guard_run,
    launch_in_background,
    mark_running,
    prepare_resume,
)
from inn_core.runs.prepare import DATASET_DEFAULTS, RunData, build_model, prepare_data, write_run_data
from inn_core.runs.store import RunStore

__all__ = [
    "MODEL_ROLES",
    "METHODS",
    "DATASET_DEFAULTS",
    "ExperimentConfig",
    "Progress",
    "Cancelled",
    "RunData",
    "prepare_data",
    "run_experiment",
    "resume_experiment",
    "guard_run",
    "prepare_resume",
    "launch_in_background",
    "score_models",
    "method_record",
    "unit_interval",
]

#: The three models of an experiment: name -> training objective.
MODEL_ROLES = {"ce": "ce", "ce_ne": "ce_ne", "mixup": "mixup"}

_DEFAULT_EVALS = 8


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines an experiment; ``None`` fields take the dataset's defaults.

    Parameters
    ----------
    dataset : one of :data:`~inn_core.data.datasets.DATASETS`.
    data_root : folder (CIFAR, image folder) or CSV file for datasets read from disk.
    data_options : extra options of :func:`~inn_core.data.datasets.load_dataset` (e.g. ``max_samples``).
    noise : the label noise to inject; ``NoiseSpec("none")`` keeps the given labels.
    model : a :data:`~inn_core.method.models.MODELS` name or ``"tv:NAME"`` (a torchvision backbone);
        default by image size (own images on a CPU: never ``preact_resnet18``).
    weights : a torchvision backbone's weights: a state_dict file, ``"torchvision"`` (download) or None.
    epochs : training epochs of each of the three models.
    eval_epochs : epochs (1-based) at which to score; default 8 evenly spaced, always the last.
    batch_size, lr, momentum, weight_decay, lr_milestones, lr_gamma : SGD schedule.
    L : neighbours per sample, 1 <= L <= n - 1.  H : trapezoids per path, >= 1.
    seed : seeds data split, noise, initialisations and batch order.
    device : "auto", "cpu" or "cuda".
    feature_model : which model's penultimate layer is ``h`` ("ce", "ce_ne" or "mixup").
    cleanlab_folds : K of the cleanlab method (0 = off, else >= 2): K extra CE models of the run's
        architecture, each trained on K - 1 folds, give out-of-fold probabilities, scored once at
        the last evaluation epoch (:mod:`inn_core.runs.cleanlab_step`).
    cleanlab_epochs : epochs of each fold model, with the run's schedule shortened to them (lr
        drops at the same fractions); default a quarter of ``epochs`` (at least 1), half for the
        user's own images: fold models trained as long as a run that memorises the noisy labels
        memorise them too and score worse, while the own-data schedule, counted in SGD steps, is
        short by design and a quarter of it leaves them undertrained (see cleanlab_step).
    name : a label for listings.
    """

    dataset: str = "digits"
    data_root: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    noise: NoiseSpec = field(default_factory=lambda: NoiseSpec("symmetric", 0.4))
    model: str | None = None
    weights: str | None = None
    epochs: int | None = None
    eval_epochs: tuple[int, ...] | None = None
    batch_size: int | None = None
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    lr_milestones: tuple[float, ...] = (0.5, 0.75)
    lr_gamma: float = 0.2
    L: int = 10
    H: int = 10
    seed: int = 0
    device: str = "auto"
    feature_model: str = "ce"
    cleanlab_folds: int = 5
    cleanlab_epochs: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise InputError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if isinstance(self.noise, dict):
            object.__setattr__(self, "noise", NoiseSpec.from_dict(self.noise))
        if not isinstance(self.noise, NoiseSpec):
            raise InputError("noise must be a NoiseSpec")
        if self.model is not None:
            check_model_name(self.model)
        if self.weights is not None and not str(self.model or "").startswith("tv:"):
            raise InputError("weights need a torchvision backbone: set model='tv:NAME' (CLI: --backbone NAME)")
        if self.feature_model not in MODEL_ROLES:
            raise InputError(f"feature_model must be one of {', '.join(MODEL_ROLES)}, got {self.feature_model!r}")
        defaults = DATASET_DEFAULTS[self.dataset]
        for key in ("epochs", "batch_size", "lr", "weight_decay"):
            if getattr(self, key) is None:
                object.__setattr__(self, key, defaults[key])
        if self.L < 1:
            raise InputError(f"L (neighbours per sample) must be at least 1, got {self.L}")
        if self.H < 1:
            raise InputError(f"H (trapezoids per path) must be at least 1, got {self.H}")
        check_int("seed", self.seed, low=0)
        if not isinstance(self.cleanlab_folds, int) or self.cleanlab_folds < 0 or self.cleanlab_folds == 1:
            raise InputError(f"cleanlab_folds must be 0 (off) or an integer >= 2, got {self.cleanlab_folds!r}")
        if self.device not in ("auto", "cpu") and not str(self.device).startswith("cuda"):
            raise InputError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        # One training config validates epochs, batch size, lr and the schedule with clear messages.
        self.train_config("ce")
        epochs = self.epochs
        check_int("cleanlab_epochs", self.cleanlab_epochs, low=1, allow_none=True)
        if self.eval_epochs is None:
            step = max(1, round(epochs / _DEFAULT_EVALS))
            evals = set(range(step, epochs + 1, step)) | {epochs}
        else:
            evals = {int(e) for e in self.eval_epochs}
            bad = sorted(e for e in evals if not 1 <= e <= epochs)
            if bad:
                raise InputError(f"evaluation epochs must lie in 1..{epochs}, got {bad}")
            if not evals:
                raise InputError("give at least one evaluation epoch")
        object.__setattr__(self, "eval_epochs", tuple(sorted(evals)))
        object.__setattr__(self, "data_options", dict(self.data_options))
        object.__setattr__(self, "lr_milestones", tuple(float(m) for m in self.lr_milestones))

    def train_config(self, objective: str) -> TrainConfig:
        """The :class:`TrainConfig` of the model trained with ``objective``."""
        return TrainConfig(
            objective=objective,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            lr_milestones=self.lr_milestones,
            lr_gamma=self.lr_gamma,
        )

    @property
    def fold_epochs(self) -> int:
        """Epochs of each cleanlab fold model: ``cleanlab_epochs``, or a quarter of ``epochs`` (half for
        own images; at least 1).

        Derived when asked rather than stored, so ``dataclasses.replace(config, epochs=...)`` keeps the share.
        """
        share = 2 if self.dataset in OWN_IMAGE_DATASETS else 4
        return self.cleanlab_epochs or max(1, math.ceil(self.epochs / share))

    def cleanlab_config(self) -> TrainConfig:
        """The :class:`TrainConfig` of cleanlab's fold models: CE, the run's schedule over :attr:`fold_epochs`."""
        return dataclasses.replace(self.train_config("ce"), epochs=self.fold_epochs)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["noise"] = self.noise.to_dict()
        out["eval_epochs"] = list(self.eval_epochs)
        out["lr_milestones"] = list(self.lr_milestones)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExperimentConfig:
        check_settings("experiment", d, cls)
        d = dict(d)
        if "noise" in d and isinstance(d["noise"], dict):
            d["noise"] = NoiseSpec.from_dict(d["noise"])
        for key in ("eval_epochs", "lr_milestones"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


def _build_trainers(
    config: ExperimentConfig, run: RunData, device: torch.device, world: World = SINGLE
) -> dict[str, Trainer]:
    trainers = {}
    for role, objective in MODEL_ROLES.items():
        model = build_model(config, run, seed=role_seed(config.seed, "model_init", role))
        trainers[role] = Trainer(
            model,
            run.inputs,
            run.observed_labels,
            config.train_config(objective),
            num_classes=run.num_classes,
            device=device,
            random_state=role_seed(config.seed, "model_batches", role),
            world=world,
        )
    return trainers


def unit_interval(scores: np.ndarray) -> np.ndarray:
    """Min-max normalise scores that are not already in [0, 1] (small-loss), for the Beta mixture."""
    if scores.size and scores.min() >= 0 and scores.max() <= 1:
        return scores
    span = scores.max() - scores.min()
    return (scores - scores.min()) / span if span > 0 else np.full_like(scores, 0.5)


def method_record(
    epoch: int, method: str, scores: np.ndarray, is_noisy: np.ndarray | None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One method's :class:`~inn_core.runs.records.MethodRecord` at ``epoch`` and the arrays it stores.

    Parameters
    ----------
    scores : (n,) float, higher = cleaner. is_noisy : (n,) bool, or ``None`` when the true labels
        are unknown (then the record has no AUC, precision or recall).

    Returns
    -------
    record : epoch, method, n_flagged and, with ``is_noisy``, AUC, precision, recall, F1, precision@noisy.
    arrays : ``scores_<method>`` and ``posterior_<method>`` ((n,) float32), the Beta mixture's clean posterior.
    """
    clean_mask, posterior, _ = split_clean(unit_interval(scores))
    arrays = {score_key(method): scores.astype(np.float32), posterior_key(method): posterior.astype(np.float32)}
    record: dict[str, Any] = {"epoch": epoch, "method": method, "n_flagged": int((~clean_mask).sum())}
    if is_noisy is not None:
        flags = flag_metrics(~clean_mask, is_noisy)
        record.update(
            auc=clean_noisy_auc(scores, is_noisy),
            precision=flags["precision"],
            recall=flags["recall"],
            f1=flags["f1"],
            precision_at_noisy=precision_at_k(scores, is_noisy, max(1, int(is_noisy.sum()))),
        )
    return record, arrays


def score_models(
    models: dict[str, nn.Module],
    inputs: torch.Tensor,
    observed: np.ndarray,
    *,
    L: int,
    H: int,
    feature_model: str = "ce",
    device: str | torch.device = "auto",
    world: World = SINGLE,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Score every sample with every method of :data:`~inn_core.method.registry.METHODS` the given models allow.

    Returns ``(scores, neighbor_indices (n, L), features (n, d))`` with ``scores[method]`` ``(n,)``.
    Under ``torchrun`` (``world``) each rank computes its shard of every result - features, its
    rows' neighbours against all features, scores - and every rank gets them all back.
    """
    gather = world.gather_rows
    shard = None if world.size == 1 else world.shard(inputs.shape[0])
    features = gather(extract_features(models[feature_model], world.take(inputs), device=device))
    neighbors = gather(nearest_neighbors(features, L, device=device, rows=shard)[0])
    given = ScoringInputs(
        models=models,
        inputs=inputs,
        observed=observed,
        neighbors=neighbors,
        features=features,
        H=H,
        device=device,
        rows=shard,
    )
    scores = {}
    for name, method in METHODS.items():
        if method.available(models):
            out = method.scorer(given)
            # A scorer that ignores the shard scored every sample on every rank: nothing to gather.
            scores[name] = out if len(out) == inputs.shape[0] else gather(out)
    return scores, neighbors, features


def _evaluate(
    epoch: int,
    trainers: dict[str, Trainer],
    run: RunData,
    config: ExperimentConfig,
    device: torch.device,
    world: World = SINGLE,
) -> tuple[list[dict], list[dict], dict[str, np.ndarray], np.ndarray]:
    models = {role: t.model for role, t in trainers.items()}
    scores, neighbors, _ = score_models(
        models,
        run.inputs,
        run.observed_labels,
        L=config.L,
        H=config.H,
        feature_model=config.feature_model,
        device=device,
        world=world,
    )
    arrays: dict[str, np.ndarray] = {}
    method_records = []
    for method, s in scores.items():
        record, method_arrays = method_record(epoch, method, s, run.is_noisy)
        arrays.update(method_arrays)
        method_records.append(record)
    model_records = []
    # The per-model fit and consistency records (a few forward passes over the data) are rank 0's
    # alone: only rank 0 writes them, and the others wait for it at the next training step.
    for role, model in models.items() if world.is_main else ():
        proba = predict_proba(model, run.inputs, device=device)
        record = {"epoch": epoch, "model": role, "fit_observed": float((proba.argmax(1) == run.observed_labels).mean())}
        if run.is_noisy is not None:
            record["train_accuracy_true"] = float((proba.argmax(1) == run.true_labels).mean())
            record.update(
                consistency_means(model, run.inputs, run.observed_labels, run.is_noisy, neighbors, device=device)
            )
        if run.test_images is not None and len(run.test_labels):
            test_proba = predict_proba(model, run.test_images, device=device)
            record["test_accuracy"] = float((test_proba.argmax(1) == run.test_labels).mean())
        model_records.append(record)
    return method_records, model_records, arrays, neighbors


def run_experiment(
    config: ExperimentConfig,
    *,
    store: RunStore,
    callbacks: Sequence[Callable[[Progress], None]] = (),
    should_stop: Callable[[], bool] | None = None,
    run_id: str | None = None,
) -> str:
    """Run an experiment to completion and store everything; returns the run id.

    Parameters
    ----------
    config : the experiment.
    store : where the run lives; progress and status are written there as it goes.
    callbacks : each is called with a :class:`Progress` after every epoch and evaluation step.
    should_stop : polled between steps; returning True cancels the run (status ``cancelled``;
        it can be resumed). The store's cancel flag is polled too.
    run_id : continue this already-registered run instead of creating one (used by resume and
        by background workers).

    Returns
    -------
    str
        The run's id; its metrics are ``store.metrics(run_id)`` (see :mod:`inn_core.runs.records`),
        its per-epoch scores ``store.epoch_scores(run_id, epoch)``.

    Raises
    ------
    InputError : bad configuration or data; the run is marked failed with the message.
    Cancelled : when stopped; the run is marked cancelled.

    Examples
    --------
    >>> from inn_core.runs.experiment import ExperimentConfig, run_experiment
    >>> from inn_core.runs.store import RunStore
    >>> store = RunStore("runs")
    >>> config = ExperimentConfig(data_options={"max_samples": 200}, epochs=3, eval_epochs=(3,), L=5, H=3)
    >>> run_id = run_experiment(config, store=store)        # doctest: +SKIP
    >>> sorted({r["method"] for r in store.metrics(run_id)["methods"]})  # doctest: +SKIP
    ['ce', 'ce_ne', 'deep_knn', 'inn', 'mixup_fy']

    To run it in a background process instead, use the front door:
    ``inn_core.runs.launch.submit(store, config)``.
    """
    world = init_world(resolve_device(config.device))
    if run_id is None:
        run_id = world.on_main(lambda: store.create_run(config.to_dict(), name=config.name))
    if world.is_main:

        def stopped(message: str) -> None:
            store.update_run(run_id, status="failed", error=message, eta=None, pid=None)

        guard_run(
            store,
            run_id,
            as_rank(world, lambda: _execute(config, store, run_id, callbacks, should_stop, world), on_stop=stopped),
        )
    else:
        as_rank(world, lambda: _execute(config, rank_store(store, world), run_id, (), should_stop, world))()
    return run_id


def resume_experiment(
    store: RunStore,
    run_id: str,
    *,
    callbacks: Sequence[Callable[[Progress], None]] = (),
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Continue a queued, failed, cancelled or interrupted run from its last checkpoint."""
    config = ExperimentConfig.from_dict(on_main_rank(store, run_id, lambda: prepare_resume(store, run_id)))
    return run_experiment(config, store=store, callbacks=callbacks, should_stop=should_stop, run_id=run_id)


def _execute(
    config: ExperimentConfig,
    store: RunStore,
    run_id: str,
    callbacks: Sequence[Callable[[Progress], None]],
    should_stop: Callable[[], bool] | None,
    world: World = SINGLE,
) -> None:
    device = resolve_device(config.device) if world.size == 1 else world.device
    mark_running(store, run_id)
    run = prepare_data(config)
    if world.size > run.n:
        raise InputError(
            f"world size {world.size} is larger than the data ({run.n} samples); use at most {run.n} processes"
        )
    if world.size > config.batch_size:
        raise InputError(
            f"world size {world.size} is larger than the batch size {config.batch_size}; "
            f"each rank trains on batch_size / world samples a step"
        )
    write_run_data(store, run_id, run, config)
    trainers = _build_trainers(config, run, device, world)
    metrics = store.metrics(run_id)
    checkpoint = store.read_torch(run_id, "checkpoint.pt")
    if checkpoint is not None:
        for role, trainer in trainers.items():
            trainer.load_state_dict(checkpoint["trainers"][role])
    # A run cancelled mid-epoch left some trainers one epoch behind the others (with that epoch's progress).
    start_epoch = min(trainer.epoch for trainer in trainers.values())
    # Records past the checkpoint came from an epoch that will be trained again: drop them.
    metrics = {key: [r for r in rows if r["epoch"] <= start_epoch] for key, rows in metrics.items()}
    evals_left = [e for e in config.eval_epochs if e > start_epoch]
    # An evaluation costs about as much as an epoch of the three models on small data; a cleanlab
    # fold trains one model on (K - 1) / K of the data for every epoch.
    fold_work = (
        config.fold_epochs * (1 - 1 / config.cleanlab_folds) / len(MODEL_ROLES) if config.cleanlab_folds else 0.0
    )
    reporter = Reporter(
        store,
        run_id,
        total=round(config.epochs + len(config.eval_epochs) + config.cleanlab_folds * fold_work),
        epochs=config.epochs,
        callbacks=callbacks,
        should_stop=should_stop,
        world=world,
    )
    reporter.start(start_epoch + (len(config.eval_epochs) - len(evals_left)))
    report = reporter.report

    def checkpoint(epoch: int) -> None:
        store.write_torch(
            run_id,
            "checkpoint.pt",
            {"epoch": epoch, "trainers": {role: t.state_dict() for role, t in trainers.items()}},
        )

    report("training", start_epoch)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        losses = {}
        for role, trainer in trainers.items():
            if trainer.epoch >= epoch:
                continue  # finished this epoch before a mid-epoch cancel
            losses[role] = trainer.train_epoch(should_stop=reporter.stop_requested)
            if losses[role] is None:
                checkpoint(epoch - 1)
                raise Cancelled(run_id)
        reporter.done += 1
        report("training", epoch, " ".join(f"{r}={v:.3f}" for r, v in losses.items()))
        if epoch in config.eval_epochs:
            method_records, model_records, arrays, neighbors = _evaluate(epoch, trainers, run, config, device, world)
            store.write_arrays(run_id, f"epochs/epoch_{epoch:04d}.npz", neighbors=neighbors, **arrays)
            metrics["methods"] += method_records
            metrics["models"] += model_records
            store.write_json(run_id, "metrics.json", metrics)
            reporter.done += 1
            report("evaluating", epoch, f"evaluated epoch {epoch}")
        checkpoint(epoch)

    if config.cleanlab_folds:
        from inn_core.runs.cleanlab_step import score_with_cleanlab

        def on_fold(k: int) -> None:
            reporter.done += fold_work
            report("cleanlab", config.epochs, f"cleanlab fold {k + 1} of {config.cleanlab_folds}")

        reporter.done += fold_work * score_with_cleanlab(
            store, run_id, config, run, device, on_fold=on_fold, world=world
        )
        report("cleanlab", config.epochs)
    report("finalising", config.epochs)
    _finalise(store, run_id, trainers, run, config, device, world)
    reporter.finish(config.epochs)


def _finalise(
    store: RunStore,
    run_id: str,
    trainers: dict[str, Trainer],
    run: RunData,
    config: ExperimentConfig,
    device: torch.device,
    world: World = SINGLE,
) -> None:
    h = trainers[config.feature_model].model
    features = world.gather_rows(extract_features(h, world.take(run.inputs), device=device))
    shard = None if world.size == 1 else world.shard(run.n)
    neighbors, distances = map(world.gather_rows, nearest_neighbors(features, config.L, device=device, rows=shard))
    proba = world.gather_rows(predict_proba(trainers["mixup"].model, world.take(run.inputs), device=device))
    store.write_arrays(
        run_id,
        "final.npz",
        features=features,
        neighbors=neighbors,
        distances=distances,
        proba=proba,
        predicted=proba.argmax(1),
    )
    for role, trainer in trainers.items():
        store.write_torch(run_id, f"model_{role}.pt", trainer.model.state_dict())


def load_model(store: RunStore, run_id: str, role: str = "mixup", *, run: RunData | None = None) -> nn.Module:
    """The final weights of one of a finished run's models (``"mixup"`` is INN's ``f``), in eval mode."""
    if role not in MODEL_ROLES:
        raise InputError(f"unknown model role {role!r}; choose one of {', '.join(MODEL_ROLES)}")
    config = ExperimentConfig.from_dict(store.config(run_id))
    state = store.read_torch(run_id, f"model_{role}.pt")
    if state is None:
        raise InputError(f"run {run_id!r} has no final {role} model yet (status: {store.get_run(run_id).status})")
    run = run or prepare_data(config)
    model = build_model(config, run)
    model.load_state_dict(state)
    return model.eval()
