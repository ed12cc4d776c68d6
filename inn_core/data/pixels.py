"""How images are held in memory and turned into model inputs.

Images live as ``uint8`` (values 0..255, meaning ``value / 255``) or as ``float32`` in ``[0, 1]``.
``uint8`` takes a quarter of the memory (CIFAR-10's 50,000 training images: 150 MB instead of
600 MB) and is what the image loaders produce; ``float32`` stays for data whose values are not
multiples of 1/255 - scikit-learn's digits (counts 0..16, so ``v / 16``) keep their exact values
that way, and interpolated or user-made tensors may hold any value in ``[0, 1]``.

Every consumer (training, feature extraction, scoring, evidence) converts one batch at a time
with :func:`as_model_input`; the whole training set is never expanded to float32.
"""

from __future__ import annotations

import torch

__all__ = ["PIXEL_DTYPES", "as_model_input"]

#: The dtypes an image tensor may have.
PIXEL_DTYPES = (torch.uint8, torch.float32)


def as_model_input(x: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """A batch as float32 model input on ``device`` (default: where it is).

    Parameters
    ----------
    x : (b, ...) uint8 (0..255, read as ``value / 255``) or any float dtype.

    Returns
    -------
    (b, ...) float32; for uint8 input, in [0, 1] and equal to ``x.float() / 255`` bit for bit.
    """
    device = x.device if device is None else device
    if x.dtype == torch.uint8:
        # Move the bytes first (4x less to copy), then convert on the device.
        return x.to(device, non_blocking=True).to(torch.float32).div_(255.0)
    return x.to(device, torch.float32, non_blocking=True)
