import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from inn_core.errors import InputError
from inn_core.method.metrics import clean_noisy_auc, clean_split_metrics, flag_metrics, precision_at_k


def test_auc_hand_computed():
    # Clean 0.35 and 0.8 against noisy 0.1 and 0.4: 3 of 4 pairs ordered right.
    assert_allclose(clean_noisy_auc([0.1, 0.4, 0.35, 0.8], [True, True, False, False]), 0.75, atol=1e-12)
    # A tie between a clean and a noisy sample counts one half: (0.5 + 1) / 2.
    assert_allclose(clean_noisy_auc([0.5, 0.5, 0.9], [1, 0, 0]), 0.75, atol=1e-12)


def test_auc_perfect_and_inverted():
    is_noisy = np.array([True, False, True, False, False])
    perfect = np.where(is_noisy, 0.1, 0.9) + np.arange(5) * 0.01
    assert clean_noisy_auc(perfect, is_noisy) == 1.0
    assert clean_noisy_auc(-perfect, is_noisy) == 0.0


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=30).filter(
        lambda pairs: len({noisy for _, noisy in pairs}) == 2
    )
)
def test_auc_is_the_pairwise_ordering_probability(data):
    scores = np.array([score for score, _ in data], dtype=float)
    is_noisy = np.array([noisy for _, noisy in data])
    clean, noisy = scores[~is_noisy], scores[is_noisy]
    pairwise = ((clean[:, None] > noisy) + 0.5 * (clean[:, None] == noisy)).mean()
    auc = clean_noisy_auc(scores, is_noisy)
    assert_allclose(auc, pairwise, atol=1e-12)
    assert_allclose(auc + clean_noisy_auc(-scores, is_noisy), 1.0, atol=1e-12)


@pytest.mark.parametrize("is_noisy", [[False, False, False], [True, True, True], []])
def test_auc_with_one_class_is_nan_without_warning(is_noisy):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(clean_noisy_auc(np.linspace(0, 1, len(is_noisy)), is_noisy))


def test_flag_metrics_hand_computed():
    result = flag_metrics([True, True, False, False, True], [True, False, False, True, True])
    assert result["n_flagged"] == 3 and result["n_noisy"] == 3
    assert_allclose([result["precision"], result["recall"], result["f1"]], [2 / 3, 2 / 3, 2 / 3], atol=1e-12)
    everything = flag_metrics([1, 1, 1, 1], [1, 0, 0, 0])
    assert_allclose([everything["precision"], everything["recall"], everything["f1"]], [0.25, 1.0, 0.4], atol=1e-12)


def test_flag_metrics_zero_over_zero_is_zero_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nothing = flag_metrics([False, False], [False, False])
        missed = flag_metrics([False, False], [True, False])
    assert nothing == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "n_flagged": 0, "n_noisy": 0}
    assert missed["precision"] == 0.0 and missed["recall"] == 0.0 and missed["n_noisy"] == 1


def test_precision_at_k_takes_lowest_scores_with_ties_in_index_order():
    scores = [0.9, 0.1, 0.5, 0.1, 0.3]
    is_noisy = [False, True, False, False, True]
    # Index 1 comes before index 3 at the shared lowest score 0.1.
    assert precision_at_k(scores, is_noisy, 1) == 1.0
    assert precision_at_k(scores, is_noisy, 2) == 0.5
    assert_allclose(precision_at_k(scores, is_noisy, 3), 2 / 3, atol=1e-12)
    assert precision_at_k(scores, is_noisy, 5) == 0.4


@pytest.mark.parametrize("k", [0, 6, 2.0, True])
def test_precision_at_k_rejects_bad_k(k):
    with pytest.raises(InputError, match=r"k must be an integer in \[1, 5\]"):
        precision_at_k(np.zeros(5), np.zeros(5, dtype=bool), k)


def test_clean_split_metrics_hand_computed():
    result = clean_split_metrics([True, True, True, False, False, True], [False, True, False, True, False, False])
    expected = {
        "clean_precision": 0.75,  # kept 0, 1, 2, 5; clean among them 0, 2, 5
        "clean_recall": 0.75,  # clean are 0, 2, 4, 5
        "n_clean": 4,
        "noisy_precision": 0.5,  # flagged 3, 4; noisy 1, 3
        "noisy_recall": 0.5,
        "noisy_f1": 0.5,
        "n_flagged": 2,
        "n_noisy": 2,
    }
    assert result.keys() == expected.keys()
    assert_allclose([result[key] for key in expected], list(expected.values()), atol=1e-12)


def test_clean_split_metrics_empty_split_is_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = clean_split_metrics([False, False], [True, True])
    assert result["clean_precision"] == 0.0 and result["clean_recall"] == 0.0
    assert result["noisy_precision"] == 1.0 and result["noisy_recall"] == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: clean_noisy_auc([0.1, 0.2, 0.3], [True, False]),
        lambda: flag_metrics([True, False, True], [True, False]),
        lambda: precision_at_k([0.1, 0.2, 0.3], [True, False], 1),
        lambda: clean_split_metrics([True, False, True], [True, False]),
    ],
    ids=["auc", "flag", "precision_at_k", "split"],
)
def test_length_mismatch_names_both_lengths(call):
    with pytest.raises(InputError, match=r"has length 3 and is_noisy has length 2"):
        call()


@pytest.mark.parametrize(
    ("scores", "is_noisy", "message"),
    [
        ([0.1, np.nan], [True, False], "scores must be finite"),
        ([[0.1, 0.2]], [True], "scores must be a 1-D array"),
        ([0.1, 0.2], [0, 2], "other than 0 and 1"),
        ([0.1, 0.2], ["yes", "no"], "is_noisy must be boolean"),
    ],
)
def test_bad_values_raise_input_error(scores, is_noisy, message):
    with pytest.raises(InputError, match=message):
        clean_noisy_auc(scores, is_noisy)
