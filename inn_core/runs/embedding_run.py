"""Embedding runs: INN in the user's embedding space as a stored, resumable run (kind ``"embedding"``).

An :class:`EmbeddingConfig` names a features file (``.npy`` / ``.npz`` / ``.parquet``) and where the
labels come from: a labels file (``.npy`` / ``.csv`` / ``.txt``, noise ``"none"`` by default: the
given labels are the possibly-wrong ones), or a dataset whose training split the rows follow (then
noise is injected as in an experiment and the clean/noisy AUC is known). :func:`run_embedding`
searches the neighbours once, trains a CE and a MixUp head epoch by epoch, scores every method at
the evaluation epochs and writes the same files an input-space experiment writes (``labels.npz``,
``data.json``, ``metrics.json``, ``epochs/``, ``final.npz``, ``model_*.pt``), so every dashboard
page and CLI command reads it as it reads an experiment. ``data.json`` and the config say
``variant: "embedding"`` - a run never passes for the input-space method.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from inn_core._validation import check_settings
from inn_core.data.datasets import DATASETS, LabelledData, load_dataset
from inn_core.data.features import read_features, read_labels
from inn_core.data.noise import NoiseSpec, inject_noise
from inn_core.devices import resolve_device
from inn_core.errors import InputError
from inn_core.method.embedding_inn import VARIANT, HeadSettings, head_trainers, score_heads
from inn_core.method.models import HEADS, create_model
from inn_core.method.neighbors import BACKENDS, choose_backend, nearest_neighbors
from inn_core.method.training import predict_proba
from inn_core.runs.experiment import method_record
from inn_core.runs.lifecycle import ProgressCallback, Reporter, guard_run, mark_running, prepare_resume
from inn_core.runs.prepare import write_labels
from inn_core.runs.store import RunStore

__all__ = [
    "KIND",
    "EmbeddingConfig",
    "EmbeddingData",
    "prepare_embeddings",
    "check_data",
    "run_embedding",
    "resume_embedding",
    "load_head",
    "embedding_evidence_data",
    "stage_upload",
]

#: The run kind in the store.
KIND = "embedding"
_DEFAULT_EVALS = 4
# Beyond this many float32 values the embeddings are not copied into final.npz (the file itself
# stays where it is); the embedding map then says so.
_FEATURES_COPY_LIMIT = 2**24


@dataclass(frozen=True)
class EmbeddingConfig:
    """An embedding run; ``None`` schedule fields take :class:`HeadSettings`' defaults.

    Parameters
    ----------
    features : path of the embeddings, (n, d), one row per training sample.
    labels : path of the observed labels; when ``None`` they come from ``dataset``.
    dataset, data_root, data_options : a dataset whose training split (``seed`` split) the rows
        follow, for its labels and class names (e.g. features extracted from digits).
    noise : injected into the labels; default symmetric 40 % with a dataset, none with a labels file.
    head : ``linear_head`` or ``mlp_head``.  epochs, batch_size, lr, weight_decay : head training.
    eval_epochs : epochs (1-based) to score at; default 4 evenly spaced, always the last.
    L, H : neighbours per sample and trapezoids per path.
    neighbor_backend : see :func:`~inn_core.method.neighbors.nearest_neighbors`.
    seed, device, name : as for an experiment.
    """

    features: str
    labels: str | None = None
    dataset: str | None = None
    data_root: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    noise: NoiseSpec | None = None
    head: str = "linear_head"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    eval_epochs: tuple[int, ...] | None = None
    L: int = 10
    H: int = 10
    neighbor_backend: str = "auto"
    seed: int = 0
    device: str = "auto"
    name: str = ""
    variant: str = VARIANT

    def __post_init__(self) -> None:
        if not self.features:
            raise InputError("give the embeddings file (features)")
        object.__setattr__(self, "features", str(self.features))
        if self.labels is None and self.dataset is None:
            raise InputError("give a labels file, or the dataset the embeddings' rows follow")
        if self.labels is not None and self.dataset is not None:
            raise InputError("give a labels file or a dataset for the labels, not both")
        if self.dataset is not None and self.dataset not in DATASETS:
            raise InputError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.variant != VARIANT:
            raise InputError(f"an embedding run's variant is {VARIANT!r}, got {self.variant!r}")
        noise = self.noise
        if isinstance(noise, dict):
            noise = NoiseSpec.from_dict(noise)
        if noise is None:
            noise = NoiseSpec("symmetric", 0.4) if self.dataset is not None else NoiseSpec("none")
        if not isinstance(noise, NoiseSpec):
            raise InputError("noise must be a NoiseSpec")
        object.__setattr__(self, "noise", noise)
        if self.head not in HEADS:
            raise InputError(f"unknown head {self.head!r}; choose one of {', '.join(HEADS)}")
        if self.neighbor_backend not in BACKENDS:
            raise InputError(f"neighbor_backend must be one of {', '.join(BACKENDS)}, got {self.neighbor_backend!r}")
        if self.L < 1:
            raise InputError(f"L (neighbours per sample) must be at least 1, got {self.L}")
        if self.H < 1:
            raise InputError(f"H (trapezoids per path) must be at least 1, got {self.H}")
        if self.seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {self.seed}")
        if self.device not in ("auto", "cpu") and not str(self.device).startswith("cuda"):
            raise InputError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        defaults = HeadSettings()
        for key in ("epochs", "lr", "weight_decay"):
            if getattr(self, key) is None:
                object.__setattr__(self, key, getattr(defaults, key))
        self.settings()
        if self.eval_epochs is None:
            step = max(1, round(self.epochs / _DEFAULT_EVALS))
            evals = set(range(step, self.epochs + 1, step)) | {self.epochs}
        else:
            evals = {int(e) for e in self.eval_epochs}
            bad = sorted(e for e in evals if not 1 <= e <= self.epochs)
            if bad or not evals:
                raise InputError(f"evaluation epochs must lie in 1..{self.epochs}, got {sorted(evals)}")
        object.__setattr__(self, "eval_epochs", tuple(sorted(evals)))
        object.__setattr__(self, "data_options", dict(self.data_options))

    def settings(self) -> HeadSettings:
        return HeadSettings(
            head=self.head, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["noise"] = self.noise.to_dict()
        out["eval_epochs"] = list(self.eval_epochs)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmbeddingConfig:
        check_settings("embedding-run", d, cls)
        d = dict(d)
        if d.get("eval_epochs") is not None:
            d["eval_epochs"] = tuple(d["eval_epochs"])
        return cls(**d)


@dataclass(frozen=True, eq=False)
class EmbeddingData:
    """The embeddings and labels of a run after noise injection.

    Attributes
    ----------
    features : (n, d) float32 tensor.  observed_labels, true_labels : (n,) int64.
    is_noisy : (n,) bool, or ``None`` when the given labels are not known to be clean.
    indices : (n,) int64 rows of the features file kept (all but for imbalanced noise).
    class_names : K names.  nominal_rate, actual_rate : of the injected noise.
    """

    features: torch.Tensor
    observed_labels: np.ndarray
    true_labels: np.ndarray
    is_noisy: np.ndarray | None
    indices: np.ndarray
    class_names: tuple[str, ...]
    nominal_rate: float
    actual_rate: float

    @property
    def n(self) -> int:
        return int(self.observed_labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def prepare_embeddings(config: EmbeddingConfig) -> EmbeddingData:
    """Read the embeddings and labels, check they match, inject the configured noise."""
    features = read_features(config.features)
    if config.labels is not None:
        labels, names = read_labels(config.labels)
        trusted = False
        source = f"labels file {os.path.basename(config.labels)}"
    else:
        data = load_dataset(config.dataset, root=config.data_root, random_state=config.seed, **config.data_options)
        labels, names, trusted = data.true_labels.numpy(), data.class_names, data.labels_trusted
        source = f"the {config.dataset} training split"
    if labels.shape[0] != features.shape[0]:
        raise InputError(
            f"the features file has {features.shape[0]} rows but {source} has {labels.shape[0]} labels; "
            f"they must match row for row"
        )
    if len(names) < 2:
        raise InputError(f"the labels must name at least two classes, got {list(names)}")
    noise = inject_noise(labels, config.noise, num_classes=len(names), random_state=config.seed)
    if config.noise.kind == "imbalanced":
        a, b = config.noise.classes
        names = (names[a], names[b])
    n = noise.observed_labels.shape[0]
    if not n - 1 >= config.L:
        raise InputError(
            f"L = {config.L} neighbours needs more than {config.L} samples, but there are {n}; choose L <= {n - 1}"
        )
    kept = (
        torch.from_numpy(features)
        if noise.indices.shape[0] == features.shape[0]
        else torch.from_numpy(features[noise.indices])
    )
    known = trusted or config.noise.kind != "none"
    return EmbeddingData(
        features=kept,
        observed_labels=noise.observed_labels,
        true_labels=noise.true_labels,
        is_noisy=noise.is_noisy if known else None,
        indices=noise.indices,
        class_names=tuple(names),
        nominal_rate=noise.nominal_rate,
        actual_rate=float(noise.is_noisy.mean()),
    )


def check_data(config: EmbeddingConfig) -> None:
    """Raise the :class:`InputError` a run of ``config`` would meet reading its files; trains nothing."""
    prepare_embeddings(config)


def run_embedding(
    config: EmbeddingConfig,
    *,
    store: RunStore,
    callbacks: Sequence[ProgressCallback] = (),
    should_stop: Callable[[], bool] | None = None,
    run_id: str | None = None,
) -> str:
    """Run an embedding run to completion and store everything; returns the run id.

    Same contract as :func:`~inn_core.runs.experiment.run_experiment`: progress to ``callbacks``
    and the store, cancel through ``should_stop`` or the store's flag, failures recorded.
    """
    if run_id is None:
        run_id = store.create_run(config.to_dict(), name=config.name, kind=KIND)
    guard_run(store, run_id, lambda: _execute(config, store, run_id, callbacks, should_stop))
    return run_id


def resume_embedding(
    store: RunStore,
    run_id: str,
    *,
    callbacks: Sequence[ProgressCallback] = (),
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Continue an embedding run: stored neighbours are reused, heads resume from their checkpoint."""
    config = EmbeddingConfig.from_dict(prepare_resume(store, run_id, kind=KIND))
    return run_embedding(config, store=store, callbacks=callbacks, should_stop=should_stop, run_id=run_id)


