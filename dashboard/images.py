"""Image display helpers of the dashboard: pixel-repeat enlarging and side-by-side path strips (no Streamlit here)."""

from __future__ import annotations

import numpy as np

from inn_core.errors import InputError

__all__ = ["enlarge", "path_strip"]


def enlarge(images: np.ndarray, factor: int) -> np.ndarray:
    """Scale images up by repeating pixels, so tiny images (8x8 digits) stay sharp on screen.

    Parameters
    ----------
    images : (..., h, w) or (..., h, w, 3) uint8; a trailing axis of 3 is taken as colour.
    factor : integer >= 1.

    Returns
    -------
    (..., h*factor, w*factor[, 3]) uint8
    """
    if factor < 1:
        raise InputError(f"factor must be a positive integer, got {factor}")
    colour = images.ndim >= 3 and images.shape[-1] == 3
    rows, cols = (-3, -2) if colour else (-2, -1)
    return np.repeat(np.repeat(images, factor, axis=rows), factor, axis=cols)


def path_strip(frames: np.ndarray, *, gap: int = 1) -> np.ndarray:
    """The frames of one path side by side, separated by ``gap`` white columns.

    Parameters
    ----------
    frames : (k, h, w) or (k, h, w, 3) uint8.

    Returns
    -------
    (h, k*w + (k-1)*gap) or (h, k*w + (k-1)*gap, 3) uint8
    """
    k, h, w = frames.shape[:3]
    white = np.full((k, h, gap, *frames.shape[3:]), 255, dtype=np.uint8)
    padded = np.concatenate([frames, white], axis=2)  # (k, h, w + gap, ...)
    side_by_side = np.moveaxis(padded, 0, 1).reshape(h, k * (w + gap), *frames.shape[3:])
    return side_by_side[:, : k * (w + gap) - gap]
