"""Tests for inn_core.data.noise: mappings, rates, validation, determinism, invariants."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from inn_core.data.noise import (
    NAMED_MAPPINGS,
    NOISE_KINDS,
    SYMMETRIC_MODES,
    NoiseResult,
    NoiseSpec,
    expected_noise_rate,
    imbalanced_pair,
    inject_noise,
    transition_matrix,
)
from inn_core.errors import InputError

N = 20_000


def _uniform_labels(k: int, n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, size=n)


def _assert_within_5_sigma(result: NoiseResult, expected: float) -> None:
    # Bernoulli(p) per sample is the widest case for every kind (fixed-count and
    # per-class rates only shrink the variance), so this bound is conservative.
    m = result.is_noisy.size
    sigma = math.sqrt(max(expected * (1 - expected), 1e-12) / m)
    assert abs(result.actual_rate - expected) <= 5 * sigma + 1e-12, (result.actual_rate, expected, sigma)


# ---------------------------------------------------------------- mappings


def test_named_mappings_are_the_papers():
    assert NAMED_MAPPINGS["cifar10"] == {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    assert NAMED_MAPPINGS["cifar100"][99] == 0
    assert all(NAMED_MAPPINGS["cifar100"][k] == k + 1 for k in range(99))
    assert NAMED_MAPPINGS["digits"] == {7: 1, 2: 7, 5: 6, 6: 5, 3: 8}


@pytest.mark.parametrize("name,k", [("cifar10", 10), ("cifar100", 100), ("digits", 10)])
def test_asymmetric_rate_one_applies_mapping_exactly_once(name, k):
    labels = np.repeat(np.arange(k), 3)
    observed, noisy = inject_noise(labels, NoiseSpec(kind="asymmetric", rate=1.0, mapping=name), random_state=0)
    mapping = NAMED_MAPPINGS[name]
    expected = np.array([mapping.get(int(y), int(y)) for y in labels])
    assert_array_equal(observed, expected)
    assert_array_equal(noisy, expected != labels)


def test_cat_dog_swap_does_not_cascade():
    labels = np.array([3, 5, 3, 5, 0])
    result = inject_noise(labels, NoiseSpec(kind="asymmetric", rate=1.0, mapping=((3, 5), (5, 3))), random_state=1)
    assert_array_equal(result.observed_labels, [5, 3, 5, 3, 0])
    assert_array_equal(result.is_noisy, [True, True, True, True, False])


def test_digits_chain_does_not_cascade():
    # 2->7 and 7->1: a true 2 must end at 7, never at 1.
    labels = np.full(50, 2)
    spec = NoiseSpec(kind="asymmetric", rate=1.0, mapping="digits")
    observed, _ = inject_noise(labels, spec, num_classes=10, random_state=0)
    assert_array_equal(observed, np.full(50, 7))


def test_asymmetric_leaves_unmapped_classes_alone():
    labels = _uniform_labels(10, 2_000)
    result = inject_noise(labels, NoiseSpec(kind="asymmetric", rate=0.7, mapping="cifar10"), random_state=3)
    unmapped = ~np.isin(labels, list(NAMED_MAPPINGS["cifar10"]))
    assert not result.is_noisy[unmapped].any()
    moved = result.is_noisy
    lookup = np.array([NAMED_MAPPINGS["cifar10"].get(c, c) for c in range(10)])
    assert_array_equal(result.observed_labels[moved], lookup[labels[moved]])


# ---------------------------------------------------------------- rates


@pytest.mark.parametrize(
    "spec,k",
    [
        (NoiseSpec(kind="symmetric", rate=0.4, symmetric_mode="paper"), 10),
        (NoiseSpec(kind="symmetric", rate=0.8, symmetric_mode="paper"), 3),
        (NoiseSpec(kind="symmetric", rate=0.4, symmetric_mode="exact"), 10),
        (NoiseSpec(kind="symmetric", rate=0.3, symmetric_mode="flip"), 10),
        (NoiseSpec(kind="asymmetric", rate=0.4, mapping="cifar10"), 10),
        (NoiseSpec(kind="asymmetric", rate=0.2, mapping="cifar100"), 100),
        (NoiseSpec(kind="asymmetric", rate=0.3, mapping="digits"), 10),
        (NoiseSpec(kind="matrix", matrix=((0.7, 0.2, 0.1), (0.0, 1.0, 0.0), (0.5, 0.25, 0.25))), 3),
    ],
    ids=lambda v: v.describe() if isinstance(v, NoiseSpec) else str(v),
)
def test_actual_rate_within_5_sigma_of_expected(spec, k):
    labels = _uniform_labels(k)
    expected = expected_noise_rate(spec, labels, k)
    result = inject_noise(labels, spec, num_classes=k, random_state=7)
    _assert_within_5_sigma(result, expected)


def test_expected_noise_rate_formulas():
    labels = np.array([0, 0, 1, 2, 3, 3, 3, 4, 5, 9])  # 10 samples, K = 10
    paper = NoiseSpec(rate=0.4)
    assert_allclose(expected_noise_rate(paper, labels, 10), 0.4 * 9 / 10, atol=1e-12)
    exact = NoiseSpec(rate=0.45, symmetric_mode="exact")
    assert_allclose(expected_noise_rate(exact, labels, 10), 4 / 10 * 9 / 10, atol=1e-12)
    assert_allclose(expected_noise_rate(NoiseSpec(rate=0.4, symmetric_mode="flip"), labels, 10), 0.4, atol=1e-12)
    # cifar10 sources 9, 2, 4, 3, 5 cover 1 + 1 + 1 + 3 + 1 = 7 samples
    asym = NoiseSpec(kind="asymmetric", rate=0.5, mapping="cifar10")
    assert_allclose(expected_noise_rate(asym, labels, 10), 0.5 * 7 / 10, atol=1e-12)
    matrix = NoiseSpec(kind="matrix", matrix=((0.9, 0.1), (0.4, 0.6)))
    assert_allclose(expected_noise_rate(matrix, [0, 0, 0, 1], 2), 0.75 * 0.1 + 0.25 * 0.4, atol=1e-12)
    assert expected_noise_rate(NoiseSpec.imbalanced(rate=0.3), [0, 1, 1], 2) == 0.3
    assert expected_noise_rate(NoiseSpec(kind="none"), labels, 10) == 0.0


@pytest.mark.parametrize("n,rate", [(1000, 0.37), (100, 0.29), (333, 0.5), (10, 1.0)])
def test_exact_mode_relabels_exactly_floor_rn(n, rate):
    # With a huge K a redrawn label almost never lands on the true one, so the
    # noisy count equals the number chosen (seeded, so this is deterministic).
    labels = np.zeros(n, dtype=np.int64)
    spec = NoiseSpec(rate=rate, symmetric_mode="exact")
    result = inject_noise(labels, spec, num_classes=10**9, random_state=0)
    assert int(result.is_noisy.sum()) == math.floor(round(rate * n, 9))


def test_exact_mode_never_exceeds_floor_rn():
    labels = _uniform_labels(3, 1000)
    for seed in range(5):
        result = inject_noise(labels, NoiseSpec(rate=0.25, symmetric_mode="exact"), random_state=seed)
        assert result.is_noisy.sum() <= 250


def test_paper_mode_can_keep_the_true_label():
    labels = _uniform_labels(2, 2000)
    result = inject_noise(labels, NoiseSpec(rate=1.0, symmetric_mode="paper"), random_state=0)
    _assert_within_5_sigma(result, 0.5)


def test_flip_mode_never_keeps_the_label():
    labels = _uniform_labels(4, 5000)
    result = inject_noise(labels, NoiseSpec(rate=1.0, symmetric_mode="flip"), random_state=0)
    assert result.is_noisy.all()
    # the new class is uniform over the other three
    counts = transition_matrix(labels, result.observed_labels, 4)
    off_diagonal = counts[~np.eye(4, dtype=bool)]
    assert_allclose(off_diagonal, 1 / 3, atol=0.05)


@pytest.mark.parametrize(
    "spec",
    [
        NoiseSpec(rate=0.0),
        NoiseSpec(rate=0.0, symmetric_mode="exact"),
        NoiseSpec(rate=0.0, symmetric_mode="flip"),
        NoiseSpec(kind="asymmetric", rate=0.0, mapping="cifar10"),
        NoiseSpec(kind="none", rate=0.9),
        NoiseSpec(kind="matrix", matrix=np.eye(10)),
    ],
)
def test_no_noise(spec):
    labels = _uniform_labels(10, 500)
    result = inject_noise(labels, spec, num_classes=10, random_state=0)
    assert_array_equal(result.observed_labels, labels)
    assert not result.is_noisy.any()
    assert result.actual_rate == 0.0
    assert_array_equal(result.indices, np.arange(500))


def test_none_kind_reports_zero_nominal_rate():
    result = inject_noise([0, 1, 2], NoiseSpec(kind="none"))
    assert result.nominal_rate == 0.0
    assert result.num_classes == 3


def test_matrix_sampling_approximates_t():
    t = np.array([[0.6, 0.3, 0.1, 0.0], [0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.5, 0.5]])
    labels = _uniform_labels(4)
    result = inject_noise(labels, NoiseSpec(kind="matrix", matrix=t), random_state=11)
    empirical = transition_matrix(labels, result.observed_labels, 4)
    # ~5000 samples per row: 5 sigma of a proportion is at most 5 * 0.5 / sqrt(5000) ~ 0.035
    assert_allclose(empirical, t, atol=0.035)
    # zero-probability cells are never hit
    assert_array_equal(empirical[t == 0], 0.0)
    assert_allclose(result.nominal_rate, expected_noise_rate(NoiseSpec(kind="matrix", matrix=t), labels), atol=1e-12)


def test_matrix_num_classes_defaults_to_matrix_size():
    t = np.full((5, 5), 0.2)
    result = inject_noise([0, 1, 1], NoiseSpec(kind="matrix", matrix=t), random_state=0)
    assert result.num_classes == 5
    assert result.observed_labels.max() < 5


# ---------------------------------------------------------------- imbalanced


def test_imbalanced_sizes_labels_and_flip_rate():
    labels = _uniform_labels(10, 50_000, seed=4)
    n_major, n_minor = int((labels == 3).sum()), int((labels == 8).sum())
    spec = NoiseSpec.imbalanced((3, 8))
    result = inject_noise(labels, spec, random_state=2)
    assert result.num_classes == 2
    assert result.indices.size == n_major + round(0.1 * n_minor)
    assert np.all(np.diff(result.indices) > 0)
    assert_array_equal(labels[result.indices[result.true_labels == 0]], 3)
    assert_array_equal(labels[result.indices[result.true_labels == 1]], 8)
    assert int((result.true_labels == 0).sum()) == n_major
    assert set(np.unique(result.observed_labels)) == {0, 1}
    assert_array_equal(result.is_noisy, result.observed_labels != result.true_labels)
    assert result.nominal_rate == 0.3
    _assert_within_5_sigma(result, 0.3)


def test_imbalanced_keeps_at_least_one_minority_sample():
    labels = np.array([0] * 20 + [1] * 3)
    result = inject_noise(labels, NoiseSpec.imbalanced((0, 1), rate=0.0, minority_fraction=0.01), random_state=0)
    assert int(result.true_labels.sum()) == 1
    assert result.indices.size == 21


def test_imbalanced_missing_class_is_an_input_error():
    with pytest.raises(InputError, match="class 7 has no samples"):
        inject_noise([0, 1, 2], NoiseSpec.imbalanced((0, 7)), num_classes=10)


def test_imbalanced_pair_keeps_everything_unflipped():
    labels = np.array([4, 1, 5, 4, 5, 5, 0])
    indices, binary = imbalanced_pair(labels, (5, 4))
    assert_array_equal(indices, [0, 2, 3, 4, 5])
    assert_array_equal(binary, [1, 0, 1, 0, 0])
    assert indices.dtype == np.int64 and binary.dtype == np.int64


# ---------------------------------------------------------------- determinism and inputs


@pytest.mark.parametrize(
    "spec",
    [
        NoiseSpec(rate=0.4),
        NoiseSpec(rate=0.4, symmetric_mode="exact"),
        NoiseSpec(rate=0.4, symmetric_mode="flip"),
        NoiseSpec(kind="asymmetric", rate=0.5, mapping="cifar10"),
        NoiseSpec(kind="matrix", matrix=np.full((10, 10), 0.1)),
        NoiseSpec.imbalanced((1, 2)),
    ],
)
def test_same_seed_identical_different_seed_differs(spec):
    labels = _uniform_labels(10, 3000)
    a = inject_noise(labels, spec, random_state=5)
    b = inject_noise(labels, spec, random_state=5)
    c = inject_noise(labels, spec, random_state=6)
    assert_array_equal(a.observed_labels, b.observed_labels)
    assert_array_equal(a.indices, b.indices)
    differs = a.indices.size != c.indices.size or np.any(a.observed_labels != c.observed_labels)
    assert differs


def test_generator_random_state_and_torch_and_list_inputs():
    labels = _uniform_labels(5, 100)
    spec = NoiseSpec(rate=0.5)
    reference = inject_noise(labels, spec, random_state=np.random.default_rng(9))
    from_torch = inject_noise(torch.from_numpy(labels), spec, random_state=np.random.default_rng(9))
    from_list = inject_noise(labels.tolist(), spec, random_state=np.random.default_rng(9))
    assert_array_equal(reference.observed_labels, from_torch.observed_labels)
    assert_array_equal(reference.observed_labels, from_list.observed_labels)
    assert reference.observed_labels.dtype == np.int64
    assert reference.true_labels.dtype == np.int64


def test_result_unpacks_and_input_is_not_modified():
    labels = _uniform_labels(10, 200)
    before = labels.copy()
    result = inject_noise(labels, NoiseSpec(rate=1.0), random_state=0)
    observed, noisy = result
    assert observed is result.observed_labels and noisy is result.is_noisy
    assert_array_equal(labels, before)
    assert_array_equal(result.true_labels, before)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"rate": 1.5}, r"rate must be in \[0, 1\], got 1.5"),
        ({"rate": -0.1}, r"rate must be in \[0, 1\]"),
        ({"rate": True}, r"rate must be in \[0, 1\]"),
        ({"kind": "gaussian"}, "unknown noise kind 'gaussian'"),
        ({"symmetric_mode": "fancy"}, "unknown symmetric_mode 'fancy'"),
        ({"kind": "asymmetric"}, "asymmetric noise needs a mapping"),
        ({"kind": "asymmetric", "mapping": "imagenet"}, "unknown mapping name 'imagenet'"),
        ({"kind": "asymmetric", "mapping": ((1, 2), (1, 3))}, "source class 1 more than once"),
        ({"kind": "asymmetric", "mapping": ((1, 1),)}, "maps a class to itself"),
        ({"kind": "asymmetric", "mapping": ((1.5, 2),)}, "two integer classes"),
        ({"kind": "asymmetric", "mapping": ((-1, 2),)}, "non-negative"),
        ({"kind": "asymmetric", "mapping": ()}, "at least one"),
        ({"kind": "imbalanced", "classes": (3, 3)}, "two distinct class ids"),
        ({"kind": "imbalanced", "classes": (3,)}, "two distinct integer class ids"),
        ({"kind": "imbalanced", "minority_fraction": 0.0}, r"minority_fraction must be in \(0, 1\]"),
        ({"kind": "matrix"}, "matrix noise needs"),
        ({"kind": "matrix", "matrix": ((0.5, 0.4), (0.0, 1.0))}, "row 0 sums to 0.9"),
        ({"kind": "matrix", "matrix": ((1.5, -0.5), (0.0, 1.0))}, "non-negative"),
        ({"kind": "matrix", "matrix": ((0.5, 0.5), (0.0, 1.0), (1.0, 0.0))}, "square"),
        ({"kind": "matrix", "matrix": (0.5, 0.5)}, "2-D"),
    ],
)
def test_spec_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        NoiseSpec(**kwargs)


def test_matrix_within_tolerance_is_accepted():
    spec = NoiseSpec(kind="matrix", matrix=((0.5, 0.5 + 5e-7), (0.0, 1.0)))
    result = inject_noise([0, 1] * 10, spec, random_state=0)
    assert result.observed_labels.max() <= 1


def test_mapping_class_beyond_num_classes():
    with pytest.raises(InputError, match="mapping names class 9 but num_classes is 9"):
        inject_noise(np.arange(9), NoiseSpec(kind="asymmetric", mapping="cifar10"))
    with pytest.raises(InputError, match="mapping names class 5 but num_classes is 4"):
        expected_noise_rate(NoiseSpec(kind="asymmetric", mapping=((0, 5),)), [0, 1], 4)


def test_matrix_size_must_match_num_classes():
    spec = NoiseSpec(kind="matrix", matrix=np.eye(3))
    with pytest.raises(InputError, match="matrix is 3x3 but num_classes is 4"):
        inject_noise([0, 1, 2], spec, num_classes=4)
    with pytest.raises(InputError, match="only 3 classes"):
        inject_noise([0, 1, 5], spec)


@pytest.mark.parametrize(
    "labels,kwargs,message",
    [
        ([[0, 1]], {}, "1-D"),
        ([0.5, 1.0], {}, "integer class ids"),
        (["a", "b"], {}, "integer class ids"),
        ([0, -1], {}, "non-negative"),
        ([0, 5], {"num_classes": 3}, "class 5 but num_classes is 3"),
        ([], {}, "cannot be inferred"),
        ([0, 1], {"num_classes": 0}, "positive integer"),
        ([0, 1], {"random_state": "seed"}, "random_state"),
    ],
)
def test_label_and_argument_validation(labels, kwargs, message):
    with pytest.raises(InputError, match=message):
        inject_noise(labels, NoiseSpec(), **kwargs)


def test_flip_needs_two_classes():
    with pytest.raises(InputError, match="at least 2 classes"):
        inject_noise([0, 0], NoiseSpec(rate=0.5, symmetric_mode="flip"))


def test_spec_must_be_a_noisespec():
    with pytest.raises(InputError, match="spec must be a NoiseSpec"):
        inject_noise([0, 1], {"kind": "symmetric"})


# ---------------------------------------------------------------- serialisation and text


@pytest.mark.parametrize(
    "spec",
    [
        NoiseSpec(),
        NoiseSpec(kind="none"),
        NoiseSpec(rate=0.2, symmetric_mode="exact"),
        NoiseSpec(kind="asymmetric", rate=0.3, mapping="cifar100"),
        NoiseSpec(kind="asymmetric", rate=0.3, mapping={5: 3, 3: 5}),
        NoiseSpec.imbalanced((4, 5), rate=0.25, minority_fraction=0.2),
        NoiseSpec(kind="matrix", matrix=[[0.9, 0.1], [0.2, 0.8]]),
    ],
)
def test_to_dict_from_dict_round_trip_through_json(spec):
    restored = NoiseSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert restored == spec
    assert hash(restored) == hash(spec)


def test_mapping_is_normalised_and_hashable():
    a = NoiseSpec(kind="asymmetric", mapping={5: 3, 3: 5})
    b = NoiseSpec(kind="asymmetric", mapping=[[3, 5], [5, 3]])
    assert a == b and a.mapping == ((3, 5), (5, 3))
    assert len({a, b}) == 1


def test_imbalanced_classes_default_and_from_dict_rejects_unknown_keys():
    assert NoiseSpec(kind="imbalanced").classes == (0, 1)
    assert NoiseSpec().classes is None
    with pytest.raises(InputError, match=r"unknown noise spec keys \['noise'\]"):
        NoiseSpec.from_dict({"kind": "symmetric", "noise": 1})


def test_describe():
    assert NoiseSpec(rate=0.4).describe(num_classes=10) == "symmetric 40% (paper: uniform over all 10 classes)"
    assert NoiseSpec(rate=0.4, symmetric_mode="flip").describe() == "symmetric 40% (flip: always to a different class)"
    cifar100 = NoiseSpec(kind="asymmetric", rate=0.1, mapping="cifar100")
    assert cifar100.describe() == "asymmetric 10% (cifar100: k->k+1 mod 100)"
    assert "9->1" in NoiseSpec(kind="asymmetric", mapping="cifar10").describe()
    assert NoiseSpec(kind="none").describe() == "no noise"
    assert "class 3 (majority) vs 8" in NoiseSpec.imbalanced((3, 8)).describe()
    assert NoiseSpec(kind="matrix", matrix=np.eye(4)).describe() == "transition matrix 4x4"


def test_constants():
    assert NOISE_KINDS == ("none", "symmetric", "asymmetric", "imbalanced", "matrix")
    assert SYMMETRIC_MODES == ("paper", "exact", "flip")


# ---------------------------------------------------------------- transition_matrix


def test_transition_matrix_values():
    true = [0, 0, 0, 0, 1, 1, 2]
    observed = [0, 0, 1, 2, 1, 0, 2]
    counts = transition_matrix(true, observed, 4, normalize=False)
    assert_array_equal(counts, [[2, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    normalised = transition_matrix(true, observed, 4)
    assert_allclose(normalised, [[0.5, 0.25, 0.25, 0], [0.5, 0.5, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], atol=1e-12)


def test_transition_matrix_validation():
    with pytest.raises(InputError, match="same length"):
        transition_matrix([0, 1], [0], 2)
    with pytest.raises(InputError, match="observed_labels contain class 2"):
        transition_matrix([0, 1], [0, 2], 2)


# ---------------------------------------------------------------- invariants


@st.composite
def _labels_and_spec(draw):
    k = draw(st.integers(2, 8))
    labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=60)), dtype=np.int64)
    rate = draw(st.floats(0.0, 1.0))
    kind = draw(st.sampled_from(["none", "symmetric", "asymmetric", "matrix"]))
    if kind == "symmetric":
        spec = NoiseSpec(rate=rate, symmetric_mode=draw(st.sampled_from(SYMMETRIC_MODES)))
    elif kind == "asymmetric":
        sources = draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=k, unique=True))
        pairs = tuple((s, (s + draw(st.integers(1, k - 1))) % k) for s in sources)
        spec = NoiseSpec(kind="asymmetric", rate=rate, mapping=pairs)
    elif kind == "matrix":
        weights = np.random.default_rng(draw(st.integers(0, 2**16))).random((k, k))
        spec = NoiseSpec(kind="matrix", matrix=weights / weights.sum(axis=1, keepdims=True))
    else:
        spec = NoiseSpec(kind="none", rate=rate)
    return labels, k, spec


@settings(max_examples=25, deadline=None)
@given(case=_labels_and_spec(), seed=st.integers(0, 2**31 - 1))
def test_invariants(case, seed):
    labels, k, spec = case
    result = inject_noise(labels, spec, num_classes=k, random_state=seed)
    assert result.observed_labels.shape == labels.shape
    assert result.observed_labels.dtype == np.int64
    assert np.all((result.observed_labels >= 0) & (result.observed_labels < k))
    assert_array_equal(result.is_noisy, result.observed_labels != labels)
    assert_array_equal(result.true_labels, labels)
    assert result.num_classes == k
    assert 0.0 <= expected_noise_rate(spec, labels, k) <= 1.0


@settings(max_examples=25, deadline=None)
@given(
    n_major=st.integers(1, 40),
    n_minor=st.integers(1, 40),
    fraction=st.floats(0.01, 1.0),
    rate=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_imbalanced_invariants(n_major, n_minor, fraction, rate, seed):
    labels = np.random.default_rng(seed).permutation(np.array([2] * n_major + [6] * n_minor + [0] * 5))
    spec = NoiseSpec.imbalanced((2, 6), rate=rate, minority_fraction=fraction)
    result = inject_noise(labels, spec, random_state=seed)
    kept_minor = int(result.true_labels.sum())
    assert kept_minor == max(1, math.floor(fraction * n_minor + 0.5))
    assert int((result.true_labels == 0).sum()) == n_major
    assert np.all(np.isin(result.observed_labels, [0, 1]))
    assert_array_equal(result.is_noisy, result.observed_labels != result.true_labels)
    assert_array_equal(labels[result.indices], np.where(result.true_labels == 1, 6, 2))


def test_negative_seed_is_an_input_error_as_in_data():
    from inn_core.data.datasets import load_dataset

    message = "random_state must be a non-negative int"
    with pytest.raises(InputError, match=message):
        inject_noise(np.arange(10) % 2, NoiseSpec("symmetric", 0.2), random_state=-1)
    with pytest.raises(InputError, match=message):
        load_dataset("digits", random_state=-1)


def test_transition_matrix_file_is_closed_after_reading(tmp_path):
    import gc
    import warnings
    from pathlib import Path

    from inn_core.data.noise import read_transition_matrix

    path = Path(tmp_path / "T.csv")
    path.write_text("0.8,0.2\n0.3,0.7\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        read_transition_matrix(path)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
