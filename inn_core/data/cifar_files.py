"""CIFAR-10/100 on disk: the python-pickle batch layout, read safely (arrays and text only, no code).

Used by :func:`inn_core.data.datasets.load_dataset`; nothing here knows of noise or runs.
"""

from __future__ import annotations

import codecs
import importlib
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inn_core.errors import InputError


@dataclass(frozen=True)
class _CifarLayout:
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str
    torchvision_class: str


_CIFAR10 = _CifarLayout(
    title="CIFAR-10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_file="test_batch",
    meta_file="batches.meta",
    label_key="labels",
    names_key="label_names",
    torchvision_class="CIFAR10",
)
_CIFAR100 = _CifarLayout(
    title="CIFAR-100",
    folder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    meta_file="meta",
    label_key="fine_labels",
    names_key="fine_label_names",
    torchvision_class="CIFAR100",
)


def _read_cifar_batches(folder: Path, files: Sequence[str], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate CIFAR batch files into ``(N, 3072)`` uint8 rows and ``(N,)`` int64 labels."""
    pixels, labels = [], []
    for file in files:
        path = folder / file
        batch = _read_cifar_pickle(path)
        data = np.asarray(_field(batch, "data", path))
        try:
            batch_labels = np.asarray(_field(batch, label_key, path), dtype=np.int64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path} must hold integer {label_key!r}, got {exc}") from exc
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise InputError(f"{path} must hold uint8 data of shape (N, 3072), got {data.dtype} {data.shape}")
        if batch_labels.shape != (data.shape[0],):
            raise InputError(f"{path} has {data.shape[0]} images but {batch_labels.size} labels")
        pixels.append(data)
        labels.append(batch_labels)
    return np.concatenate(pixels), np.concatenate(labels)


def _cifar_to_images(rows: np.ndarray) -> torch.Tensor:
    # Each row is the red plane, then green, then blue, each 32x32 row-major: exactly (3, 32, 32).
    # Kept as uint8 (150 MB for CIFAR-10 rather than 600 MB); consumers convert per batch.
    return torch.from_numpy(np.ascontiguousarray(rows.reshape(-1, 3, 32, 32)))


def _numpy_module(*names: str) -> Any:
    for module in names:
        try:
            return importlib.import_module(module)
        except ImportError:
            continue
    raise ImportError(f"none of {list(names)} can be imported")


# numpy 2 moved numpy.core to numpy._core; pickles name whichever numpy wrote them.
_MULTIARRAY = _numpy_module("numpy._core.multiarray", "numpy.core.multiarray")
_NUMERIC = _numpy_module("numpy._core.numeric", "numpy.core.numeric")
_PICKLE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
    **{(m, "_reconstruct"): _MULTIARRAY._reconstruct for m in ("numpy._core.multiarray", "numpy.core.multiarray")},
    **{(m, "scalar"): _MULTIARRAY.scalar for m in ("numpy._core.multiarray", "numpy.core.multiarray")},
    **{(m, "_frombuffer"): _NUMERIC._frombuffer for m in ("numpy._core.numeric", "numpy.core.numeric")},
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays.

    CIFAR files are pickles, and a pickle can run arbitrary code when loaded;
    the folder comes from the user, so only the globals a numpy array needs
    are let through.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return _PICKLE_GLOBALS[module, name]


def _read_cifar_pickle(path: Path) -> dict[str, Any]:
    """Read one CIFAR pickle; keys come back as ``str`` whether stored as bytes or text."""
    try:
        with path.open("rb") as f:
            # latin1, as torchvision does: the original files are Python 2 pickles of numpy arrays.
            content = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise InputError(f"{path} is not a readable CIFAR python-pickle file ({exc})") from exc
    if not isinstance(content, dict):
        raise InputError(f"{path} must hold a dict, got {type(content).__name__}")
    return {_as_text(k): v for k, v in content.items()}


def _field(content: dict[str, Any], key: str, path: Path) -> Any:
    if key not in content:
        raise InputError(f"{path} has no {key!r} entry; found {sorted(content)}")
    return content[key]


def _as_text(value: Any) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)
