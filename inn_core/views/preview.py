"""What an experiment's noise will do, before anything trains.

:func:`noise_preview` loads the configured data and injects the configured noise exactly as the
run will (through :func:`~inn_core.runs.experiment.prepare_data`, same seed), then summarises it: the
rate asked for, the expected and the actual fraction of wrong labels, the observed transition
matrix ``T[true, observed]`` and a few relabelled samples. :func:`parse_mapping` and
:func:`parse_epochs` read the free-text fields of a settings form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from inn_core._validation import check_int
from inn_core.errors import InputError
from inn_core.runs.experiment import ExperimentConfig, prepare_data
from inn_core.data.noise import NAMED_MAPPINGS, expected_noise_rate, transition_matrix

__all__ = ["NoisePreview", "noise_preview", "parse_epochs", "parse_mapping"]


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
    examples : (m,) int64 indices of relabelled samples, ascending, m <= the number asked for.
    example_true, example_observed : (m,) int64 their true and observed labels.
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


def noise_preview(config: ExperimentConfig, *, examples: int = 12) -> NoisePreview:
    """Load the data, inject the noise as the run will, and summarise the result.

    Parameters
    ----------
    config : the experiment (only its data, noise, seed and L are used; nothing trains).
    examples : how many relabelled samples to pick, >= 0 (drawn with ``config.seed``).

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
    if run.is_noisy is None:
        chosen = np.zeros(0, np.int64)
    else:
        noisy = np.flatnonzero(run.is_noisy)
        rng = np.random.default_rng(config.seed)
        chosen = np.sort(rng.choice(noisy, size=min(examples, noisy.size), replace=False)).astype(np.int64)
    images = None
    if run.data.is_image:
        images = np.stack([run.data.display_image(int(i)) for i in chosen]) if chosen.size else np.zeros(
            (0, *run.data.display_image(0).shape), np.uint8)
    return NoisePreview(
        n=run.n, num_classes=k, class_names=run.data.class_names, labels_known=run.is_noisy is not None,
        description=config.noise.describe(num_classes=k), nominal_rate=float(run.noise.nominal_rate),
        expected_rate=float(expected), actual_rate=None if run.is_noisy is None else float(run.is_noisy.mean()),
        counts=counts, matrix=matrix, examples=chosen, example_true=run.true_labels[chosen].astype(np.int64),
        example_observed=run.observed_labels[chosen].astype(np.int64), example_images=images,
    )


_PAIR = re.compile(r"^\s*(\d+)\s*(?:->|:|>)\s*(\d+)\s*$")


def parse_mapping(text: str) -> str | tuple[tuple[int, int], ...]:
    """Read an asymmetric-noise mapping: a name of :data:`~inn_core.data.noise.NAMED_MAPPINGS` or pairs.

    Pairs are ``source->target`` (or ``source:target``) separated by commas, e.g. ``"3->5, 5->3"``.
    The result is what :class:`~inn_core.data.noise.NoiseSpec` takes as ``mapping`` (it validates further).
    """
    text = text.strip()
    if not text:
        raise InputError(f"give a mapping: one of {', '.join(sorted(NAMED_MAPPINGS))}, or pairs like 3->5, 5->3")
    if text in NAMED_MAPPINGS:
        return text
    pairs = []
    for item in text.split(","):
        match = _PAIR.match(item)
        if match is None:
            raise InputError(f"cannot read {item.strip()!r} as a mapping pair; write pairs like 3->5, 5->3 "
                             f"or a name ({', '.join(sorted(NAMED_MAPPINGS))})")
        pairs.append((int(match.group(1)), int(match.group(2))))
    return tuple(pairs)


def parse_epochs(text: str) -> tuple[int, ...] | None:
    """Read evaluation epochs such as ``"5, 10, 20"``; an empty text means the default (None)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        return None
    try:
        return tuple(int(item) for item in items)
    except ValueError:
        raise InputError(f"evaluation epochs must be whole numbers separated by commas, like 5, 10, 20; got {text!r}") from None
