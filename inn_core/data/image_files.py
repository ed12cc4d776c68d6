"""Users' image files: the CSV of ``filepath,label`` rows, paths kept inside their folder, and image decoding.

Used by :func:`inn_core.data.datasets.load_dataset` for ``imagefolder`` and ``csv``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from inn_core.errors import InputError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})


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


def _is_image_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _read_images(files: Sequence[Path], *, image_size: int, grayscale: bool | None) -> torch.Tensor:
    """Decode and resize image files.

    Returns
    -------
    torch.Tensor of shape (n, C, image_size, image_size), float32 in [0, 1];
    C is 1 for grayscale (``grayscale=None``: when every file is mode L or 1), else 3.
    """
    arrays = []
    all_gray = True
    for path in files:
        try:
            with Image.open(path) as img:
                all_gray &= img.mode in ("L", "1")
                if grayscale:
                    img = img.convert("L")
                else:
                    if img.mode == "P":
                        # Palette transparency only converts cleanly through RGBA.
                        img = img.convert("RGBA")
                    # A gray image converted to RGB repeats its value in every channel, so
                    # the gray image can be taken back from channel 0 once all files are read.
                    img = img.convert("RGB")
                img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
                arrays.append(np.asarray(img, dtype=np.uint8))
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
            raise InputError(f"cannot read image {path} ({exc}); remove or replace the file") from exc
    stacked = np.stack(arrays)
    if grayscale:
        stacked = stacked[:, None]
    elif grayscale is None and all_gray:
        stacked = stacked[:, None, :, :, 0]
    else:
        stacked = stacked.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(stacked)).to(torch.float32).div_(255.0)
