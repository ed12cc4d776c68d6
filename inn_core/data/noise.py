"""Synthetic label noise: corrupt clean labels the way the INN paper does.

The paper (Section 4) evaluates on CIFAR10/100 with *symmetric* noise (with
probability ``r`` a label is replaced by one drawn uniformly from all ``K``
classes), *asymmetric* noise (class-dependent flips: truck->automobile,
bird->airplane, deer->horse, cat<->dog for CIFAR10; ``k -> k+1`` for
CIFAR100) and an *imbalanced* binary task (all of a majority class, 10% of a
minority class, relabelled 0/1, each label flipped with probability 0.3).
A general row-stochastic transition matrix covers everything else.

:func:`inject_noise` takes clean labels and a :class:`NoiseSpec` and returns a
:class:`NoiseResult` holding the observed labels and the ground-truth
noisy/clean mask. Randomness enters only through ``random_state``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from inn_core._validation import as_generator, as_labels, is_int, is_real
from inn_core.errors import InputError

__all__ = [
    "read_transition_matrix",
    "NAMED_MAPPINGS",
    "NOISE_KINDS",
    "SYMMETRIC_MODES",
    "NoiseResult",
    "NoiseSpec",
    "expected_noise_rate",
    "imbalanced_pair",
    "inject_noise",
    "transition_matrix",
]

NOISE_KINDS = ("none", "symmetric", "asymmetric", "imbalanced", "matrix")
SYMMETRIC_MODES = ("paper", "exact", "flip")

NAMED_MAPPINGS: dict[str, dict[int, int]] = {
    # truck->automobile, bird->airplane, deer->horse, cat<->dog
    "cifar10": {9: 1, 2: 0, 4: 7, 3: 5, 5: 3},
    "cifar100": {k: (k + 1) % 100 for k in range(100)},
    # digits that look alike when handwritten: 7->1, 2->7, 5<->6, 3->8
    "digits": {7: 1, 2: 7, 5: 6, 6: 5, 3: 8},
}

_ROW_SUM_ATOL = 1e-6


def _normalise_mapping(mapping: Any) -> str | tuple[tuple[int, int], ...]:
    if isinstance(mapping, str):
        if mapping not in NAMED_MAPPINGS:
            raise InputError(
                f"unknown mapping name {mapping!r}; use one of {sorted(NAMED_MAPPINGS)} or (source, target) pairs"
            )
        return mapping
    pairs = mapping.items() if isinstance(mapping, Mapping) else mapping
    try:
        pairs = [tuple(pair) for pair in pairs]
    except TypeError as exc:
        raise InputError(f"mapping must be a name or a sequence of (source, target) pairs, got {mapping!r}") from exc
    if not pairs:
        raise InputError("mapping must contain at least one (source, target) pair")
    seen: set[int] = set()
    normalised = []
    for pair in pairs:
        if len(pair) != 2 or not all(is_int(c) for c in pair):
            raise InputError(f"every mapping pair must be two integer classes (source, target), got {pair!r}")
        source, target = int(pair[0]), int(pair[1])
        if source < 0 or target < 0:
            raise InputError(f"mapping classes must be non-negative, got pair ({source}, {target})")
        if source == target:
            raise InputError(
                f"mapping pair ({source}, {target}) maps a class to itself; drop it or pick another target"
            )
        if source in seen:
            raise InputError(f"mapping names source class {source} more than once; give each source one target")
        seen.add(source)
        normalised.append((source, target))
    # Sorted so that equal mappings given in different orders compare and hash equal.
    return tuple(sorted(normalised))


def _normalise_matrix(matrix: Any) -> tuple[tuple[float, ...], ...]:
    try:
        arr = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"matrix must be a square table of numbers, got {matrix!r}") from exc
    if arr.ndim != 2:
        raise InputError(f"matrix must be 2-D (K, K), got {arr.ndim}-D with shape {arr.shape}")
    if arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise InputError(f"matrix must be square and non-empty (K, K), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError("matrix entries must be finite numbers")
    if np.any(arr < 0):
        row, col = np.argwhere(arr < 0)[0]
        raise InputError(f"matrix entries must be non-negative, got {arr[row, col]:g} at [{row}, {col}]")
    sums = arr.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_ATOL)
    if bad.size:
        raise InputError(
            f"every matrix row must sum to 1 (row-stochastic T[true, observed]), row {bad[0]} sums to {sums[bad[0]]:g}"
        )
    return tuple(tuple(float(v) for v in row) for row in arr)


def _percent(rate: float) -> str:
    return f"{100 * rate:.4g}%"


@dataclass(frozen=True)
class NoiseSpec:
    """What noise to inject; validated on construction, hashable, JSON-friendly.

    Parameters
    ----------
    kind : one of :data:`NOISE_KINDS`
        ``"none"``, ``"symmetric"``, ``"asymmetric"``, ``"imbalanced"`` or ``"matrix"``.
    rate : float in [0, 1]
        Corruption probability ``r`` (ignored by ``"none"`` and ``"matrix"``).
    symmetric_mode : one of :data:`SYMMETRIC_MODES`
        ``"paper"``: with probability ``r`` the label is replaced by one drawn
        uniformly from all ``K`` classes (it may stay correct, so about
        ``r (K-1)/K`` end up wrong). ``"exact"``: DivideMix's convention,
        exactly ``floor(r n)`` samples are chosen and each gets a uniform label
        from all ``K``. ``"flip"``: with probability ``r`` the label is replaced
        by a uniformly drawn *different* class (always wrong).
    mapping : str or tuple of (int, int) pairs, optional
        Asymmetric noise: a key of :data:`NAMED_MAPPINGS` or explicit
        ``(source, target)`` pairs (a dict or list is accepted and stored as
        sorted tuples). Required for ``"asymmetric"``.
    classes : (int, int), optional
        Imbalanced noise: ``(majority, minority)`` in the original labels;
        ``None`` means ``(0, 1)`` for ``"imbalanced"``.
    minority_fraction : float in (0, 1]
        Imbalanced noise: fraction of the minority class kept.
    matrix : (K, K) nested tuples of float, optional
        Matrix noise: row-stochastic ``T[true, observed]``. Required for ``"matrix"``.
    """

    kind: str = "symmetric"
    rate: float = 0.4
    symmetric_mode: str = "paper"
    mapping: str | tuple[tuple[int, int], ...] | None = None
    classes: tuple[int, int] | None = None
    minority_fraction: float = 0.1
    matrix: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise InputError(f"unknown noise kind {self.kind!r}; use one of {list(NOISE_KINDS)}")
        if not is_real(self.rate) or not 0.0 <= float(self.rate) <= 1.0:
            raise InputError(f"rate must be in [0, 1], got {self.rate!r}")
        object.__setattr__(self, "rate", float(self.rate))
        if self.symmetric_mode not in SYMMETRIC_MODES:
            raise InputError(f"unknown symmetric_mode {self.symmetric_mode!r}; use one of {list(SYMMETRIC_MODES)}")
        if not is_real(self.minority_fraction) or not 0.0 < float(self.minority_fraction) <= 1.0:
            raise InputError(f"minority_fraction must be in (0, 1], got {self.minority_fraction!r}")
        object.__setattr__(self, "minority_fraction", float(self.minority_fraction))

        if self.mapping is not None:
            object.__setattr__(self, "mapping", _normalise_mapping(self.mapping))
        elif self.kind == "asymmetric":
            raise InputError(
                f"asymmetric noise needs a mapping: one of {sorted(NAMED_MAPPINGS)} or (source, target) pairs"
            )

        if self.classes is None and self.kind == "imbalanced":
            object.__setattr__(self, "classes", (0, 1))
        if self.classes is not None:
            object.__setattr__(self, "classes", _normalise_classes(self.classes))

        if self.matrix is not None:
            object.__setattr__(self, "matrix", _normalise_matrix(self.matrix))
        elif self.kind == "matrix":
            raise InputError("matrix noise needs a row-stochastic matrix T[true, observed] of shape (K, K)")

    @classmethod
    def imbalanced(
        cls, classes: tuple[int, int] = (0, 1), *, rate: float = 0.3, minority_fraction: float = 0.1
    ) -> NoiseSpec:
        """The paper's imbalanced binary task (Section 4.4): defaults r = 0.3, 10% of the minority kept."""
        return cls(kind="imbalanced", rate=rate, classes=classes, minority_fraction=minority_fraction)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists); inverse of :meth:`from_dict`."""
        mapping = self.mapping
        if mapping is not None and not isinstance(mapping, str):
            mapping = [list(pair) for pair in mapping]
        return {
            "kind": self.kind,
            "rate": self.rate,
            "symmetric_mode": self.symmetric_mode,
            "mapping": mapping,
            "classes": None if self.classes is None else list(self.classes),
            "minority_fraction": self.minority_fraction,
            "matrix": None if self.matrix is None else [list(row) for row in self.matrix],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NoiseSpec:
        """Rebuild a spec from :meth:`to_dict` output; missing keys take their defaults."""
        if not isinstance(d, Mapping):
            raise InputError(f"a noise spec must be a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown noise spec keys {unknown}; valid keys are {sorted(known)}")
        return cls(**d)

    def describe(self, *, num_classes: int | None = None) -> str:
        """Short human text, e.g. ``"symmetric 40% (paper: uniform over all 10 classes)"``."""
        rate = _percent(self.rate)
        if self.kind == "none":
            return "no noise"
        if self.kind == "symmetric":
            over = f"all {num_classes} classes" if num_classes is not None else "all classes"
            detail = {
                "paper": f"paper: uniform over {over}",
                "exact": f"exact: floor(r*n) samples relabelled uniformly over {over}",
                "flip": "flip: always to a different class",
            }[self.symmetric_mode]
            return f"symmetric {rate} ({detail})"
        if self.kind == "asymmetric":
            if self.mapping == "cifar100":
                pairs = "cifar100: k->k+1 mod 100"
            else:
                items = list(_mapping_dict(self).items())
                shown = ", ".join(f"{s}->{t}" for s, t in items[:6]) + (", ..." if len(items) > 6 else "")
                pairs = f"{self.mapping}: {shown}" if isinstance(self.mapping, str) else shown
            return f"asymmetric {rate} ({pairs})"
        if self.kind == "imbalanced":
            major, minor = self.classes
            return (
                f"imbalanced: class {major} (majority) vs {minor} "
                f"({_percent(self.minority_fraction)} kept), labels flipped {rate}"
            )
        k = len(self.matrix)
        return f"transition matrix {k}x{k}"


def _normalise_classes(classes: Any) -> tuple[int, int]:
    try:
        pair = tuple(classes)
    except TypeError as exc:
        raise InputError(f"classes must be two distinct class ids (majority, minority), got {classes!r}") from exc
    if len(pair) != 2 or not all(is_int(c) for c in pair):
        raise InputError(f"classes must be two distinct integer class ids (majority, minority), got {classes!r}")
    major, minor = int(pair[0]), int(pair[1])
    if major < 0 or minor < 0:
        raise InputError(f"classes must be non-negative class ids, got ({major}, {minor})")
    if major == minor:
        raise InputError(f"classes must be two distinct class ids (majority, minority), got {major} twice")
    return major, minor


def _mapping_dict(spec: NoiseSpec) -> dict[int, int]:
    if isinstance(spec.mapping, str):
        return dict(NAMED_MAPPINGS[spec.mapping])
    return dict(spec.mapping)


@dataclass(frozen=True, eq=False)
class NoiseResult:
    """Outcome of :func:`inject_noise`; unpacks as ``observed, is_noisy = result``.

    Attributes
    ----------
    observed_labels : (m,) int64 in [0, num_classes)
    is_noisy : (m,) bool, ``observed_labels != true_labels``
    true_labels : (m,) int64 in [0, num_classes)
        The input labels, except for imbalanced noise where they are relabelled
        majority -> 0, minority -> 1.
    indices : (m,) int64
        Positions in the input that were kept (``arange(n)`` except imbalanced).
    nominal_rate : float in [0, 1]
        The rate the spec asked for (``0`` for ``"none"``; the expected rate for ``"matrix"``).
    num_classes : int
        ``K`` of the result (2 for imbalanced).
    """

    observed_labels: np.ndarray
    is_noisy: np.ndarray
    true_labels: np.ndarray
    indices: np.ndarray
    nominal_rate: float
    num_classes: int

    @property
    def actual_rate(self) -> float:
        """Fraction of samples whose observed label is wrong (0 for no samples)."""
        return float(self.is_noisy.mean()) if self.is_noisy.size else 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.observed_labels
        yield self.is_noisy


def _check_num_classes(labels: np.ndarray, num_classes: int | None, *, name: str = "labels") -> int:
    if num_classes is None:
        if labels.size == 0:
            raise InputError(f"{name} are empty, so num_classes cannot be inferred; pass num_classes")
        return int(labels.max()) + 1
    if not is_int(num_classes) or num_classes < 1:
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    if labels.size and labels.max() >= num_classes:
        raise InputError(
            f"{name} contain class {labels.max()} but num_classes is {num_classes}; "
            f"labels must lie in [0, {num_classes})"
        )
    return int(num_classes)


def _resolve_num_classes(spec: NoiseSpec, labels: np.ndarray, num_classes: int | None) -> int:
    if spec.kind == "matrix":
        size = len(spec.matrix)
        if num_classes is None:
            if labels.size and labels.max() >= size:
                needed = int(labels.max()) + 1
                raise InputError(
                    f"labels contain class {needed - 1} but the matrix has only {size} classes; "
                    f"give a ({needed}, {needed}) matrix"
                )
            return size
        k = _check_num_classes(labels, num_classes)
        if k != size:
            raise InputError(f"matrix is {size}x{size} but num_classes is {k}; the matrix must be ({k}, {k})")
        return k
    k = _check_num_classes(labels, num_classes)
    if spec.kind == "asymmetric":
        for source, target in _mapping_dict(spec).items():
            if max(source, target) >= k:
                raise InputError(
                    f"mapping names class {max(source, target)} but num_classes is {k}; "
                    f"use classes below {k} or pass a larger num_classes"
                )
    if spec.kind == "imbalanced":
        for c in spec.classes:
            if c >= k:
                raise InputError(f"imbalanced classes name class {c} but num_classes is {k}; pick classes below {k}")
    if spec.kind == "symmetric" and spec.symmetric_mode == "flip" and k < 2 and spec.rate > 0:
        raise InputError(f"flip noise needs at least 2 classes to flip to, got num_classes={k}")
    return k


def _exact_count(rate: float, n: int) -> int:
    # Round away float dust first: 0.29 * 100 is 28.999999999999996, and floor(r n) means 29.
    return math.floor(round(rate * n, 9))


def _symmetric(true: np.ndarray, rate: float, mode: str, k: int, rng: np.random.Generator) -> np.ndarray:
    n = true.size
    if mode == "exact":
        observed = true.copy()
        chosen = rng.permutation(n)[: _exact_count(rate, n)]
        observed[chosen] = rng.integers(0, k, size=chosen.size)
        return observed
    corrupt = rng.random(n) < rate
    if mode == "paper":
        return np.where(corrupt, rng.integers(0, k, size=n), true)
    if k < 2:
        return true.copy()
    # A shift of 1..K-1 modulo K is uniform over the K-1 other classes.
    return np.where(corrupt, (true + rng.integers(1, k, size=n)) % k, true)


def _asymmetric(true: np.ndarray, rate: float, mapping: dict[int, int], k: int, rng: np.random.Generator) -> np.ndarray:
    lookup = np.arange(k, dtype=np.int64)
    lookup[np.fromiter(mapping.keys(), dtype=np.int64)] = np.fromiter(mapping.values(), dtype=np.int64)
    # One lookup from the true label: cat<->dog swaps, it never cascades back.
    target = lookup[true]
    move = (rng.random(true.size) < rate) & (target != true)
    return np.where(move, target, true)


def _matrix(true: np.ndarray, matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k = matrix.shape[0]
    # Rows pass validation within 1e-6; numpy's choice wants them exact.
    probs = matrix / matrix.sum(axis=1, keepdims=True)
    observed = np.empty_like(true)
    order = np.argsort(true, kind="stable")
    counts = np.bincount(true, minlength=k)
    starts = np.concatenate(([0], np.cumsum(counts)))
    for c in np.flatnonzero(counts):
        members = order[starts[c] : starts[c + 1]]
        observed[members] = rng.choice(k, size=members.size, p=probs[c])
    return observed


def imbalanced_pair(labels: Any, classes: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """All samples of two classes, relabelled majority -> 0, minority -> 1 (for a test split).

    Parameters
    ----------
    labels : (n,) int class ids
    classes : (majority, minority) class ids present in ``labels``

    Returns
    -------
    indices : (m,) int64, ascending positions in ``labels`` of the two classes
    binary_labels : (m,) int64 in {0, 1}
    """
    labels = as_labels(labels)
    major, minor = _normalise_classes(classes)
    for c in (major, minor):
        if not np.any(labels == c):
            raise InputError(f"class {c} has no samples; pick classes that occur in the labels")
    indices = np.flatnonzero((labels == major) | (labels == minor)).astype(np.int64)
    return indices, (labels[indices] == minor).astype(np.int64)


def _imbalanced(labels: np.ndarray, spec: NoiseSpec, rng: np.random.Generator) -> NoiseResult:
    major, minor = spec.classes
    major_idx = np.flatnonzero(labels == major)
    minor_idx = np.flatnonzero(labels == minor)
    for c, idx in ((major, major_idx), (minor, minor_idx)):
        if idx.size == 0:
            raise InputError(f"class {c} has no samples; pick imbalanced classes that occur in the labels")
    keep = max(1, math.floor(spec.minority_fraction * minor_idx.size + 0.5))
    kept_minor = rng.choice(minor_idx, size=keep, replace=False)
    indices = np.sort(np.concatenate([major_idx, kept_minor])).astype(np.int64)
    true = (labels[indices] == minor).astype(np.int64)
    flip = rng.random(indices.size) < spec.rate
    observed = np.where(flip, 1 - true, true)
    return NoiseResult(observed, observed != true, true, indices, spec.rate, 2)


def inject_noise(
    true_labels: Any,
    spec: NoiseSpec,
    *,
    num_classes: int | None = None,
    random_state: int | np.random.Generator | None = None,
) -> NoiseResult:
    """Corrupt clean labels according to ``spec``.

    Parameters
    ----------
    true_labels : (n,) int class ids in [0, K); numpy array, list or torch tensor
    spec : NoiseSpec
    num_classes : int, optional
        ``K``; defaults to ``max(true_labels) + 1`` (to the matrix size for ``"matrix"``).
    random_state : int, numpy.random.Generator or None
        The same seed gives the identical result.

    Returns
    -------
    NoiseResult
        ``observed_labels`` and ``is_noisy`` of shape (m,), with ``m = n``
        except for ``"imbalanced"``, which keeps all of the majority class and
        ``round(minority_fraction * count)`` (at least 1) of the minority.

    Notes
    -----
    Asymmetric noise moves each sample whose *true* label is a mapping source
    to its target with probability ``r``; the mapping is applied once, so with
    cat<->dog and ``r = 1`` cats and dogs swap exactly.
    """
    if not isinstance(spec, NoiseSpec):
        raise InputError(f"spec must be a NoiseSpec, got {type(spec).__name__}")
    labels = as_labels(true_labels, "true_labels")
    k = _resolve_num_classes(spec, labels, num_classes)
    rng = as_generator(random_state)
    if spec.kind == "imbalanced":
        return _imbalanced(labels, spec, rng)
    if spec.kind == "none":
        observed = labels.copy()
        nominal = 0.0
    elif spec.kind == "symmetric":
        observed = _symmetric(labels, spec.rate, spec.symmetric_mode, k, rng)
        nominal = spec.rate
    elif spec.kind == "asymmetric":
        observed = _asymmetric(labels, spec.rate, _mapping_dict(spec), k, rng)
        nominal = spec.rate
    else:
        observed = _matrix(labels, np.asarray(spec.matrix), rng)
        nominal = expected_noise_rate(spec, labels, k)
    indices = np.arange(labels.size, dtype=np.int64)
    return NoiseResult(observed.astype(np.int64), observed != labels, labels, indices, nominal, k)


def transition_matrix(
    true_labels: Any, observed_labels: Any, num_classes: int, *, normalize: bool = True
) -> np.ndarray:
    """Empirical noise transition ``T[true, observed]``.

    Parameters
    ----------
    true_labels, observed_labels : (n,) int class ids in [0, num_classes)
    num_classes : int
    normalize : bool
        Row-normalise the counts (rows without samples stay all zero).

    Returns
    -------
    (K, K) float64 with rows summing to 1 or 0 when ``normalize``, else (K, K) int64 counts.
    """
    true = as_labels(true_labels, "true_labels")
    observed = as_labels(observed_labels, "observed_labels")
    if true.size != observed.size:
        raise InputError(
            f"true_labels and observed_labels must be the same length, got {true.size} and {observed.size}"
        )
    k = _check_num_classes(true, num_classes, name="true_labels")
    _check_num_classes(observed, k, name="observed_labels")
    counts = np.bincount(true * k + observed, minlength=k * k).reshape(k, k).astype(np.int64)
    if not normalize:
        return counts
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros((k, k), dtype=np.float64), where=totals > 0)


def expected_noise_rate(spec: NoiseSpec, true_labels: Any, num_classes: int | None = None) -> float:
    """Expected fraction of wrong labels that :func:`inject_noise` produces for these labels.

    Parameters
    ----------
    spec : NoiseSpec
    true_labels : (n,) int class ids in [0, K)
    num_classes : int, optional
        ``K``, inferred as in :func:`inject_noise`.

    Returns
    -------
    float in [0, 1]
        ``"paper"``: ``r (K-1)/K``; ``"flip"``: ``r``; ``"exact"``:
        ``floor(r n)/n * (K-1)/K``; ``"asymmetric"``: ``r`` times the fraction
        of samples in mapped classes; ``"matrix"``: ``sum_k p_k (1 - T[k, k])``;
        ``"imbalanced"``: ``r``; ``"none"``: 0.
    """
    labels = as_labels(true_labels, "true_labels")
    k = _resolve_num_classes(spec, labels, num_classes)
    n = labels.size
    if spec.kind == "none" or n == 0:
        return 0.0
    if spec.kind == "imbalanced":
        return spec.rate
    if spec.kind == "symmetric":
        wrong_when_redrawn = (k - 1) / k
        if spec.symmetric_mode == "paper":
            return spec.rate * wrong_when_redrawn
        if spec.symmetric_mode == "exact":
            return _exact_count(spec.rate, n) / n * wrong_when_redrawn
        return spec.rate if k > 1 else 0.0
    prior = np.bincount(labels, minlength=k) / n
    if spec.kind == "asymmetric":
        sources = np.fromiter(_mapping_dict(spec).keys(), dtype=np.int64)
        return float(spec.rate * prior[sources].sum())
    return float(np.sum(prior * (1.0 - np.diag(np.asarray(spec.matrix)))))


def read_transition_matrix(source: str | bytes | os.PathLike) -> tuple[tuple[float, ...], ...]:
    """Read a transition matrix ``T[true, observed]`` from CSV text (str), uploaded bytes or a file (Path).

    One row per true class, comma-separated, no header. The result is validated as a
    :class:`NoiseSpec` matrix would be (square, non-negative, rows summing to 1).

    Raises
    ------
    InputError : unreadable file, empty text, a non-number, ragged rows or an invalid matrix.
    """
    if isinstance(source, bytes):
        text = source.decode("utf-8", errors="replace")
    elif isinstance(source, os.PathLike):
        try:
            with open(source, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise InputError(f"cannot read the transition matrix file {os.fspath(source)!r}: {exc.strerror}") from None
    else:
        text = source
    rows = [line.strip() for line in text.splitlines() if line.strip()]
    if not rows:
        raise InputError("the transition matrix file is empty; give one comma-separated row per true class")
    try:
        matrix = tuple(tuple(float(v) for v in row.split(",")) for row in rows)
    except ValueError:
        raise InputError(
            "the transition matrix must contain only numbers, one comma-separated row per true class"
        ) from None
    NoiseSpec(kind="matrix", rate=0.0, matrix=matrix)
    return matrix