def _execute(
    config: EmbeddingConfig,
    store: RunStore,
    run_id: str,
    callbacks: Sequence[ProgressCallback],
    should_stop: Callable[[], bool] | None,
) -> None:
    device = resolve_device(config.device)
    mark_running(store, run_id)
    data = prepare_embeddings(config)
    n, d = data.features.shape
    backend = choose_backend(n, d) if config.neighbor_backend == "auto" else config.neighbor_backend
    backend = "exact" if backend == "torch" else backend
    write_labels(
        store,
        run_id,
        observed=data.observed_labels,
        true=data.true_labels,
        indices=data.indices,
        is_noisy=data.is_noisy,
        num_classes=data.num_classes,
        class_names=data.class_names,
        nominal_rate=data.nominal_rate,
        actual_rate=data.actual_rate,
        model=config.head,
        noise=config.noise,
        variant=VARIANT,
        feature_dim=d,
        features_file=config.features,
        neighbor_backend=backend,
    )
    evals = config.eval_epochs
    # Work units: the neighbour search, each epoch of both heads, each evaluation.
    reporter = Reporter(
        store,
        run_id,
        total=1 + config.epochs + len(evals),
        epochs=config.epochs,
        callbacks=callbacks,
        should_stop=should_stop,
    )
    report = reporter.report

    stored = store.read_arrays(run_id, "neighbors.npz") if store.has_file(run_id, "neighbors.npz") else None
    if stored is not None and stored["neighbors"].shape == (n, config.L):
        neighbors, distances = stored["neighbors"], stored["distances"]
    else:
        report("neighbours", 0, f"searching {config.L} neighbours of {n} embeddings ({backend})")
        neighbors, distances = nearest_neighbors(
            data.features,
            config.L,
            device=device,
            backend=backend,
            progress=lambda message: report("neighbours", 0, message),
        )
        store.write_arrays(run_id, "neighbors.npz", neighbors=neighbors, distances=distances)
    reporter.done += 1

    trainers = head_trainers(
        data.features,
        data.observed_labels,
        data.num_classes,
        config.settings(),
        device=device,
        random_state=config.seed,
    )
    metrics = store.metrics(run_id)
    checkpoint = store.read_torch(run_id, "checkpoint.pt")
    if checkpoint is not None:
        for role, trainer in trainers.items():
            trainer.load_state_dict(checkpoint["trainers"][role])
    start_epoch = trainers["mixup"].epoch
    metrics = {key: [r for r in rows if r["epoch"] <= start_epoch] for key, rows in metrics.items()}
    reporter.start(reporter.done + start_epoch + sum(e <= start_epoch for e in evals))
    report("training", start_epoch)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        losses = {role: trainer.train_epoch() for role, trainer in trainers.items()}
        reporter.done += 1
        report("training", epoch, " ".join(f"{r}={v:.3f}" for r, v in losses.items()))
        if epoch in evals:
            method_records, model_records, arrays = _evaluate(epoch, trainers, data, neighbors, config, device)
            store.write_arrays(run_id, f"epochs/epoch_{epoch:04d}.npz", neighbors=neighbors, **arrays)
            metrics["methods"] += method_records
            metrics["models"] += model_records
            store.write_json(run_id, "metrics.json", metrics)
            reporter.done += 1
            report("evaluating", epoch, f"evaluated epoch {epoch}")
        store.write_torch(
            run_id, "checkpoint.pt", {"epoch": epoch, "trainers": {r: t.state_dict() for r, t in trainers.items()}}
        )

    report("finalising", config.epochs)
    proba = predict_proba(trainers["mixup"].model, data.features, batch_size=2**16, device=device)
    copied = {"features": data.features.numpy()} if n * d <= _FEATURES_COPY_LIMIT else {}
    store.write_arrays(
        run_id, "final.npz", neighbors=neighbors, distances=distances, proba=proba, predicted=proba.argmax(1), **copied
    )
    for role, trainer in trainers.items():
        store.write_torch(run_id, f"model_{role}.pt", trainer.model.state_dict())
    reporter.finish(config.epochs)


