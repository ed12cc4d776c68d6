"""Hugging Face ``datasets``: a ``save_to_disk`` folder or a ``datasets.Dataset`` object as labelled images.

``load_dataset("hf", root=DIR)`` reads a folder written by ``Dataset.save_to_disk`` (or a
``DatasetDict``'s: its ``train`` split, and its ``test`` split as the held-out set). Images come
from ``image_column`` (default ``image``; an ``Image()`` feature, arrays or PIL images), labels
from ``label_column`` (default ``label``); class names from its ``ClassLabel`` when it has one.
Images are decoded in parallel from their encoded bytes into the on-disk image cache
(:mod:`inn_core.data.cache`), keyed by the folder's Arrow files, so a second run reads them back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inn_core.data.cache import cached_images, decode_parallel
from inn_core.data.images import check_resize, fit_image, to_pil
from inn_core.errors import InputError

__all__ = ["HF_DEFAULTS", "load_hf_folder", "from_hf_dataset"]

HF_DEFAULTS: dict[str, Any] = {
    "image_column": "image",
    "label_column": "label",
    "split": None,
    "image_size": None,
    "grayscale": None,
    "test_fraction": 0.0,
    "resize": "stretch",
    "cache_dir": None,
}


def load_hf_folder(
    *,
    root: Path | None,
    rng: np.random.Generator,
    image_column: str,
    label_column: str,
    split: str | None,
    image_size: int | None,
    grayscale: bool | None,
    test_fraction: float,
    resize: str,
    cache_dir: Any,
):
    """The ``"hf"`` loader of :func:`~inn_core.data.datasets.load_dataset`."""
    from inn_core.data.datasets import _check_image_options, _split_and_cap

    image_size, grayscale, test_fraction = _check_image_options(image_size, grayscale, test_fraction)
    resize = check_resize(resize)
    if root is None:
        raise InputError("hf needs root= pointing at a folder written by datasets' save_to_disk")
    if not root.is_dir():
        raise InputError(f"Hugging Face folder {root} does not exist; point root at a save_to_disk folder")
    import datasets

    try:
        saved = datasets.load_from_disk(str(root))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise InputError(f"{root} is not a Hugging Face save_to_disk folder ({exc})") from exc
    test = None
    if isinstance(saved, datasets.DatasetDict):
        splits = list(saved)
        chosen = split or ("train" if "train" in saved else splits[0] if len(splits) == 1 else None)
        if chosen is None or chosen not in saved:
            raise InputError(f"{root} holds the splits {splits}; choose one with split=NAME")
        train = saved[chosen]
        if test_fraction == 0 and "test" in saved and chosen != "test":
            test = saved["test"]
    else:
        if split is not None:
            raise InputError(f"{root} holds a single Dataset, not splits; leave split unset (got {split!r})")
        train = saved
    opts = {
        "image_column": image_column,
        "label_column": label_column,
        "image_size": image_size,
        "grayscale": grayscale,
        "resize": resize,
        "cache_dir": cache_dir,
    }
    images, labels, class_names = _images_and_labels(train, **opts)
    if test is not None:
        size = int(images.shape[-1])
        test_images, test_labels, test_names = _images_and_labels(test, **{**opts, "image_size": size})
        if test_names != class_names:
            raise InputError(
                f"the test split of {root} has classes {list(test_names)}, the train split {list(class_names)}"
            )
        if test_images.shape[1] != images.shape[1]:
            test_images, images = _same_channels(test_images), _same_channels(images)
        from inn_core.data.datasets import LabelledData

        return LabelledData(
            name="hf",
            images=images,
            true_labels=labels,
            class_names=class_names,
            test_images=test_images,
            test_labels=test_labels,
            labels_trusted=False,
        )
    return _split_and_cap(
        "hf", images, labels, class_names, rng=rng, test_fraction=test_fraction, max_samples=None, labels_trusted=False
    )


def _same_channels(images: torch.Tensor) -> torch.Tensor:
    return images if images.shape[1] == 3 else images.expand(-1, 3, -1, -1).contiguous()


def from_hf_dataset(
    ds: Any,
    *,
    image_column: str = "image",
    label_column: str = "label",
    image_size: int | None = None,
    grayscale: bool | None = None,
    resize: str = "stretch",
    cache_dir: Any = None,
):
    """A :class:`~inn_core.data.datasets.LabelledData` from a ``datasets.Dataset`` object.

    Datasets loaded from disk are cached like folders; ones built in memory are decoded in memory.
    """
    import datasets

    from inn_core.data.datasets import LabelledData, _check_image_options

    if isinstance(ds, datasets.DatasetDict):
        raise InputError(f"got a DatasetDict with splits {list(ds)}; pass one split, e.g. ds['train']")
    if not isinstance(ds, datasets.Dataset):
        raise InputError(f"expected a datasets.Dataset, got {type(ds).__name__}")
    image_size, grayscale, _ = _check_image_options(image_size, grayscale, 0.0)
    images, labels, class_names = _images_and_labels(
        ds,
        image_column=image_column,
        label_column=label_column,
        image_size=image_size,
        grayscale=grayscale,
        resize=check_resize(resize),
        cache_dir=cache_dir,
    )
    return LabelledData(name="hf", images=images, true_labels=labels, class_names=class_names, labels_trusted=False)


def _images_and_labels(
    ds: Any,
    *,
    image_column: str,
    label_column: str,
    image_size: int | None,
    grayscale: bool | None,
    resize: str,
    cache_dir: Any,
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    import datasets

    columns = list(ds.column_names)
    for what, column in (("image_column", image_column), ("label_column", label_column)):
        if column not in columns:
            raise InputError(
                f"the Hugging Face dataset has no column {column!r} ({what}); its columns are "
                f"{columns}; pass {what}=NAME"
            )
    if len(ds) < 2:
        raise InputError(f"the Hugging Face dataset has {len(ds)} rows; at least two are needed")
    labels, class_names = _labels(ds, label_column)
    feature = ds.features[image_column]
    if isinstance(feature, datasets.Image):
        # Encoded bytes: decoded by us on a thread pool rather than one by one by datasets.
        ds = ds.cast_column(image_column, datasets.Image(decode=False))
    column = ds.select_columns([image_column])

    def pil(i: int):
        return to_pil(column[i][image_column], f"row {i} of column {image_column!r}")

    if image_size is None:
        from inn_core.data.datasets import NATIVE_MAX

        sides = sorted(
            (min if resize == "crop" else max)(pil(i).size) for i in range(0, len(ds), max(1, len(ds) // 32))
        )
        image_size = int(min(NATIVE_MAX, sides[len(sides) // 2]))
    gray = bool(grayscale)

    def decode(i: int) -> tuple[np.ndarray, bool]:
        return fit_image(pil(i), image_size, grayscale=gray, resize=resize)

    files = [f["filename"] for f in getattr(ds, "cache_files", []) or []]
    if not files or cache_dir is False:
        images = torch.from_numpy(decode_parallel(len(ds), decode, size=image_size, grayscale=grayscale))
    else:
        stamps = [[f, os.stat(f).st_size, os.stat(f).st_mtime_ns] for f in files]
        key = {
            "kind": "hf",
            "files": files,
            "fingerprint": getattr(ds, "_fingerprint", None),
            "column": image_column,
            "size": image_size,
            "grayscale": grayscale,
            "resize": resize,
        }
        images = cached_images(key, stamps, len(ds), decode, size=image_size, grayscale=grayscale, cache_dir=cache_dir)
    return images, labels, class_names


def _labels(ds: Any, label_column: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    import datasets

    feature = ds.features[label_column]
    raw = ds.select_columns([label_column])[label_column]
    if isinstance(feature, datasets.ClassLabel):
        values = np.asarray(raw, dtype=np.int64)
        if values.size and values.min() < 0:
            raise InputError(f"column {label_column!r} has rows without a label (-1); remove them or give them one")
        return torch.from_numpy(values), tuple(feature.names)
    try:
        ints = np.asarray(raw, dtype=np.int64)
    except (TypeError, ValueError):
        names, codes = np.unique(np.asarray([str(v) for v in raw], dtype=object).astype(str), return_inverse=True)
        return torch.from_numpy(codes.astype(np.int64).reshape(-1)), tuple(str(n) for n in names)
    if ints.ndim != 1:
        raise InputError(f"column {label_column!r} must hold one label per row, got shape {ints.shape}")
    values, codes = np.unique(ints, return_inverse=True)
    return torch.from_numpy(codes.astype(np.int64).reshape(-1)), tuple(str(v) for v in values)
