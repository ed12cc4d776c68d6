"""Type aliases shared by the engine's signatures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["DeviceLike", "LabelLike", "SeedLike", "ProgressCallback"]

#: Where to compute: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device``.
DeviceLike = Union[str, "torch.device"]
#: Class ids, ``(n,)``: a sequence of ints, a NumPy array or a torch tensor.
LabelLike = Union[Sequence[int], np.ndarray, "torch.Tensor"]
#: A random state: ``None`` (fresh entropy), a non-negative int seed or a ``numpy.random.Generator``.
SeedLike = Union[int, np.integer, np.random.Generator, None]  # noqa: UP007 - a runtime alias, like LabelLike
#: Called with a run's :class:`~inn_core.runs.lifecycle.Progress` after every step.
ProgressCallback = Callable[[Any], None]
