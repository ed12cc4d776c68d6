"""Python API for people with their own arrays: :func:`find_noisy_labels`.

Conventions match cleanlab's: a boolean mask of likely label issues, indices ranked most suspicious
first, and a score where low means "likely wrong label".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from inn_core._seeds import role_seed
from inn_core._validation import check_int
from inn_core.data.torch_dataset import as_labelled_data, is_dataset_object
from inn_core.devices import resolve_device
from inn_core.errors import InputError
from inn_core.method.filters import check_filter, flag_by
from inn_core.method.mixture import split_clean
from inn_core.method.models import create_model, default_model_for
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.scoring import inn_scores
from inn_core.method.training import TrainConfig, Trainer, extract_features, predict_proba
from inn_core.runs.schedule import own_data_epochs

__all__ = ["NoisyLabels", "find_noisy_labels"]


@dataclass(frozen=True, eq=False)
class NoisyLabels:
    """What :func:`find_noisy_labels` found.

    Attributes
    ----------
    scores : (n,) float in [0, 1] - the INN score; low = likely wrong label.
    is_noisy : (n,) bool - the Beta-mixture split: True where the label is likely wrong.
    ranked_indices : (m,) int64 - the indices with ``is_noisy``, lowest score first.
    suggested_labels : (n,) int64 - the MixUp model's prediction for every sample.
    pred_probs : (n, K) float in [0, 1], rows summing to 1 - the MixUp model's class probabilities
        (in-sample, not out-of-fold: the model saw every label it predicts).
    clean_posterior : (n,) float in [0, 1] - posterior of the clean (higher-mean) component.
    neighbor_indices : (n, L) int64 - each sample's nearest neighbours in feature space.
    variant : ``"input"`` (networks trained on the images; neighbours in their ``h`` features) or
        ``"embedding"`` (a head trained on the given features; neighbours among them).
    neighbor_backend : the neighbour search that ran: ``"exact"``, or ``"faiss-ivf"`` / ``"faiss-hnsw"``
        (approximate) for large embeddings.
    given_labels : (n,) int64 - the labels that were scored.
    """

    scores: np.ndarray
    is_noisy: np.ndarray
    ranked_indices: np.ndarray
    suggested_labels: np.ndarray
    clean_posterior: np.ndarray
    neighbor_indices: np.ndarray
    variant: str = "input"
    neighbor_backend: str = "exact"
    given_labels: np.ndarray | None = None
    pred_probs: np.ndarray | None = None

    def __repr__(self) -> str:
        # The arrays are many thousands of numbers; a summary reads better in a notebook.
        return (
            f"NoisyLabels(n={self.scores.shape[0]:,}, flagged={int(self.is_noisy.sum()):,}, "
            f"variant={self.variant!r}, neighbor_backend={self.neighbor_backend!r})"
        )

    def to_frame(self):
        """A pandas DataFrame in cleanlab Datalab's ``get_issues("label")`` columns, one row per sample.

        Columns: ``is_label_issue`` (bool), ``label_score`` (the INN score, low = likely wrong),
        ``given_label`` and ``predicted_label`` (the MixUp model's suggestion).
        """
        import pandas as pd

        given = self.given_labels if self.given_labels is not None else np.full(self.scores.shape[0], -1)
        return pd.DataFrame(
            {
                "is_label_issue": self.is_noisy,
                "label_score": self.scores,
                "given_label": given,
                "predicted_label": self.suggested_labels,
            }
        )


def find_noisy_labels(
    images: np.ndarray | torch.Tensor | Any = None,
    labels: np.ndarray | torch.Tensor | Sequence[int] | None = None,
    *,
    features: np.ndarray | torch.Tensor | None = None,
    dataset: Any = None,
    image_size: int | None = None,
    model: str | None = None,
    weights: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_decay: float = 5e-4,
    neighbor_backend: str = "auto",
    L: int = 10,
    H: int = 10,
    device: str = "auto",
    random_state: int | None = None,
    callback: Callable[[int, int], None] | None = None,
    filter_by: str = "beta_mixture",
    k: int | None = None,
    fraction: float | None = None,
    threshold: float | None = None,
    verbose: bool = False,
) -> NoisyLabels:
    """Find likely wrong labels in ``(images, labels)`` with INN.

    Trains a CE model (its penultimate layer gives the neighbours) and a MixUp model ``f`` on the
    given labels, scores every sample by integrating ``f``'s probability of its label along the
    paths to its L nearest neighbours, and splits the scores with a two-component Beta mixture.

    With ``features`` instead of ``images`` it runs INN in embedding space (``variant="embedding"``,
    :mod:`inn_core.method.embedding_inn`): neighbours among the given embeddings, ``f`` a classifier
    head trained with MixUp on them, paths between embeddings - no network pass per path point,
    the route for a million samples on a CPU.

    Parameters
    ----------
    images : (n, C, H, W) uint8 images (0..255) or float images (values in [0, 1] work best), or
        (n, d) raw vectors to train networks on (input-space INN) - or a dataset object, as for ``dataset``.
    labels : (n,) int, the observed labels in [0, K), K >= 2; taken from the dataset when one is given.
    features : (n, d) embeddings of the same samples (CLIP, DINOv2, your own model): embedding-space
        INN. Give ``images`` (or ``dataset``) or ``features``, not both.
    dataset : a torch ``Dataset`` returning ``(image, target)`` (torchvision's ``ImageFolder``
        included) or a Hugging Face ``datasets.Dataset`` with ``image`` and ``label`` columns;
        read once into uint8 images (:mod:`inn_core.data.torch_dataset`).
    image_size : the side images from ``dataset`` are resized to; default their own size (the median, at most 224).
    model : a registered model name or ``"tv:NAME"`` (a torchvision backbone, with ``weights``);
        default ``small_cnn`` below 32 px and on a CPU, ``preact_resnet18`` at 32 px and above on a
        GPU, ``mlp`` for vectors; with ``features`` a head, ``linear_head`` (default) or ``mlp_head``.
    weights : a torchvision backbone's weights file (or ``"torchvision"`` to download them).
    epochs, batch_size, lr, weight_decay : SGD training of both models (lr / 5 at 1/2 and 3/4).
        Images: about :data:`~inn_core.runs.schedule.OWN_DATA_STEPS` SGD steps
        (:func:`~inn_core.runs.schedule.own_data_epochs`), batch 64, lr 0.05; embeddings: those of
        :class:`~inn_core.method.embedding_inn.HeadSettings` (15 epochs, batch n/100 in [32, 4096], lr 0.1).
    neighbor_backend : with ``features``: ``"auto"`` (exact unless that would take minutes, then
        faiss HNSW), ``"exact"``, ``"faiss"``, ``"faiss-ivf"`` or ``"faiss-hnsw"``.
    L, H : neighbours per sample and trapezoids per path.
    device : "auto", "cpu" or "cuda".
    random_state : seed for initialisation and batch order; the same seed gives the same result
        on the CPU.
    callback : called as ``callback(epoch, epochs)`` after each training epoch.
    filter_by : how scores become the ``is_noisy`` mask (see :data:`inn_core.method.filters.FILTERS`):
        ``"beta_mixture"`` (default), ``"top_k"`` (reads ``k``), ``"fraction"`` (reads ``fraction``)
        or ``"threshold"`` (reads ``threshold``: flagged where the score is below it).
    verbose : show a tqdm progress bar over the training epochs.

    Returns
    -------
    NoisyLabels
        ``is_noisy`` is a mask and ``ranked_indices`` the flagged indices, most suspicious first -
        cleanlab's ``find_label_issues`` conventions; ``scores`` is low for likely wrong labels,
        like cleanlab's label-quality scores.

    Raises
    ------
    InputError
        Images and labels of different lengths, labels that are not class ids 0..K-1 with K >= 2,
        non-finite images, ``L`` outside ``[1, n - 1]``, a negative ``random_state``.

    Examples
    --------
    >>> import numpy as np
    >>> import inn_core
    >>> rng = np.random.default_rng(0)
    >>> points = np.concatenate([rng.normal(-2, 0.5, (40, 2)), rng.normal(2, 0.5, (40, 2))]).astype("float32")
    >>> labels = np.repeat([0, 1], 40)
    >>> labels[:4] = 1                                      # four wrong labels
    >>> result = inn_core.find_noisy_labels(points, labels, epochs=20, L=5, random_state=0)  # doctest: +SKIP
    >>> result.ranked_indices[:4]                           # most suspicious first  # doctest: +SKIP
    >>> result.scores.shape, result.is_noisy.dtype          # doctest: +SKIP
    ((80,), dtype('bool'))
    """
    if dataset is None and is_dataset_object(images):
        dataset, images = images, None
    if dataset is not None:
        if images is not None or features is not None:
            raise InputError("give one of images, features or dataset=, not several")
        data = as_labelled_data(dataset, image_size=image_size)
        images, labels = data.images, data.true_labels if labels is None else labels
    if labels is None:
        raise InputError(
            "give the observed labels: find_noisy_labels(images, labels), (labels=y, features=F) "
            "or dataset= (a torch or Hugging Face dataset)"
        )
    filtering = {"filter_by": filter_by, "k": k, "fraction": fraction, "threshold": threshold}
    if features is not None:
        if images is not None:
            raise InputError("give images (input-space INN) or features (embedding-space INN), not both")
        check_filter(filter_by, k=k, fraction=fraction, threshold=threshold, n=len(labels))
        return _embedding_variant(
            features,
            labels,
            model=model,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            neighbor_backend=neighbor_backend,
            L=L,
            H=H,
            device=device,
            random_state=random_state,
            callback=callback,
            filtering=filtering,
        )
    if images is None:
        raise InputError("give images (n, C, H, W) or (n, d), embeddings as features=, or dataset=")
    batch_size = 64 if batch_size is None else batch_size
    lr = 0.05 if lr is None else lr
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    # uint8 images stay uint8 (a quarter of the memory); the engine converts them per batch.
    x = x if x.dtype == torch.uint8 and x.dim() == 4 else x.float()
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if x.dim() == 3:
        raise InputError(
            f"images must have shape (n, C, H, W) or (n, d), got {tuple(x.shape)}; for grayscale (n, H, W) "
            "images add the channel axis: images[:, None]"
        )
    if x.dim() not in (2, 4):
        raise InputError(f"images must have shape (n, C, H, W) or (n, d), got {tuple(x.shape)}")
    if x.dim() == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        raise InputError(
            f"images must be laid out (n, C, H, W); {tuple(x.shape)} looks like (n, H, W, C) (as PIL and "
            "Hugging Face give them): pass images.transpose(0, 3, 1, 2)"
        )
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise InputError(
            f"images and labels must be the same length, but images has {x.shape[0]} and labels has shape {y.shape}"
        )
    if y.shape[0] == 0:
        raise InputError("images and labels are empty; give at least two labelled samples")
    if random_state is not None and (
        isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0
    ):
        raise InputError(f"random_state must be a non-negative int or None, got {random_state!r}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise InputError("labels must be non-negative integers 0..K-1")
    if not torch.isfinite(x).all():
        raise InputError("images contain NaN or infinite values")
    num_classes = int(y.max()) + 1
    if num_classes < 2:
        raise InputError("labels must contain at least two classes")
    if not 1 <= L <= x.shape[0] - 1:
        raise InputError(f"L must be between 1 and n - 1 = {x.shape[0] - 1}, got {L}")
    check_filter(filter_by, k=k, fraction=fraction, threshold=threshold, n=x.shape[0])
    image_size = x.shape[-1] if x.dim() == 4 else None
    seed = check_int("random_state", random_state, low=0, allow_none=True) or 0
    dev = resolve_device(device)
    name = model or default_model_for(image_size, own_data=True, device=dev)
    epochs = own_data_epochs(x.shape[0], batch_size) if epochs is None else epochs
    trainers = {}
    # The same streams as an experiment's models with the same roles (ce, mixup) and seed.
    for role, objective in (("ce", "ce"), ("mixup", "mixup")):
        net = create_model(
            name,
            num_classes=num_classes,
            in_channels=x.shape[1],
            image_size=image_size,
            seed=role_seed(seed, "model_init", role),
            weights=weights,
        )
        config = TrainConfig(
            objective=objective, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay
        )
        trainers[role] = Trainer(
            net, x, y, config, num_classes=num_classes, device=dev, random_state=role_seed(seed, "model_batches", role)
        )
    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="training f and h", unit="epoch")
    for epoch in range(1, epochs + 1):
        for trainer in trainers.values():
            trainer.train_epoch()
        if bar is not None:
            bar.update(1)
        if callback is not None:
            callback(epoch, epochs)
    if bar is not None:
        bar.close()
    models = {role: t.model for role, t in trainers.items()}
    # h is the CE model's penultimate layer, as in an experiment's default.
    neighbors, _ = nearest_neighbors(extract_features(models["ce"], x, device=dev), L, device=dev)
    inn = inn_scores(models["mixup"], x, y, neighbors, H=H, device=dev)
    proba = predict_proba(models["mixup"], x, device=dev)
    return _result(inn, proba, neighbors, y, variant="input", backend="exact", **filtering)


def _result(
    inn: np.ndarray,
    proba: np.ndarray,
    neighbors: np.ndarray,
    given: np.ndarray,
    *,
    variant: str,
    backend: str,
    filter_by: str,
    k: int | None,
    fraction: float | None,
    threshold: float | None,
) -> NoisyLabels:
    _, posterior, _ = split_clean(inn)
    clean_mask = ~flag_by(inn, posterior, filter_by, k=k, fraction=fraction, threshold=threshold)
    flagged = np.flatnonzero(~clean_mask)
    ranked = flagged[np.argsort(inn[flagged], kind="stable")]
    return NoisyLabels(
        scores=inn,
        is_noisy=~clean_mask,
        ranked_indices=ranked.astype(np.int64),
        suggested_labels=proba.argmax(1).astype(np.int64),
        clean_posterior=posterior,
        neighbor_indices=neighbors,
        variant=variant,
        neighbor_backend=backend,
        given_labels=np.asarray(given, dtype=np.int64),
        pred_probs=np.asarray(proba, dtype=np.float32),
    )


def _embedding_variant(
    features,
    labels,
    *,
    model,
    epochs,
    batch_size,
    lr,
    weight_decay,
    neighbor_backend,
    L,
    H,
    device,
    random_state,
    callback,
    filtering,
) -> NoisyLabels:
    from inn_core.method.embedding_inn import HeadSettings, embedding_inn

    defaults = HeadSettings()
    settings = HeadSettings(
        head=model or defaults.head,
        epochs=defaults.epochs if epochs is None else epochs,
        batch_size=batch_size,
        lr=defaults.lr if lr is None else lr,
        weight_decay=weight_decay,
    )
    result = embedding_inn(
        features,
        labels,
        settings=settings,
        L=L,
        H=H,
        backend=neighbor_backend,
        device=device,
        random_state=0 if random_state is None else int(random_state),
        callback=callback,
    )
    return _result(
        result.scores["inn"],
        result.proba,
        result.neighbors,
        np.asarray(labels),
        variant=result.variant,
        backend=result.backend,
        **filtering,
    )
