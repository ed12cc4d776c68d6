"""Labelled images from objects users already have: a torch ``Dataset`` or a ``datasets.Dataset``.

:func:`as_labelled_data` turns either into a :class:`~inn_core.data.datasets.LabelledData` of
uint8 images, so :func:`inn_core.find_noisy_labels` accepts them as they are
(``find_noisy_labels(dataset=ds)``).

- a torch ``Dataset`` returning ``(image, target)`` per item, image as a PIL image, an
  ``(H, W[, C])`` array or a ``(C, H, W)`` tensor (uint8, or float in [0, 1]);
- torchvision's ``ImageFolder`` (and ``DatasetFolder`` of images) without a transform is read
  from its files through the on-disk cache, in parallel; with a transform it is a plain Dataset;
- a Hugging Face ``datasets.Dataset`` (see :mod:`inn_core.data.hf`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from inn_core.data.cache import cached_file_images, decode_parallel
from inn_core.data.images import check_resize, fit_image, to_pil
from inn_core.errors import InputError

__all__ = ["as_labelled_data", "from_torch_dataset", "is_dataset_object"]


def is_dataset_object(obj: Any) -> bool:
    """True for a torch ``Dataset`` or a Hugging Face ``Dataset`` / ``DatasetDict``."""
    if isinstance(obj, torch.utils.data.Dataset):
        return True
    module = type(obj).__module__ or ""
    return module.startswith("datasets.")


def as_labelled_data(
    obj: Any,
    *,
    image_size: int | None = None,
    grayscale: bool | None = None,
    resize: str = "stretch",
    **hf_options: Any,
):
    """A :class:`~inn_core.data.datasets.LabelledData` from a torch or Hugging Face dataset object.

    ``hf_options`` (``image_column``, ``label_column``, ``cache_dir``) apply to Hugging Face datasets.
    """
    if (type(obj).__module__ or "").startswith("datasets."):
        from inn_core.data.hf import from_hf_dataset

        return from_hf_dataset(obj, image_size=image_size, grayscale=grayscale, resize=resize, **hf_options)
    if hf_options:
        raise InputError(f"{sorted(hf_options)[0]} applies to Hugging Face datasets, not to {type(obj).__name__}")
    return from_torch_dataset(obj, image_size=image_size, grayscale=grayscale, resize=resize)


def from_torch_dataset(
    ds: Any, *, image_size: int | None = None, grayscale: bool | None = None, resize: str = "stretch", workers: int = 1
):
    """Read every ``(image, target)`` of a torch ``Dataset`` into uint8 images and labels.

    Parameters
    ----------
    image_size : side of the square images; None: the first image's own size, at most 224.
    workers : threads calling ``ds[i]`` at once; 1 by default since a user's ``__getitem__``
        need not be thread-safe (an ``ImageFolder`` without transform always reads in parallel).

    Class names come from ``ds.classes`` when it has them, else ``"0" .. "K-1"``.
    """
    from inn_core.data.datasets import NATIVE_MAX, LabelledData, _check_image_options, native_size

    image_size, grayscale, _ = _check_image_options(image_size, grayscale, 0.0)
    resize = check_resize(resize)
    try:
        n = len(ds)
    except TypeError as exc:
        raise InputError(
            f"the dataset must have a length (a map-style torch Dataset), got {type(ds).__name__}"
        ) from exc
    if n < 2:
        raise InputError(f"the dataset has {n} items; at least two are needed")
    samples = getattr(ds, "samples", None)
    if samples is not None and getattr(ds, "transform", None) is None and getattr(ds, "loader", None) is not None:
        # torchvision's ImageFolder / DatasetFolder: read the files ourselves, cached and in parallel.
        files = [Path(p) for p, _ in samples]
        targets = np.asarray([t for _, t in samples], dtype=np.int64)
        size = native_size(files, resize=resize) if image_size is None else image_size
        images = cached_file_images(files, size=size, grayscale=grayscale, resize=resize)
        if getattr(ds, "target_transform", None) is not None:
            targets = np.asarray([ds.target_transform(int(t)) for t in targets], dtype=np.int64)
    else:
        targets = np.full(n, -1, dtype=np.int64)

        def item(i: int):
            got = ds[i]
            if not isinstance(got, (tuple, list)) or len(got) < 2:
                raise InputError(f"item {i} of the dataset must be (image, target), got {type(got).__name__}")
            target = got[1]
            if isinstance(target, torch.Tensor):
                target = target.item() if target.numel() == 1 else target
            if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
                raise InputError(f"item {i}'s target must be an integer class index, got {target!r}")
            targets[i] = int(target)
            return to_pil(got[0], f"item {i}'s image")

        if image_size is None:
            w, h = item(0).size
            side = min(w, h) if resize == "crop" else max(w, h)
            size = min(side, NATIVE_MAX)
        else:
            size = image_size
        gray = bool(grayscale)
        images = torch.from_numpy(
            decode_parallel(
                n,
                lambda i: fit_image(item(i), size, grayscale=gray, resize=resize),
                size=size,
                grayscale=grayscale,
                workers=workers,
            )
        )
    if targets.min() < 0:
        raise InputError(f"targets must be class indices >= 0, got {int(targets.min())}")
    classes = getattr(ds, "classes", None)
    k = int(targets.max()) + 1
    if classes is not None and len(classes) >= k:
        names = tuple(str(c) for c in classes)
    else:
        names = tuple(str(c) for c in range(max(k, 2)))
    return LabelledData(
        name="torch", images=images, true_labels=torch.from_numpy(targets), class_names=names, labels_trusted=False
    )
