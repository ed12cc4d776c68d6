import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from inn_core.errors import InputError
from inn_core.method.mixture import BetaMixture, split_clean


@pytest.fixture(scope="module")
def two_betas() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.beta(2, 8, size=6_000), rng.beta(8, 2, size=14_000)])


@pytest.fixture(scope="module")
def fitted(two_betas) -> BetaMixture:
    return BetaMixture().fit(two_betas)


def test_recovers_known_components(fitted):
    assert_allclose(fitted.means_, [0.2, 0.8], atol=0.03)
    assert_allclose(fitted.weights_, [0.3, 0.7], atol=0.03)
    assert fitted.converged_
    assert 1 <= fitted.n_iter_ <= fitted.max_iter
    assert np.isfinite(fitted.lower_bound_)


def test_pdf_integrates_to_one_and_matches_the_data(fitted, two_betas):
    grid = np.linspace(0.0, 1.0, 4001)
    density = fitted.pdf(grid)
    assert density.shape == (grid.size, 2)
    assert np.isfinite(density).all() and (density >= 0).all()
    assert_allclose(np.trapezoid(density.sum(axis=1), grid), 1.0, atol=1e-2)
    assert_allclose(np.trapezoid(density, grid, axis=0), fitted.weights_, atol=1e-2)
    # The histogram of the data follows the mixture density.
    counts, edges = np.histogram(two_betas, bins=20, range=(0, 1), density=True)
    centres = (edges[:-1] + edges[1:]) / 2
    assert_allclose(fitted.pdf(centres).sum(axis=1), counts, atol=0.15)


@settings(max_examples=25, deadline=None)
@given(
    scores=st.lists(
        st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 0.5])), min_size=1, max_size=60
    ),
    n_components=st.integers(1, 3),
)
def test_posteriors_are_probabilities(scores, n_components):
    mixture = BetaMixture(n_components).fit(scores)
    posterior = mixture.predict_proba(scores)
    assert posterior.shape == (len(scores), n_components)
    assert np.isfinite(posterior).all()
    assert (posterior >= 0).all() and (posterior <= 1).all()
    assert_allclose(posterior.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.isfinite(mixture.lower_bound_)
    assert np.all(np.diff(mixture.means_) >= 0)
    assert_allclose(mixture.weights_.sum(), 1.0, atol=1e-12)


def test_split_clean_marks_high_scores_clean(two_betas):
    clean_mask, clean_posterior, mixture = split_clean(two_betas)
    assert clean_mask.dtype == bool and clean_mask.shape == two_betas.shape
    assert clean_mask[two_betas > 0.7].all()
    assert not clean_mask[two_betas < 0.3].any()
    assert_array_equal(clean_mask, clean_posterior >= 0.5)
    assert_allclose(clean_posterior, mixture.predict_proba(two_betas)[:, 1], atol=0)
    # About 70% of the samples come from the high component.
    assert abs(clean_mask.mean() - 0.7) < 0.03


def test_split_clean_threshold_moves_the_cut(two_betas):
    loose, posterior, _ = split_clean(two_betas, threshold=0.1)
    strict, _, _ = split_clean(two_betas, threshold=0.9)
    assert strict.sum() < loose.sum()
    assert_array_equal(strict, posterior >= 0.9)


@pytest.mark.parametrize(
    "scores",
    [
        np.full(100, 0.7),
        np.full(100, 0.0),
        np.array([0.3, 0.9, 0.1]),
        np.array([0.42]),
    ],
    ids=["all-equal", "all-zero", "three", "one"],
)
def test_without_evidence_every_sample_is_clean(scores):
    clean_mask, clean_posterior, mixture = split_clean(scores)
    assert_allclose(clean_posterior, 0.5, atol=0)
    assert clean_mask.all()
    assert mixture.n_iter_ == 0
    assert np.isfinite(mixture.alphas_).all() and np.isfinite(mixture.betas_).all()


def test_exact_zeros_and_ones_separate_cleanly():
    scores = np.r_[np.zeros(30), np.ones(70)]
    clean_mask, clean_posterior, mixture = split_clean(scores)
    assert not np.isnan(clean_posterior).any()
    assert_array_equal(clean_mask, scores == 1)
    assert_allclose(mixture.weights_, [0.3, 0.7], atol=1e-6)
    assert np.isfinite(mixture.pdf(np.array([0.0, 0.5, 1.0]))).all()


def test_near_constant_scores_stay_finite():
    scores = np.r_[np.full(999, 0.5), 0.6]
    mixture = BetaMixture().fit(scores)
    assert np.isfinite(mixture.predict_proba(scores)).all()
    assert np.isfinite(mixture.lower_bound_)


def test_fit_returns_self_and_keeps_parameters():
    params = dict(n_components=3, max_iter=40, tol=1e-3, eps=1e-3, random_state=7)
    mixture = BetaMixture(**params)
    assert mixture.fit(np.linspace(0, 1, 50)) is mixture
    assert mixture.get_params() == params
    assert clone(mixture).get_params() == params
    assert not hasattr(clone(mixture), "alphas_")


def test_fit_is_deterministic(two_betas):
    first = BetaMixture(random_state=1).fit(two_betas[::10])
    second = BetaMixture(random_state=2).fit(two_betas[::10])
    assert_array_equal(first.alphas_, second.alphas_)
    assert_array_equal(first.betas_, second.betas_)
    assert_array_equal(first.weights_, second.weights_)


def test_max_iter_limits_em(two_betas):
    mixture = BetaMixture(max_iter=1).fit(two_betas)
    assert mixture.n_iter_ == 1
    assert not mixture.converged_


def test_unfitted_mixture_raises_not_fitted():
    with pytest.raises(NotFittedError):
        BetaMixture().predict_proba([0.5])
    assert not hasattr(BetaMixture(), "means_")


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([], "must not be empty"),
        ([0.2, np.nan, 0.4], "finite"),
        ([0.2, 1.5], r"\[0, 1\]"),
        ([-0.1, 0.5], r"\[0, 1\]"),
        ([[0.2, 0.3]], "1-D"),
        (["a", "b"], "real numbers"),
    ],
)
def test_bad_scores_raise_input_error(scores, message):
    with pytest.raises(InputError, match=message):
        BetaMixture().fit(scores)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_components": 0}, "n_components"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"eps": 0.0}, "eps"),
        ({"eps": 0.5}, "eps"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_bad_parameters_raise_at_fit(params, message):
    mixture = BetaMixture(**params)  # sklearn convention: __init__ never validates
    with pytest.raises(InputError, match=message):
        mixture.fit([0.1, 0.9])


def test_split_clean_rejects_bad_threshold():
    with pytest.raises(InputError, match="threshold"):
        split_clean([0.1, 0.9], threshold=1.5)
