"""What an experiment's noise will do, before anything trains.

:func:`noise_preview` loads the configured data and injects the configured noise exactly as the
run will (through :func:`~inn_core.runs.experiment.prepare_data`, same seed), then summarises it: the
rate asked for, the expected and the actual fraction of wrong labels, the observed transition
matrix ``T[true, observed]`` and a few relabelled samples. When no noise is injected into the
user's own labels nothing is known to be wrong, so the examples are then a few samples of each
class with their labels, and the samples per class replace an identity matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inn_core._validation import check_int
from inn_core.data.noise import expected_noise_rate, transition_matrix
from inn_core.runs.experiment import ExperimentConfig, prepare_data

__all__ = ["NoisePreview", "noise_preview"]


@dataclass(frozen=True, eq=False)
class NoisePreview:
    """The noise of a configured experiment, summarised.

    Attributes
    ----------
    n : training samples (after the imbalanced subset, when that noise is chosen).
    num_classes : K of the training labels.
    class_names : K names.
    labels_known : False for user data with no injected noise (the truth is then unknown).
    description : the noise in words.
    nominal_rate : float in [0, 1], the rate the settings ask for.
    expected_rate : float in [0, 1], the expected fraction of wrong labels (e.g. ``r (K-1)/K``
        for the paper's symmetric noise, which may redraw the true label).
    actual_rate : float in [0, 1], the fraction of wrong labels this seed gives; None when unknown.
    counts : (K, K) int64, samples per (true, observed) pair.
    matrix : (K, K) float in [0, 1], ``counts`` row-normalised (rows of absent classes are 0).
    examples : (m,) int64 indices, ascending, m <= the number asked for: relabelled samples, or
        when ``labels_known`` is False, samples spread over the classes (round robin, seeded).
    example_true, example_observed : (m,) int64 their true and observed labels.
    class_counts : (K,) int64 training samples per observed label.
    example_images : (m, H, W) or (m, H, W, 3) uint8 images, or None for non-image data.
    """

    n: int
    num_classes: int
    class_names: tuple[str, ...]
    labels_known: bool
    description: str
    nominal_rate: float
    expected_rate: float
    actual_rate: float | None
    counts: np.ndarray
    matrix: np.ndarray
    examples: np.ndarray
    example_true: np.ndarray
    example_observed: np.ndarray
    example_images: np.ndarray | None
    class_counts: np.ndarray


def noise_preview(config: ExperimentConfig, *, examples: int = 12) -> NoisePreview:
    """Load the data, inject the noise as the run will, and summarise the result.

    Parameters
    ----------
    config : the experiment (only its data, noise, seed and L are used; nothing trains).
    examples : how many samples to pick, >= 0 (drawn with ``config.seed``).

    Raises
    ------
    InputError : whatever the data or the noise settings get wrong (missing folder, empty CSV,
        a matrix of the wrong size, L too large, ...).
    """
    check_int("examples", examples, low=0)
    run = prepare_data(config)
    k = run.num_classes
    counts = transition_matrix(run.true_labels, run.observed_labels, k, normalize=False)
    matrix = transition_matrix(run.true_labels, run.observed_labels, k)
    if config.noise.kind == "imbalanced":
        # The subset's labels are already 0/1; the spec's classes name the original ones.
        expected = config.noise.rate
    else:
        expected = expected_noise_rate(config.noise, run.true_labels, k)
    rng = np.random.default_rng(config.seed)
    if run.is_noisy is None:
        chosen = _per_class(run.observed_labels, k, examples, rng)
    else:
        noisy = np.flatnonzero(run.is_noisy)
        chosen = np.sort(rng.choice(noisy, size=min(examples, noisy.size), replace=False)).astype(np.int64)
    images = None
    if run.data.is_image:
        images = (
            np.stack([run.data.display_image(int(i)) for i in chosen])
            if chosen.size
            else np.zeros((0, *run.data.display_image(0).shape), np.uint8)
        )
    return NoisePreview(
        n=run.n,
        num_classes=k,
        class_names=run.data.class_names,
        labels_known=run.is_noisy is not None,
        description=config.noise.describe(num_classes=k),
        nominal_rate=float(run.noise.nominal_rate),
        expected_rate=float(expected),
        actual_rate=None if run.is_noisy is None else float(run.is_noisy.mean()),
        counts=counts,
        matrix=matrix,
        examples=chosen,
        example_true=run.true_labels[chosen].astype(np.int64),
        example_observed=run.observed_labels[chosen].astype(np.int64),
        example_images=images,
        class_counts=np.bincount(run.observed_labels, minlength=k).astype(np.int64),
    )


def _per_class(labels: np.ndarray, k: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` indices taken round robin over the classes, each class's order shuffled; sorted."""
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in range(k)]
    taken: list[int] = []
    for depth in range(max((p.size for p in pools), default=0)):
        for pool in pools:
            if len(taken) == count:
                return np.sort(np.array(taken, np.int64))
            if depth < pool.size:
                taken.append(int(pool[depth]))
    return np.sort(np.array(taken, np.int64))
