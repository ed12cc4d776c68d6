"""Decoding one image: file or in-memory object -> fixed-size uint8 pixels.

Shared by the folder / CSV cache, Hugging Face folders and torch ``Dataset`` objects, so every
route resizes the same way. Two resize modes:

- ``"stretch"``: plain resize to ``size x size`` (the aspect ratio changes; the old default);
- ``"crop"``: resize the shorter side to ``size`` keeping the aspect ratio, then crop the centre
  ``size x size`` - torchvision's ``Resize(size)`` + ``CenterCrop(size)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from inn_core.errors import InputError

__all__ = [
    "IMAGE_EXTENSIONS",
    "RESIZE_MODES",
    "MAX_IMAGE_SIZE",
    "is_image_file",
    "fit_image",
    "to_pil",
    "decode_file",
    "check_resize",
    "probe_size",
]

#: File extensions read as images (compared case-insensitively).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
RESIZE_MODES = ("stretch", "crop")
# Beyond this a folder of photos no longer fits comfortably even as uint8.
MAX_IMAGE_SIZE = 1024
_READ_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError)


def is_image_file(path: Path) -> bool:
    """A visible file with one of :data:`IMAGE_EXTENSIONS`."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def check_resize(resize: Any) -> str:
    if resize not in RESIZE_MODES:
        raise InputError(f"resize must be one of {', '.join(map(repr, RESIZE_MODES))}, got {resize!r}")
    return resize


def fit_image(img: Image.Image, size: int, *, grayscale: bool, resize: str = "stretch") -> tuple[np.ndarray, bool]:
    """Convert and resize one image.

    Returns
    -------
    pixels : (size, size) uint8 when ``grayscale`` else (size, size, 3) uint8
    was_gray : whether the source was a one-channel image (mode L or 1)
    """
    was_gray = img.mode in ("L", "1")
    if grayscale:
        img = img.convert("L")
    else:
        if img.mode == "P":
            # Palette transparency only converts cleanly through RGBA.
            img = img.convert("RGBA")
        # A gray image converted to RGB repeats its value in every channel, so the gray image
        # can be taken back from channel 0 once all files are read.
        img = img.convert("RGB")
    if resize == "crop":
        w, h = img.size
        scale = size / min(w, h)
        new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        img = img.crop((left, top, left + size, top + size))
    else:
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8), was_gray


def decode_file(path: Path, size: int, *, grayscale: bool, resize: str = "stretch") -> tuple[np.ndarray, bool]:
    """:func:`fit_image` of an image file; an unreadable file is one :class:`InputError`."""
    try:
        with Image.open(path) as img:
            return fit_image(img, size, grayscale=grayscale, resize=resize)
    except _READ_ERRORS as exc:
        raise InputError(f"cannot read image {path} ({exc}); remove or replace the file") from exc


def probe_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding its pixels."""
    try:
        with Image.open(path) as img:
            return img.size
    except _READ_ERRORS as exc:
        raise InputError(f"cannot read image {path} ({exc}); remove or replace the file") from exc


def to_pil(item: Any, what: str) -> Image.Image:
    """A PIL image from what datasets hand out: PIL, (H, W) / (H, W, C) arrays, (C, H, W) tensors,
    or a Hugging Face ``{"bytes", "path"}`` dict."""
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, dict) and ("bytes" in item or "path" in item):
        import io

        try:
            source = io.BytesIO(item["bytes"]) if item.get("bytes") else item["path"]
            img = Image.open(source)
            img.load()
            return img
        except (*_READ_ERRORS, TypeError) as exc:
            raise InputError(f"cannot decode {what} ({exc})") from exc
    try:
        import torch

        if isinstance(item, torch.Tensor):
            arr = item.detach().cpu().numpy()
            if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
                arr = arr.transpose(1, 2, 0)
            item = arr
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if isinstance(item, list):  # Arrow hands nested lists back for array columns
        item = np.asarray(item)
    if isinstance(item, np.ndarray):
        arr = item
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if np.issubdtype(arr.dtype, np.floating):
            if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1):
                raise InputError(f"{what} holds float pixels outside [0, 1]; give uint8 or floats in [0, 1]")
            arr = np.round(arr * 255.0)
        elif arr.dtype != np.uint8 and arr.size and (arr.min() < 0 or arr.max() > 255):
            raise InputError(f"{what} holds integer pixels outside 0..255; give uint8 values")
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
            raise InputError(f"{what} must be an (H, W) or (H, W, 3) image, got shape {item.shape}")
        return Image.fromarray(np.ascontiguousarray(arr.astype(np.uint8)))
    raise InputError(f"{what} must be a PIL image, an array or a tensor, got {type(item).__name__}")
