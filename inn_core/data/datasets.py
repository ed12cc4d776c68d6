"""Labelled training data: built-in sets, CIFAR files on disk and the user's own images.

Every loader returns a :class:`LabelledData`: images laid out ``(n, C, H, W)``, as uint8
(decoded files, CIFAR; ``value / 255``) or float32 in ``[0, 1]`` (digits, exactly ``count / 16``;
see :mod:`inn_core.data.pixels`) (or ``(n, 2)`` features for the 2-D toy set), int64 labels
in ``[0, K)`` and the ``K`` class names. :func:`load_dataset` is the one entry
point; :data:`DATASETS` lists the names it accepts.

Nothing here downloads data unless a caller asks for it with ``download=True``,
and nothing here uses global random state: splits and subsamples come from the
``random_state`` given to :func:`load_dataset`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inn_core._validation import as_generator, check_bool, check_int, check_real
from inn_core.data.cache import cached_file_images
from inn_core.data.cifar_files import (
    _CIFAR10,
    _CIFAR100,
    _as_text,
    _cifar_to_images,
    _CifarLayout,
    _field,
    _read_cifar_batches,
    _read_cifar_pickle,
)
from inn_core.data.csv_files import _encode_labels, _inside, _read_csv_rows
from inn_core.data.hf import HF_DEFAULTS, load_hf_folder
from inn_core.data.images import IMAGE_EXTENSIONS, MAX_IMAGE_SIZE, check_resize, is_image_file, probe_size
from inn_core.errors import InputError

__all__ = [
    "DATASETS",
    "LabelledData",
    "dataset_options",
    "load_dataset",
    "to_uint8_images",
]

DATASETS: tuple[str, ...] = ("digits", "cifar10", "cifar100", "imagefolder", "csv", "hf", "toy2d")

#: Own images are read at their own size up to this when image_size is None (a backbone's 224).
NATIVE_MAX = 224


@dataclass(frozen=True, eq=False, repr=False)
class LabelledData:
    """A labelled training set with an optional test split.

    Parameters
    ----------
    name : str
        Which loader built it (one of :data:`DATASETS`, or any name for data built by hand).
    images : torch.Tensor of shape (n, C, H, W), uint8 (value / 255) or float32 in [0, 1], C in {1, 3}
        Training images; for non-image data (``toy2d``) a (n, d) float32 feature matrix. uint8
        images may be a memory-mapped cache (:mod:`inn_core.data.cache`); consumers convert
        them to float one batch at a time (:func:`inn_core.data.pixels.as_model_input`).
    true_labels : torch.Tensor of shape (n,), int64 in [0, K)
        The labels believed correct. For user data (``labels_trusted=False``) they
        are the labels the user gave, which may themselves be noisy.
    class_names : tuple of str, length K >= 2
        Distinct display names; ``class_names[k]`` names label ``k``.
    test_images, test_labels : torch.Tensor or None
        A held-out split shaped like ``images`` / ``true_labels``; both or neither.
    labels_trusted : bool
        False when the truth is unknown, so noise-detection metrics cannot be computed.
    sources : tuple of str, length n, or None
        Per-sample file path (relative to the data root) for display and export.

    Equality is identity (``eq=False``) so an instance can key a cache cheaply.
    """

    name: str
    images: torch.Tensor
    true_labels: torch.Tensor
    class_names: tuple[str, ...]
    test_images: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    labels_trusted: bool = True
    sources: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.class_names, str):
            raise InputError(f"class_names must be a sequence of names, got the single string {self.class_names!r}")
        # Lists are accepted for convenience; stored as tuples so the object stays immutable.
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if self.sources is not None:
            object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        k = len(self.class_names)
        if k < 2:
            raise InputError(f"a dataset needs at least two classes, got {k}: {list(self.class_names)}")
        if len(set(self.class_names)) != k:
            raise InputError(f"class names must be distinct, got {list(self.class_names)}")
        _check_samples("images", self.images)
        _check_labels("true_labels", self.true_labels, len(self.images), k)
        if (self.test_images is None) != (self.test_labels is None):
            raise InputError("test_images and test_labels must be given together or both left as None")
        if self.test_images is not None:
            _check_samples("test_images", self.test_images)
            if self.test_images.shape[1:] != self.images.shape[1:]:
                raise InputError(
                    f"test_images must have per-sample shape {tuple(self.images.shape[1:])} like images, "
                    f"got {tuple(self.test_images.shape[1:])}"
                )
            _check_labels("test_labels", self.test_labels, len(self.test_images), k)
        if self.sources is not None and len(self.sources) != len(self.images):
            raise InputError(f"sources must name one file per sample ({len(self.images)}), got {len(self.sources)}")

    def __repr__(self) -> str:
        test = 0 if self.test_images is None else len(self.test_images)
        return (
            f"LabelledData(name={self.name!r}, n={self.n}, sample_shape={tuple(self.images.shape[1:])}, "
            f"num_classes={self.num_classes}, test={test}, labels_trusted={self.labels_trusted})"
        )

    @property
    def n(self) -> int:
        """Number of training samples."""
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes ``K``."""
        return len(self.class_names)

    @property
    def is_image(self) -> bool:
        """True for ``(n, C, H, W)`` images, False for feature vectors."""
        return self.images.ndim == 4

    @property
    def in_channels(self) -> int | None:
        """Image channels ``C`` (1 or 3), or None for non-image data."""
        return int(self.images.shape[1]) if self.is_image else None

    @property
    def image_size(self) -> int | None:
        """Image height ``H``, or None for non-image data."""
        return int(self.images.shape[2]) if self.is_image else None

    def display_image(self, i: int) -> np.ndarray:
        """Training image ``i`` ready to show.

        Returns
        -------
        np.ndarray of shape (H, W) for one channel or (H, W, 3), uint8 in [0, 255]
        """
        if not self.is_image:
            raise InputError(f"dataset {self.name!r} holds feature vectors, not images, so it has nothing to display")
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < self.n:
            raise InputError(f"image index must be an integer in [0, {self.n}), got {i!r}")
        return to_uint8_images(self.images[int(i) : int(i) + 1])[0]

    def subset(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        *,
        true_labels: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        class_names: Sequence[str] | None = None,
    ) -> LabelledData:
        """A new dataset holding the selected training samples.

        Parameters
        ----------
        indices : (m,) int in [0, n), or (n,) bool mask
            Training samples to keep, in this order; repeats are allowed.
        true_labels : (m,) int in [0, K'), optional
            Replacement labels for the kept samples (e.g. relabelled to 0/1);
            default: their current labels.
        class_names : sequence of K' str, optional
            Replacement class names; default: the current ones.

        The test split is kept as it is, except when ``class_names`` changes the
        label space: its labels then refer to the old classes, so it is dropped.
        """
        index = _as_index(indices, self.n)
        if true_labels is None:
            labels = self.true_labels[index]
        else:
            labels = torch.as_tensor(np.asarray(true_labels))
            if labels.dtype.is_floating_point or labels.dtype == torch.bool:
                raise InputError(f"true_labels must be integers, got dtype {labels.dtype}")
            labels = labels.to(torch.int64)
        names = self.class_names if class_names is None else tuple(str(c) for c in class_names)
        keep_test = names == self.class_names
        return LabelledData(
            name=self.name,
            images=self.images[index],
            true_labels=labels,
            class_names=names,
            test_images=self.test_images if keep_test else None,
            test_labels=self.test_labels if keep_test else None,
            labels_trusted=self.labels_trusted,
            sources=None if self.sources is None else tuple(self.sources[j] for j in index.tolist()),
        )


