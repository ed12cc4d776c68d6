"""Users' own embeddings and label files: read ``.npy`` / ``.npz`` / ``.parquet`` features and
``.npy`` / ``.csv`` / ``.txt`` labels, and check them with one clear message per problem.

Embeddings are kept as float32 (a million 512-d rows is 2 GiB); an ``.npy`` file already in
float32 is read without a second conversion copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inn_core.errors import InputError

__all__ = ["FEATURE_SUFFIXES", "LABEL_SUFFIXES", "read_features", "read_labels", "check_embeddings"]

FEATURE_SUFFIXES = (".npy", ".npz", ".parquet")
LABEL_SUFFIXES = (".npy", ".csv", ".txt")
#: Array names looked for in an ``.npz`` holding more than one array.
_NPZ_KEYS = ("features", "embeddings", "X", "x")
_LABEL_COLUMNS = ("label", "labels", "y", "target")


def check_embeddings(features, labels=None) -> tuple[torch.Tensor, np.ndarray | None]:
    """Validate embeddings (and labels): ``((n, d) float32 tensor, (n,) int64 or None)``.

    Raises :class:`InputError` with one line for: not 2-D, non-numeric, NaN or infinity (naming
    the first bad row), fewer than two rows, labels of another length, labels not integers >= 0.
    """
    if isinstance(features, torch.Tensor):
        array = features.detach().cpu()
        if array.is_complex() or array.dtype == torch.bool:
            raise InputError(f"features must hold real numbers, got dtype {array.dtype}")
        tensor = array.to(torch.float32)
    else:
        array = np.asarray(features)
        if array.dtype.kind not in "iuf":
            raise InputError(f"features must hold real numbers, got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if tensor.ndim != 2:
        raise InputError(f"features must be a 2-D (n, d) array of embeddings, got shape {tuple(tensor.shape)}")
    n, d = tensor.shape
    if n < 2 or d < 1:
        raise InputError(f"features need at least 2 rows and 1 column, got shape {(n, d)}")
    finite = torch.isfinite(tensor).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()
        raise InputError(
            f"features contain NaN or infinite values in {bad.numel()} of {n} rows (first: row {int(bad[0])})"
        )
    if labels is None:
        return tensor, None
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise InputError(
            f"features and labels must have the same number of rows, "
            f"but features has {n} and labels has shape {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise InputError("labels must be non-negative integers 0..K-1")
    return tensor, y.astype(np.int64)


def _existing(path: str | Path, suffixes: tuple[str, ...], what: str) -> Path:
    path = Path(path).expanduser()
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{what} file {str(path)!r} must end in {', '.join(suffixes)}")
    if not path.is_file():
        raise InputError(f"no {what} file at {str(path)!r}")
    return path


def read_features(path: str | Path) -> np.ndarray:
    """The embeddings in ``path``: ``(n, d)`` float32, checked finite.

    ``.npy``: one 2-D array. ``.npz``: its only array, or the one named ``features`` /
    ``embeddings`` / ``X``. ``.parquet``: one list (or fixed-size list) column of vectors, or
    else every numeric column except a label column (``label``, ``labels``, ``y``, ``target``).
    """
    path = _existing(path, FEATURE_SUFFIXES, "features")
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                key = keys[0] if len(keys) == 1 else next((k for k in _NPZ_KEYS if k in keys), None)
                if key is None:
                    raise InputError(
                        f"{path.name} holds arrays {keys}; name the embeddings one of {', '.join(_NPZ_KEYS)}"
                    )
                array = archive[key]
        else:
            array = _parquet_matrix(path)
    except InputError:
        raise
    except Exception as exc:  # numpy and pyarrow raise many kinds for a damaged file
        raise InputError(f"cannot read features file {path.name}: {type(exc).__name__}: {exc}") from None
    tensor, _ = check_embeddings(array)
    return tensor.numpy()


def _parquet_matrix(path: Path) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    vectors = [
        f.name
        for f in table.schema
        if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type) or pa.types.is_large_list(f.type)
    ]
    if len(vectors) == 1:
        column = table.column(vectors[0]).combine_chunks()
        lengths = np.asarray(column.value_lengths()) if hasattr(column, "value_lengths") else None
        if lengths is not None and lengths.size and (lengths != lengths[0]).any():
            raise InputError(f"the vectors in column {vectors[0]!r} of {path.name} differ in length")
        flat = np.asarray(column.flatten(), dtype=np.float32)
        return flat.reshape(len(table), -1)
    numeric = [
        f.name
        for f in table.schema
        if (pa.types.is_floating(f.type) or pa.types.is_integer(f.type)) and f.name not in _LABEL_COLUMNS
    ]
    if not numeric:
        raise InputError(f"{path.name} has no vector column and no numeric columns to use as embeddings")
    return np.column_stack([table.column(name).to_numpy().astype(np.float32) for name in numeric])


def read_labels(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """The labels in ``path`` and their class names: ``((n,) int64 in [0, K), K names)``.

    ``.npy``: a 1-D array. ``.csv``: the column named ``label`` (or ``labels``, ``y``, ``target``),
    or the only column, with or without a header. ``.txt``: one label per line. Integer labels keep
    their values (names ``"0"``, ``"1"``, ...); any other labels are class names, numbered in
    sorted order.
    """
    path = _existing(path, LABEL_SUFFIXES, "labels")
    try:
        if path.suffix.lower() == ".npy":
            values = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".txt":
            values = np.array([line.strip() for line in path.read_text().splitlines() if line.strip()])
        else:
            values = _csv_labels(path)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read labels file {path.name}: {type(exc).__name__}: {exc}") from None
    values = np.asarray(values)
    if values.ndim != 1:
        raise InputError(f"labels file {path.name} must hold one label per sample (1-D), got shape {values.shape}")
    if values.size == 0:
        raise InputError(f"labels file {path.name} holds no labels")
    return _encode(values, path.name)


def _csv_labels(path: Path) -> np.ndarray:
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    named = [c for c in table.columns if str(c).strip().lower() in _LABEL_COLUMNS]
    if named:
        return table[named[0]].str.strip().to_numpy()
    if table.shape[1] != 1:
        raise InputError(f"{path.name} has columns {list(table.columns)}; name the label column 'label'")
    # One column and no recognised header: its first line is a label too.
    return pd.read_csv(path, dtype=str, header=None, keep_default_na=False)[0].str.strip().to_numpy()


def _encode(values: np.ndarray, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    if values.dtype.kind in "iu":
        labels = values.astype(np.int64)
    elif values.dtype.kind == "f":
        if not np.isfinite(values).all() or (values != np.round(values)).any():
            raise InputError(
                f"labels in {name} must be whole numbers or class names, "
                f"found {values[~(values == np.round(values))][:1]}"
            )
        labels = values.astype(np.int64)
    else:
        text = values.astype(str)
        try:
            labels = np.array([int(v) for v in text], dtype=np.int64)
        except ValueError:
            names, labels = np.unique(text, return_inverse=True)
            return labels.astype(np.int64), tuple(str(c) for c in names)
    if labels.min() < 0:
        raise InputError(f"integer labels in {name} must be >= 0, found {int(labels.min())}")
    return labels, tuple(str(k) for k in range(int(labels.max()) + 1))
