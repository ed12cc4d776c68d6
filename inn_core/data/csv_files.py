"""Users' CSV of ``filepath,label`` rows: reading it, keeping paths inside its folder, encoding the labels.

Used by :func:`inn_core.data.datasets.load_dataset` for ``imagefolder`` and ``csv``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inn_core.errors import InputError


def _read_csv_rows(table: Path) -> tuple[list[str], list[str]]:
    """The ``filepath`` and ``label`` cells of a CSV, whitespace stripped."""
    try:
        # utf-8-sig: spreadsheets often write a byte-order mark before the header.
        with table.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{table} is not a readable UTF-8 CSV file ({exc})") from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(f"CSV file {table} is empty; it needs a header filepath,label and one row per image")
    header = [cell.strip().lower() for cell in rows[0]]
    for column in ("filepath", "label"):
        if column not in header:
            raise InputError(f"CSV file {table} has no {column!r} column; found columns {rows[0]}")
    if len(rows) == 1:
        raise InputError(f"CSV file {table} has a header but no rows; add one row per image")
    path_col, label_col = header.index("filepath"), header.index("label")
    paths, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        cells = [row[c].strip() if c < len(row) else "" for c in (path_col, label_col)]
        if not all(cells):
            raise InputError(f"row {line} of {table} has an empty filepath or label; every row needs both")
        paths.append(cells[0])
        labels.append(cells[1])
    return paths, labels


def _inside(base: Path, relative: str, table: Path) -> Path:
    """``base / relative``, refusing paths that lead out of ``base``.

    The check is on the written path (not on resolved symlinks), so a dataset
    folder may itself be a link while ``..`` and outside absolute paths are refused.
    """
    joined = os.path.normpath(os.path.join(os.path.abspath(base), relative))
    if os.path.commonpath([joined, os.path.abspath(base)]) != os.path.abspath(base):
        raise InputError(f"path {relative!r} in {table} leads outside the image root {base}; use paths inside it")
    return Path(joined)


def _encode_labels(raw: Sequence[str], table: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names and ``(n,)`` int64 labels: integers sorted by value, other names alphabetically."""
    try:
        values = [int(v) for v in raw]
    except ValueError:
        names, codes = np.unique(np.asarray(raw, dtype=object).astype(str), return_inverse=True)
        class_names = tuple(str(n) for n in names)
    else:
        ints, codes = np.unique(np.asarray(values, dtype=np.int64), return_inverse=True)
        class_names = tuple(str(v) for v in ints)
    if len(class_names) < 2:
        raise InputError(f"CSV file {table} has only one class ({class_names[0]!r}); at least two are needed")
    return class_names, codes.astype(np.int64).reshape(-1)