def to_uint8_images(images: torch.Tensor) -> np.ndarray:
    """Turn float images into displayable bytes.

    Parameters
    ----------
    images : torch.Tensor of shape (m, C, H, W), uint8 or float, C in {1, 3}
        uint8 is returned as it is; float values are clipped to [0, 1] first, so
        interpolated or reconstructed images that overshoot still display.

    Returns
    -------
    np.ndarray of shape (m, H, W) if C == 1 else (m, H, W, 3), uint8 in [0, 255]
    """
    if not isinstance(images, torch.Tensor):
        raise InputError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise InputError(f"images must have shape (m, C, H, W) with C in {{1, 3}}, got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        scaled = images.detach().to("cpu")
    else:
        scaled = (images.detach().to("cpu", torch.float32).clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    if scaled.shape[1] == 1:
        return scaled[:, 0].numpy()
    return scaled.permute(0, 2, 3, 1).contiguous().numpy()


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    random_state: int | np.random.Generator | None = 0,
    **options: Any,
) -> LabelledData:
    """Load one of :data:`DATASETS` by name.

    Parameters
    ----------
    name : str
        ``"digits"``, ``"cifar10"``, ``"cifar100"``, ``"imagefolder"``, ``"csv"``, ``"hf"`` (a
        Hugging Face ``save_to_disk`` folder, :mod:`inn_core.data.hf`) or ``"toy2d"``.
    root : str or Path, optional
        Where the files lie: the CIFAR folder (its parent or the batches folder
        itself), the image folder, or the CSV file. Built-in sets take none.
    random_state : int, numpy.random.Generator or None
        Seeds every split and subsample; the same seed gives the same data.
    **options
        Per-dataset options; :func:`dataset_options` lists them with defaults.

    Returns
    -------
    LabelledData
    """
    spec = _spec(name)
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        raise InputError(
            f"dataset {name!r} has no option {unknown[0]!r}; its options are {sorted(spec.defaults) or 'none'}"
        )
    if not spec.uses_root and root is not None:
        raise InputError(f"dataset {name!r} is built in and reads no files, so leave root unset (got {root!r})")
    rng = as_generator(random_state)
    return spec.loader(root=None if root is None else Path(root).expanduser(), rng=rng, **{**spec.defaults, **options})


def dataset_options(name: str) -> dict[str, Any]:
    """The options :func:`load_dataset` accepts for ``name``, with their defaults."""
    return dict(_spec(name).defaults)


# --------------------------------------------------------------------------- digits


def _load_digits(
    *, root: Path | None, rng: np.random.Generator, test_fraction: float, max_samples: int | None
) -> LabelledData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are counts 0..16 on an 8x8 grid.
    images = torch.from_numpy((bunch.data / 16.0).astype(np.float32)).reshape(-1, 1, 8, 8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return _split_and_cap(
        "digits",
        images,
        labels,
        tuple(str(d) for d in range(10)),
        rng=rng,
        test_fraction=test_fraction,
        max_samples=max_samples,
    )


# --------------------------------------------------------------------------- CIFAR


def _load_cifar10(
    *, root: Path | None, rng: np.random.Generator, download: bool, max_samples: int | None
) -> LabelledData:
    return _load_cifar(_CIFAR10, "cifar10", root=root, rng=rng, download=download, max_samples=max_samples)


def _load_cifar100(
    *, root: Path | None, rng: np.random.Generator, download: bool, max_samples: int | None
) -> LabelledData:
    return _load_cifar(_CIFAR100, "cifar100", root=root, rng=rng, download=download, max_samples=max_samples)


def _load_cifar(
    layout: _CifarLayout,
    name: str,
    *,
    root: Path | None,
    rng: np.random.Generator,
    download: bool,
    max_samples: int | None,
) -> LabelledData:
    download = check_bool("download", download)
    max_samples = _check_max_samples(max_samples)
    if root is None:
        raise InputError(
            f"{name} needs root= pointing at the folder that holds {layout.folder} "
            f"(add download=True to fetch it when online)"
        )
    folder = root if root.name == layout.folder or (root / layout.meta_file).is_file() else root / layout.folder
    if download:
        import torchvision.datasets

        try:
            getattr(torchvision.datasets, layout.torchvision_class)(str(folder.parent), train=True, download=True)
        except (OSError, RuntimeError) as exc:
            raise InputError(
                f"could not download {layout.title} into {folder.parent} ({exc}); "
                f"check the connection or place the files there yourself"
            ) from exc
    needed = [folder / f for f in (*layout.train_files, layout.test_file, layout.meta_file)]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        what = f"folder {folder}" if not folder.is_dir() else f"file {missing[0]}"
        raise InputError(
            f"{layout.title} {what} is missing; point root at the folder holding {layout.folder}, "
            f"or pass download=True when online"
        )

    meta = _read_cifar_pickle(folder / layout.meta_file)
    class_names = tuple(_as_text(c) for c in _field(meta, layout.names_key, folder / layout.meta_file))
    train_pixels, train_labels = _read_cifar_batches(folder, layout.train_files, layout.label_key)
    test_pixels, test_labels = _read_cifar_batches(folder, (layout.test_file,), layout.label_key)

    keep = np.arange(len(train_labels)) if max_samples is None else _stratified_take(train_labels, max_samples, rng)
    return LabelledData(
        name=name,
        images=_cifar_to_images(train_pixels[keep]),
        true_labels=torch.from_numpy(train_labels[keep]),
        class_names=class_names,
        test_images=_cifar_to_images(test_pixels),
        test_labels=torch.from_numpy(test_labels),
    )


def _load_imagefolder(
    *,
    root: Path | None,
    rng: np.random.Generator,
    image_size: int | None,
    grayscale: bool | None,
    test_fraction: float,
    resize: str,
    cache_dir: Any,
) -> LabelledData:
    image_size, grayscale, test_fraction = _check_image_options(image_size, grayscale, test_fraction)
    resize = check_resize(resize)
    if root is None:
        raise InputError("imagefolder needs root= pointing at a folder with one sub-folder of images per class")
    if not root.is_dir():
        raise InputError(f"image folder {root} does not exist; point root at a folder with one sub-folder per class")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise InputError(f"image folder {root} has no class sub-folders; put each class's images in root/<class_name>/")
    if len(class_dirs) < 2:
        raise InputError(f"image folder {root} has only one class ({class_dirs[0].name!r}); at least two are needed")
    files: list[Path] = []
    labels: list[int] = []
    for k, class_dir in enumerate(class_dirs):
        # Recursive, as torchvision's ImageFolder: a class may keep its images in sub-folders.
        found = sorted(
            p
            for p in class_dir.rglob("*")
            if is_image_file(p) and not any(part.startswith(".") for part in p.relative_to(class_dir).parts)
        )
        if not found:
            raise InputError(
                f"class folder {class_dir} has no images; add {'/'.join(sorted(IMAGE_EXTENSIONS))} files or remove it"
            )
        files.extend(found)
        labels.extend([k] * len(found))
    images = _read_images(files, image_size=image_size, grayscale=grayscale, resize=resize, cache_dir=cache_dir)
    sources = tuple(p.relative_to(root).as_posix() for p in files)
    return _split_and_cap(
        "imagefolder",
        images,
        torch.tensor(labels, dtype=torch.int64),
        tuple(p.name for p in class_dirs),
        rng=rng,
        test_fraction=test_fraction,
        max_samples=None,
        labels_trusted=False,
        sources=sources,
    )


def _load_csv(
    *,
    root: Path | None,
    rng: np.random.Generator,
    csv_path: str | Path | None,
    image_root: str | Path | None,
    image_size: int | None,
    grayscale: bool | None,
    test_fraction: float,
    resize: str,
    cache_dir: Any,
) -> LabelledData:
    image_size, grayscale, test_fraction = _check_image_options(image_size, grayscale, test_fraction)
    resize = check_resize(resize)
    if csv_path is not None and root is not None:
        raise InputError(
            "give the CSV file either as root or as csv_path, not both; use image_root for the image folder"
        )
    if csv_path is None and root is None:
        raise InputError("csv needs csv_path= (or root=) pointing at a CSV file with columns filepath,label")
    table = Path(csv_path).expanduser() if csv_path is not None else root
    if not table.is_file():
        raise InputError(f"CSV file {table} does not exist; pass the path of a CSV with columns filepath,label")
    base = table.parent if image_root is None else Path(image_root).expanduser()
    if not base.is_dir():
        raise InputError(f"image root {base} does not exist; pass image_root= the folder the CSV's paths start from")

    paths, raw_labels = _read_csv_rows(table)
    files = [_inside(base, p, table) for p in paths]
    missing = [p for p, f in zip(paths, files) if not f.is_file()]
    if missing:
        shown = ", ".join(repr(p) for p in missing[:3])
        raise InputError(
            f"{len(missing)} image path(s) in {table} do not exist under {base}, e.g. {shown}; "
            f"fix the paths or image_root"
        )
    class_names, labels = _encode_labels(raw_labels, table)
    images = _read_images(files, image_size=image_size, grayscale=grayscale, resize=resize, cache_dir=cache_dir)
    return _split_and_cap(
        "csv",
        images,
        torch.from_numpy(labels),
        class_names,
        rng=rng,
        test_fraction=test_fraction,
        max_samples=None,
        labels_trusted=False,
        sources=tuple(paths),
    )


def _read_images(
    files: Sequence[Path], *, image_size: int | None, grayscale: bool | None, resize: str, cache_dir: Any
) -> torch.Tensor:
    """Decode and resize image files through the on-disk cache (:mod:`inn_core.data.cache`).

    Returns
    -------
    torch.Tensor of shape (n, C, S, S), uint8 (value / 255), memory-mapped from the cache;
    ``S`` is ``image_size`` or, for None, :func:`native_size`. C is 1 for grayscale
    (``grayscale=None``: when every file is mode L or 1), else 3.
    """
    size = native_size(files, resize=resize) if image_size is None else image_size
    return cached_file_images(files, size=size, grayscale=grayscale, resize=resize, cache_dir=cache_dir)


def native_size(files: Sequence[Path], *, resize: str = "stretch") -> int:
    """The size images are read at when ``image_size=None``: the files' own size - 28 px images
    stay 28 px, no upscaling - as the median over a sample of up to 32 files of their longer side
    (shorter with ``resize="crop"``), capped at :data:`NATIVE_MAX`."""
    step = max(1, len(files) // 32)
    sizes = [probe_size(f) for f in list(files)[::step][:32]]
    sides = sorted(min(w, h) if resize == "crop" else max(w, h) for w, h in sizes)
    return int(min(NATIVE_MAX, sides[len(sides) // 2]))


# --------------------------------------------------------------------------- toy 2-D


def _load_toy2d(
    *,
    root: Path | None,
    rng: np.random.Generator,
    kind: str,
    n_samples: int,
    num_classes: int | None,
    spread: float,
) -> LabelledData:
    if kind not in ("blobs", "moons"):
        raise InputError(f"toy2d kind must be 'blobs' or 'moons', got {kind!r}")
    if num_classes is None:
        num_classes = 2 if kind == "moons" else 3
    num_classes = check_int("num_classes", num_classes, low=2, high=10)
    if kind == "moons" and num_classes != 2:
        raise InputError(f"toy2d 'moons' always has 2 classes, got num_classes={num_classes}")
    n_samples = check_int("n_samples", n_samples, low=2 * num_classes, high=100_000)
    if isinstance(spread, bool) or not isinstance(spread, (int, float)) or not (0 < spread < math.inf):
        raise InputError(f"spread must be a positive finite number, got {spread!r}")

    # Balanced classes in random order.
    labels = rng.permutation(np.arange(n_samples) % num_classes)
    if kind == "blobs":
        # Centres evenly on a circle of radius 3: neighbouring classes are equally far apart,
        # so spread (the per-class standard deviation) alone sets how much they overlap.
        angles = 2 * np.pi * np.arange(num_classes) / num_classes
        centres = 3.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        points = centres[labels] + spread * rng.standard_normal((n_samples, 2))
    else:
        t = rng.uniform(0.0, np.pi, n_samples)
        upper = np.stack([np.cos(t), np.sin(t)], axis=1)
        lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
        points = np.where(labels[:, None] == 0, upper, lower) + 0.1 * spread * rng.standard_normal((n_samples, 2))
    points = (points - points.mean(axis=0)) / points.std(axis=0)
    return LabelledData(
        name="toy2d",
        images=torch.from_numpy(points.astype(np.float32)),
        true_labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=tuple(f"class {k}" for k in range(num_classes)),
    )


# --------------------------------------------------------------------------- shared helpers


def _split_and_cap(
    name: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names: tuple[str, ...],
    *,
    rng: np.random.Generator,
    test_fraction: float,
    max_samples: int | None,
    labels_trusted: bool = True,
    sources: tuple[str, ...] | None = None,
) -> LabelledData:
    """Stratified train/test split by ``test_fraction``, then a stratified cap of the train split."""
    test_fraction = _check_fraction(test_fraction)
    max_samples = _check_max_samples(max_samples)
    labels_np = labels.numpy()
    n = len(labels_np)
    test_idx = np.empty(0, dtype=np.int64)
    if test_fraction > 0:
        test_idx = _stratified_take(labels_np, math.ceil(test_fraction * n), rng)
        if len(test_idx) >= n:
            raise InputError(f"test_fraction={test_fraction} leaves no training samples out of {n}; use a smaller one")
    train_idx = np.setdiff1d(np.arange(n), test_idx)
    if max_samples is not None and max_samples < len(train_idx):
        train_idx = train_idx[_stratified_take(labels_np[train_idx], max_samples, rng)]
    has_test = len(test_idx) > 0
    # Everything kept in order: no copy, so a memory-mapped cache stays memory-mapped.
    everything = len(train_idx) == n
    return LabelledData(
        name=name,
        images=images if everything else images[train_idx],
        true_labels=labels if everything else labels[train_idx],
        class_names=class_names,
        test_images=images[test_idx] if has_test else None,
        test_labels=labels[test_idx] if has_test else None,
        labels_trusted=labels_trusted,
        sources=None if sources is None else tuple(sources[i] for i in train_idx.tolist()),
    )


def _stratified_take(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``count`` samples drawn so each class keeps its share of ``labels``.

    Quotas are the classes' exact shares rounded by largest remainder, so they
    sum to ``count``; within each class the samples are drawn at random.
    """
    n = len(labels)
    if count >= n:
        return np.arange(n)
    _, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    exact = sizes * count / n
    quotas = np.floor(exact).astype(np.int64)
    short = count - int(quotas.sum())
    quotas[np.argsort(-(exact - quotas), kind="stable")[:short]] += 1
    # A random key per sample, sorted within its class: the first quota of each class are taken.
    order = np.lexsort((rng.random(n), inverse))
    rank_in_class = np.empty(n, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rank_in_class[order] = np.arange(n) - np.repeat(starts, sizes)
    return np.flatnonzero(rank_in_class < quotas[inverse])


def _as_index(indices: Sequence[int] | np.ndarray | torch.Tensor, n: int) -> torch.Tensor:
    index = torch.as_tensor(np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices))
    if index.dtype == torch.bool:
        if index.shape != (n,):
            raise InputError(f"a boolean mask must have shape ({n},), got {tuple(index.shape)}")
        return torch.nonzero(index).flatten()
    if index.ndim != 1 or index.dtype.is_floating_point or index.dtype.is_complex:
        raise InputError(f"indices must be a 1-D sequence of integers, got shape {tuple(index.shape)} {index.dtype}")
    index = index.to(torch.int64)
    if len(index) and (int(index.min()) < 0 or int(index.max()) >= n):
        raise InputError(f"indices must lie in [0, {n}), got values from {int(index.min())} to {int(index.max())}")
    return index


def _check_samples(what: str, x: torch.Tensor) -> None:
    is_bytes = isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and x.ndim == 4
    if not isinstance(x, torch.Tensor) or (x.dtype != torch.float32 and not is_bytes):
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{what} must be a float32 torch.Tensor (or uint8 images), got {got}")
    if x.ndim == 4:
        if x.shape[1] not in (1, 3):
            raise InputError(f"{what} must have 1 or 3 channels in shape (n, C, H, W), got {tuple(x.shape)}")
        # uint8 is in range by construction; scanning a memory-mapped cache here would read it all.
        if not is_bytes and x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
            raise InputError(f"{what} must hold pixel values in [0, 1], got [{float(x.min())}, {float(x.max())}]")
    elif x.ndim == 2:
        if not bool(torch.isfinite(x).all()):
            raise InputError(f"{what} must hold finite feature values")
    else:
        raise InputError(f"{what} must have shape (n, C, H, W) or (n, d), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InputError(f"{what} must hold at least one sample")


def _check_labels(what: str, y: torch.Tensor | None, n: int, k: int) -> None:
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
        got = y.dtype if isinstance(y, torch.Tensor) else type(y).__name__
        raise InputError(f"{what} must be an int64 torch.Tensor, got {got}")
    if y.shape != (n,):
        raise InputError(f"{what} must have shape ({n},) to match the images, got {tuple(y.shape)}")
    if n and (int(y.min()) < 0 or int(y.max()) >= k):
        raise InputError(
            f"{what} must lie in [0, {k}) for {k} classes, got values from {int(y.min())} to {int(y.max())}"
        )


def _check_fraction(value: Any) -> float:
    return check_real("test_fraction", value, low=0, high=1, high_open=True)


def _check_max_samples(value: Any) -> int | None:
    return check_int("max_samples", value, low=1, allow_none=True)


def _check_image_options(image_size: Any, grayscale: Any, test_fraction: Any) -> tuple[int | None, bool | None, float]:
    """Checked before any file is decoded, so a typo does not cost a full read of the folder."""
    if grayscale is not None and not isinstance(grayscale, bool):
        raise InputError(f"grayscale must be True, False or None (decide from the files), got {grayscale!r}")
    size = None if image_size is None else check_int("image_size", image_size, low=1, high=MAX_IMAGE_SIZE)
    return size, grayscale, _check_fraction(test_fraction)


@dataclass(frozen=True)
class _DatasetSpec:
    loader: Callable[..., LabelledData]
    defaults: dict[str, Any]
    uses_root: bool


# image_size None: the files' own size when small (see native_size); resize "crop" keeps the
# aspect ratio; cache_dir None: the default image cache (False: none).
_IMAGE_DEFAULTS: dict[str, Any] = {
    "image_size": None,
    "grayscale": None,
    "test_fraction": 0.0,
    "resize": "stretch",
    "cache_dir": None,
}

_SPECS: dict[str, _DatasetSpec] = {
    "digits": _DatasetSpec(_load_digits, {"test_fraction": 0.2, "max_samples": None}, uses_root=False),
    "cifar10": _DatasetSpec(_load_cifar10, {"download": False, "max_samples": None}, uses_root=True),
    "cifar100": _DatasetSpec(_load_cifar100, {"download": False, "max_samples": None}, uses_root=True),
    "imagefolder": _DatasetSpec(_load_imagefolder, dict(_IMAGE_DEFAULTS), uses_root=True),
    "csv": _DatasetSpec(_load_csv, {"csv_path": None, "image_root": None, **_IMAGE_DEFAULTS}, uses_root=True),
    "hf": _DatasetSpec(load_hf_folder, dict(HF_DEFAULTS), uses_root=True),
    "toy2d": _DatasetSpec(
        _load_toy2d, {"kind": "blobs", "n_samples": 300, "num_classes": None, "spread": 1.0}, uses_root=False
    ),
}


def _spec(name: str) -> _DatasetSpec:
    if name not in _SPECS:
        raise InputError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}")
    return _SPECS[name]
