"""What every run kind does before it trains: per-dataset defaults, the data with its noise, the model for it.

:func:`prepare_data` loads a dataset and injects the configured noise exactly as a run will (same
seed, same samples); :func:`check_data` validates what only the data can tell without building a
network; :func:`build_model` is the one place a run's network is made from its configuration and
data; :func:`write_labels` stores the labels and the data summary every run kind keeps (embedding
runs too), :func:`write_run_data` does it for a prepared image run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from inn_core.data.datasets import LabelledData, load_dataset
from inn_core.data.noise import NoiseResult, NoiseSpec, imbalanced_pair, inject_noise
from inn_core.devices import resolve_device
from inn_core.errors import InputError
from inn_core.method.models import FeatureModel, check_model, create_model, default_model_for
from inn_core.runs.store import RunStore

if TYPE_CHECKING:
    from inn_core.runs.experiment import ExperimentConfig

__all__ = [
    "DATASET_DEFAULTS",
    "RunData",
    "prepare_data",
    "check_data",
    "model_name",
    "build_model",
    "write_run_data",
]

#: Per-dataset training defaults. Digits trains with a large learning rate dropped at 1/2 and 3/4:
#: the CE model then memorises the noisy labels (fits >= 95 %) by the last epoch, so small-loss
#: degrades within a 40-epoch run - the phenomenon INN is robust to. The paper's CIFAR schedule
#: (batch 128, lr 0.02) barely moves 14 steps an epoch on digits and nothing memorises.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 40, "batch_size": 64, "lr": 0.1, "weight_decay": 0.0},
    "toy2d": {"epochs": 60, "batch_size": 32, "lr": 0.05, "weight_decay": 0.0},
    "cifar10": {"epochs": 100, "batch_size": 128, "lr": 0.02, "weight_decay": 5e-4},
    "cifar100": {"epochs": 100, "batch_size": 128, "lr": 0.02, "weight_decay": 5e-4},
    "imagefolder": {"epochs": 40, "batch_size": 64, "lr": 0.05, "weight_decay": 5e-4},
    "csv": {"epochs": 40, "batch_size": 64, "lr": 0.05, "weight_decay": 5e-4},
    "hf": {"epochs": 40, "batch_size": 64, "lr": 0.05, "weight_decay": 5e-4},
}


@dataclass(frozen=True, eq=False)
class RunData:
    """The training set of a run after noise injection.

    Attributes
    ----------
    data : the dataset as trained on (a two-class subset for imbalanced noise).
    observed_labels : (n,) int64 - the labels the models are trained on.
    true_labels : (n,) int64 - the ground truth where known (else equal to the given labels).
    is_noisy : (n,) bool, or ``None`` when the given labels are not known to be clean.
    indices : (n,) int64 - positions in the loaded dataset's training split.
    test_images, test_labels : the held-out split in the same label space, or ``None``.
    noise : the injection's outcome (nominal and actual rate).
    """

    data: LabelledData
    observed_labels: np.ndarray
    true_labels: np.ndarray
    is_noisy: np.ndarray | None
    indices: np.ndarray
    test_images: torch.Tensor | None
    test_labels: np.ndarray | None
    noise: NoiseResult

    @property
    def n(self) -> int:
        return int(self.observed_labels.shape[0])

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    @property
    def inputs(self) -> torch.Tensor:
        return self.data.images

    @property
    def in_channels(self) -> int:
        """Image channels, or the input dimension of feature-vector data."""
        return self.data.in_channels or int(self.inputs.shape[1])


def prepare_data(config: ExperimentConfig) -> RunData:
    """Load the dataset and inject the configured noise; validates what needs the data (L < n, classes, model)."""
    data = load_dataset(config.dataset, root=config.data_root, random_state=config.seed, **config.data_options)
    noise = inject_noise(data.true_labels.numpy(), config.noise, num_classes=data.num_classes, random_state=config.seed)
    test_images, test_labels = data.test_images, None if data.test_labels is None else data.test_labels.numpy()
    if config.noise.kind == "imbalanced":
        a, b = config.noise.classes
        data = data.subset(
            noise.indices, true_labels=noise.true_labels, class_names=(data.class_names[a], data.class_names[b])
        )
        if test_images is not None:
            keep, test_labels = imbalanced_pair(test_labels, (a, b))
            test_images = test_images[torch.from_numpy(keep)]
    n = noise.observed_labels.shape[0]
    if not n - 1 >= config.L:
        raise InputError(
            f"L = {config.L} neighbours needs more than {config.L} training samples, but there are {n}; "
            f"choose L <= {n - 1}"
        )
    # The model must suit the images; checked without building a network (a PreActResNet18 for a preview).
    check_model(model_name(config, data), num_classes=data.num_classes, image_size=data.image_size)
    known = data.labels_trusted or config.noise.kind != "none"
    return RunData(
        data=data,
        observed_labels=noise.observed_labels,
        true_labels=noise.true_labels,
        is_noisy=noise.is_noisy if known else None,
        indices=noise.indices,
        test_images=test_images,
        test_labels=test_labels,
        noise=noise,
    )


def check_data(config: ExperimentConfig) -> None:
    """Raise the :class:`InputError` a run of ``config`` would meet on loading its data; trains nothing."""
    prepare_data(config)


def model_name(config: ExperimentConfig, data: RunData | LabelledData) -> str:
    """The configured model, or the default for the data's image size (own images on a CPU: never
    ``preact_resnet18``, see :func:`~inn_core.method.models.default_model_for`)."""
    data = data.data if isinstance(data, RunData) else data
    return config.model or default_model_for(
        data.image_size, own_data=not data.labels_trusted, device=resolve_device(config.device)
    )


def build_model(config: ExperimentConfig, run: RunData, *, seed: int | None = None) -> FeatureModel:
    """The run's network for its data: ``config.model`` (or the default by image size), K outputs.

    ``seed`` initialises the weights without touching the global RNG; ``None`` leaves them to it
    (for weights about to be loaded).
    """
    return create_model(
        model_name(config, run),
        num_classes=run.num_classes,
        in_channels=run.in_channels,
        image_size=run.data.image_size,
        seed=seed,
        weights=config.weights,
    )


def write_labels(
    store: RunStore,
    run_id: str,
    *,
    observed: np.ndarray,
    true: np.ndarray,
    indices: np.ndarray,
    is_noisy: np.ndarray | None,
    num_classes: int,
    class_names: Sequence[str],
    nominal_rate: float,
    actual_rate: float,
    model: str,
    noise: NoiseSpec,
    **extra: Any,
) -> None:
    """Store a run's ``labels.npz`` and ``data.json`` (plus ``extra`` keys): what every page reads of its data.

    observed, true, indices : (n,) int. is_noisy : (n,) bool, or ``None`` when the true labels are unknown.
    """
    store.write_arrays(
        run_id,
        "labels.npz",
        observed=observed,
        true=true,
        indices=indices,
        is_noisy=is_noisy if is_noisy is not None else np.zeros(0, bool),
    )
    store.write_json(
        run_id,
        "data.json",
        {
            "n": int(observed.size),
            "num_classes": num_classes,
            "class_names": list(class_names),
            "labels_known": is_noisy is not None,
            "nominal_rate": nominal_rate,
            "actual_rate": actual_rate if is_noisy is not None else None,
            "model": model,
            "noise": noise.describe(num_classes=num_classes),
            **extra,
        },
    )


def write_run_data(store: RunStore, run_id: str, run: RunData, config: ExperimentConfig, **extra: Any) -> None:
    """Store ``labels.npz``, ``data.json`` (plus ``extra`` keys) and ``sources.json`` where the samples have files."""
    write_labels(
        store,
        run_id,
        observed=run.observed_labels,
        true=run.true_labels,
        indices=run.indices,
        is_noisy=run.is_noisy,
        num_classes=run.num_classes,
        class_names=run.data.class_names,
        nominal_rate=run.noise.nominal_rate,
        actual_rate=run.noise.actual_rate,
        model=model_name(config, run),
        noise=config.noise,
        **extra,
    )
    if run.data.sources:
        store.write_json(run_id, "sources.json", list(run.data.sources))
