import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from inn_core.errors import InputError
from inn_core.method.mixture import BetaMixture, split_clean, split_clean_per_class


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
    # Converged before the cap (100), not stopped by it: 56 EM iterations on these data.
    assert 10 <= fitted.n_iter_ < fitted.max_iter
    assert np.isfinite(fitted.lower_bound_)


def test_a_cap_below_convergence_stops_em_unconverged(two_betas):
    capped = BetaMixture(max_iter=2).fit(two_betas)
    assert capped.n_iter_ == 2 and not capped.converged_


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
    scores=st.lists(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 0.5])), min_size=1, max_size=60),
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
    params = dict(n_components=3, max_iter=40, tol=1e-3, eps=1e-3, init="quantile", random_state=7)
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


# -- a split is a threshold on the score ----------------------------------------------------


def _adversarial_scores() -> np.ndarray:
    # A narrow noisy cluster at 0.3 and a broad clean one: far below 0.3 the broad clean
    # density out-weighs the narrow noisy one, so the raw posterior turns "clean" again.
    rng = np.random.default_rng(3)
    return np.concatenate([rng.beta(60, 140, size=3_000), rng.beta(2.0, 0.8, size=3_000), rng.uniform(0, 0.1, 150)])


def test_raw_posterior_of_the_adversarial_fit_is_not_monotone():
    scores = _adversarial_scores()
    mixture = BetaMixture().fit(scores)
    grid = np.linspace(0.001, 0.999, 999)
    raw = mixture.predict_proba(grid)[:, 1]
    assert (np.diff(raw) < -1e-6).any(), "the fixture must break the raw posterior, else the test below proves nothing"


def test_clean_posterior_is_monotone_and_the_split_a_threshold():
    scores = _adversarial_scores()
    clean, posterior, mixture = split_clean(scores)
    order = np.argsort(scores, kind="stable")
    assert (np.diff(posterior[order]) >= -1e-12).all()
    # Every sample scoring at least the lowest clean score is clean, and none below the noisy mean is.
    assert clean[scores >= scores[clean].min()].all()
    assert not clean[scores < mixture.means_[0]].any()
    grid = np.linspace(0, 1, 2001)
    assert (np.diff(mixture.clean_posterior(grid)) >= -1e-12).all()


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.3, 40),
    st.floats(0.3, 40),
    st.floats(0.3, 40),
    st.floats(0.3, 40),
    st.floats(0.05, 0.95),
    st.sampled_from(["quantile", "arazo"]),
)
def test_clean_posterior_is_monotone_for_any_fit(a0, b0, a1, b1, share, init):
    rng = np.random.default_rng(0)
    n0 = int(400 * share)
    scores = np.concatenate([rng.beta(a0, b0, size=n0), rng.beta(a1, b1, size=400 - n0)])
    mixture = BetaMixture(init=init).fit(scores)
    grid = np.linspace(0, 1, 1001)
    posterior = mixture.clean_posterior(grid)
    assert ((posterior >= 0) & (posterior <= 1)).all()
    assert (np.diff(posterior) >= -1e-12).all()


# -- Arazo et al. 2019's standard settings ----------------------------------------------------


def _arazo_reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arazo et al.'s BetaMixture1D.fit (their code, with numpy and scipy.stats)."""
    from scipy import stats

    x = np.clip(x, 1e-4, 1 - 1e-4)
    alphas, betas, weight = np.array([1.0, 2.0]), np.array([2.0, 1.0]), np.array([0.5, 0.5])
    for _ in range(10):
        r = np.array([weight[i] * stats.beta.pdf(x, alphas[i], betas[i]) for i in range(2)])
        r[r <= 1e-12] = 1e-12
        r /= r.sum(axis=0)
        for i in range(2):
            mean = np.sum(r[i] * x) / np.sum(r[i])
            var = np.sum(r[i] * (x - mean) ** 2) / np.sum(r[i])
            alphas[i] = mean * (mean * (1 - mean) / var - 1)
            betas[i] = alphas[i] * (1 - mean) / mean
        weight = r.sum(axis=1) / r.sum()
    return alphas, betas, weight


def test_arazo_settings_match_their_reference_fit(two_betas):
    mixture = BetaMixture(init="arazo").fit(two_betas)
    alphas, betas, weights = _arazo_reference(two_betas)
    order = np.argsort(alphas / (alphas + betas))
    assert mixture.n_iter_ == 10
    assert_allclose(mixture.alphas_, alphas[order], rtol=1e-6)
    assert_allclose(mixture.betas_, betas[order], rtol=1e-6)
    assert_allclose(mixture.weights_, weights[order], rtol=1e-6)
    # Ten iterations stop short of convergence (the noisy mean is still near 0.3), as theirs do.
    assert mixture.means_[0] < 0.35 and mixture.means_[1] > 0.75


def test_arazo_settings_need_two_components():
    with pytest.raises(InputError, match="exactly 2 components"):
        BetaMixture(3, init="arazo").fit(np.linspace(0, 1, 50))
    with pytest.raises(InputError, match="unknown init"):
        BetaMixture(init="kmeans").fit(np.linspace(0, 1, 50))


# -- per-class split --------------------------------------------------------------------------


def _weak_class() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Class 0's clean samples score lower (0.4) than class 1's (0.9): one global mixture puts
    # them with the noisy samples, a mixture per class does not.
    rng = np.random.default_rng(1)
    scores = np.concatenate([rng.beta(40, 60, 300), rng.beta(5, 45, 300), rng.beta(90, 10, 300), rng.beta(15, 35, 300)])
    labels = np.repeat([0, 0, 1, 1], 300)
    clean = np.repeat([True, False, True, False], 300)
    return scores, labels, clean


def test_per_class_split_keeps_a_weak_class():
    scores, labels, clean = _weak_class()
    global_mask, _, _ = split_clean(scores)
    per_class, posterior = split_clean_per_class(scores, labels)
    weak = (labels == 0) & clean
    assert global_mask[weak].mean() < 0.2
    assert per_class[weak].mean() > 0.9
    assert per_class[clean].mean() > 0.9 and not per_class[~clean].mean() > 0.1
    for c in (0, 1):
        order = np.argsort(scores[labels == c])
        assert (np.diff(posterior[labels == c][order]) >= -1e-12).all()


def test_per_class_split_falls_back_to_global_for_small_classes():
    scores, labels, _ = _weak_class()
    labels = labels.copy()
    labels[:5] = 7  # a class of 5 samples takes the global mixture's posterior
    _, posterior = split_clean_per_class(scores, labels)
    assert_allclose(posterior[:5], split_clean(scores)[1][:5])
    with pytest.raises(InputError, match="same length"):
        split_clean_per_class(scores, labels[:-1])