def _evaluate(
    epoch: int, trainers, data: EmbeddingData, neighbors: np.ndarray, config: EmbeddingConfig, device: torch.device
) -> tuple[list[dict], list[dict], dict[str, np.ndarray]]:
    heads = {role: t.model for role, t in trainers.items()}
    scores = score_heads(heads, data.features, data.observed_labels, neighbors, H=config.H, device=device)
    arrays: dict[str, np.ndarray] = {}
    method_records = []
    for method, s in scores.items():
        record, method_arrays = method_record(epoch, method, s, data.is_noisy)
        arrays.update(method_arrays)
        method_records.append(record)
    model_records = []
    for role, head in heads.items():
        predicted = predict_proba(head, data.features, batch_size=2**16, device=device).argmax(1)
        record = {"epoch": epoch, "model": role, "fit_observed": float((predicted == data.observed_labels).mean())}
        if data.is_noisy is not None:
            record["train_accuracy_true"] = float((predicted == data.true_labels).mean())
        model_records.append(record)
    return method_records, model_records, arrays


def load_head(
    store: RunStore, run_id: str, role: str = "mixup", *, data: EmbeddingData | None = None
) -> torch.nn.Module:
    """The final weights of a finished embedding run's head (``"mixup"`` is INN's ``f``), in eval mode."""
    config = EmbeddingConfig.from_dict(store.config(run_id))
    state = store.read_torch(run_id, f"model_{role}.pt")
    if state is None:
        raise InputError(f"run {run_id!r} has no final {role} head yet (status: {store.get_run(run_id).status})")
    info = store.read_json(run_id, "data.json", {})
    head = create_model(
        config.head, num_classes=int(info["num_classes"]), in_channels=int(info["feature_dim"]), image_size=None
    )
    head.load_state_dict(state)
    return head.eval()


