"""One validation module for the engine: integers, reals, booleans, label arrays, random states and settings.

After cleanlab's ``internal/validation.py`` and scikit-learn's ``check_random_state``: each check
returns the value in its canonical type or raises :class:`~inn_core.errors.InputError` with one line
that names the argument, what it must be and what it got. ``bool`` is never accepted as a number.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from inn_core._types import LabelLike, SeedLike
from inn_core.errors import InputError

__all__ = [
    "is_int",
    "is_real",
    "check_int",
    "check_real",
    "check_bool",
    "check_settings",
    "as_labels",
    "as_generator",
]


def is_int(value: Any) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A real number (int, float, NumPy scalar), not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"in [{low}, {high}]"
    if low is not None:
        return f">= {low}"
    return f"<= {high}"


def check_int(
    name: str, value: Any, *, low: int | None = None, high: int | None = None, allow_none: bool = False
) -> int | None:
    """``value`` as an ``int`` in ``[low, high]`` (either bound optional).

    Examples
    --------
    >>> check_int("epochs", 3, low=1)
    3
    >>> check_int("image_size", 0, low=1, high=1024)
    Traceback (most recent call last):
    ...
    inn_core.errors.InputError: image_size must be an integer in [1, 1024], got 0
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        if low is None and high is None:
            what = "an integer"
        elif low == 1 and high is None:
            what = "a positive integer"
        elif low == 0 and high is None:
            what = "a non-negative integer"
        else:
            what = f"an integer {_range_text(low, high)}"
        raise InputError(f"{name} must be {what}{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` between ``low`` and ``high`` (closed unless ``*_open``)."""
    ok = is_real(value) and np.isfinite(float(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        bounds = ""
        if low is not None or high is not None:
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            bounds = f" in {left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise InputError(f"{name} must be a number{bounds}, got {value!r}")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return value


def check_settings(what: str, settings: dict[str, Any], config_class: type) -> None:
    """Every key of ``settings`` is a field of the dataclass ``config_class``; else one line naming the first
    unknown key and the known ones (``what`` names the settings, e.g. "experiment")."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InputError(f"unknown {what} setting {unknown[0]!r}; known: {', '.join(sorted(known))}")


def as_labels(labels: LabelLike, name: str = "labels", *, n: int | None = None) -> np.ndarray:
    """Class ids as a 1-D ``int64`` array: from a list, a NumPy array or a torch tensor (any device).

    Floats are accepted when they are whole numbers; negative ids, other dtypes and other shapes are
    an :class:`InputError`. ``n`` also checks the length (against the inputs the labels go with).
    """
    if hasattr(labels, "detach"):  # a torch tensor, possibly on the GPU
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of class ids, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InputError(f"inputs and {name} must be the same length, got {n} inputs and {name} of shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{name} must be integer class ids, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
        raise InputError(f"{name} must be integer class ids, got non-integer values")
    if arr.min() < 0:
        raise InputError(f"{name} must be non-negative class ids, got {arr.min()}")
    return arr.astype(np.int64)


def as_generator(random_state: SeedLike) -> np.random.Generator:
    """A NumPy Generator from ``None`` (fresh entropy), a non-negative int seed, or a Generator (used as is).

    Like scikit-learn's ``check_random_state``, but for ``numpy.random.Generator``; a negative seed is
    an :class:`InputError` here, not NumPy's ``ValueError``.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (is_int(random_state) and random_state >= 0):
        return np.random.default_rng(random_state)
    raise InputError(f"random_state must be a non-negative int, a numpy Generator or None, got {random_state!r}")