def embedding_evidence_data(store: RunStore, run_id: str) -> tuple[EmbeddingConfig, LabelledData, torch.nn.Module]:
    """A finished embedding run's config, its embeddings as (non-image) data, and its MixUp head.

    Raises :class:`InputError` when the features or labels changed since the run.
    """
    config = EmbeddingConfig.from_dict(store.config(run_id))
    data = prepare_embeddings(config)
    stored = store.read_arrays(run_id, "labels.npz")["observed"]
    if stored.shape != data.observed_labels.shape or not np.array_equal(stored, data.observed_labels):
        raise InputError(
            f"the embeddings or labels of run {run_id!r} changed since it ran; restore {config.features} "
            f"or start a new run"
        )
    labelled = LabelledData(
        name="embeddings",
        images=data.features,
        true_labels=torch.from_numpy(data.true_labels),
        class_names=data.class_names,
        labels_trusted=data.is_noisy is not None,
    )
    return config, labelled, load_head(store, run_id, "mixup")


def stage_upload(store: RunStore, filename: str, data: bytes) -> str:
    """Keep an uploaded features or labels file under the store (``uploads/<digest>/<name>``) so the
    run, its resume and its review can read it later; returns the path. Same bytes, same path."""
    import hashlib
    from pathlib import Path

    from inn_core.runs.store import atomic_write_bytes

    name = Path(filename).name
    if not name or name.startswith("."):
        raise InputError(f"cannot keep an upload named {filename!r}")
    path = store.home / "uploads" / hashlib.sha256(data).hexdigest()[:16] / name
    if not path.is_file():
        atomic_write_bytes(path, data)
    return str(path.resolve())
