"""Two-cluster split of INN scores with a Beta mixture model.

The paper (Appendix D.1, INN+DivideMix) fits a two-component Beta Mixture
Model to the INN scores with EM and treats samples whose posterior of the
*clean* cluster - the component with the larger mean - exceeds 0.5 as
labelled data. :class:`BetaMixture` is that model as a scikit-learn style
estimator; :func:`split_clean` is the split.

EM follows Arazo et al. (2019, "Unsupervised label noise modeling and loss
correction"): the E-step uses exact Beta log densities, the M-step matches each
component's weighted mean and variance (method of moments), since Beta maximum
likelihood has no closed form. ``init="arazo"`` is their standard setting
(components start as Beta(1, 2) and Beta(2, 1) with equal weights, 10 EM
iterations); the default ``init="quantile"`` starts from the rank halves of the
scores and iterates to convergence.

The raw posterior of a two-Beta mixture need not be monotone in the score: a
broad clean component can out-weigh a narrow noisy one far below the noisy mean
(and a broad noisy component a narrow clean one far above the clean mean).
:meth:`BetaMixture.clean_posterior` removes both tails analytically - as Arazo
et al.'s code does with its look-up table - so a split is a threshold on the
score. :func:`split_clean_per_class` fits one mixture per observed class, a
departure from Algorithm D.1 (one global mixture) for small, heavily noisy data
where a global split can drop a weak class whole.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.special import betaln, logsumexp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from inn_core._validation import as_generator, check_int
from inn_core.errors import InputError

__all__ = ["BetaMixture", "MIXTURE_INITS", "split_clean", "split_clean_per_class"]

#: How EM starts: name -> what it does.
MIXTURE_INITS = {
    "quantile": "components start from the rank quantiles of the scores; EM runs to convergence (max_iter)",
    "arazo": "Arazo et al. 2019: Beta(1, 2) and Beta(2, 1), equal weights, 10 EM iterations",
}
_ARAZO_ITERATIONS = 10

# Below this many scores EM is not attempted (see BetaMixture.fit).
_MIN_SAMPLES = 10
# alpha + beta of every component is kept in this range: the lower end keeps
# both shape parameters positive when a component's variance reaches the
# Bernoulli limit m (1 - m); the upper end keeps a component fitted to
# (nearly) identical scores a finite, very narrow peak instead of a spike.
_MIN_CONCENTRATION = 1e-2
_MAX_CONCENTRATION = 1e6
# Added to each component's total responsibility so an emptied component keeps
# a defined mean and a non-zero weight (as scikit-learn's GaussianMixture does).
_RESPONSIBILITY_FLOOR = 10 * np.finfo(np.float64).eps


class BetaMixture(BaseEstimator):
    """Mixture of Beta distributions on scores in [0, 1], fitted by EM.

    Parameters
    ----------
    n_components : int, default 2
        Number of Beta components, ``>= 1``.
    max_iter : int, default 100
        Most EM iterations, ``>= 1``.
    tol : float, default 1e-5
        EM stops when the mean per-sample log-likelihood changes by less.
    eps : float, default 1e-4
        Scores are clipped into ``[eps, 1 - eps]`` (Beta densities are
        infinite or zero at exactly 0 and 1); ``0 < eps < 0.5``.
    init : {"quantile", "arazo"}, default "quantile"
        See :data:`MIXTURE_INITS`. ``"arazo"`` needs ``n_components == 2``
        and runs exactly 10 EM iterations (``max_iter`` and ``tol`` unused).
    random_state : None, int or numpy.random.Generator
        Kept for scikit-learn compatibility (``clone``, grid search). The fit
        is deterministic, so it is not used.

    Attributes
    ----------
    alphas_, betas_ : (n_components,) float
        Beta shape parameters, components ordered by increasing mean.
    weights_ : (n_components,) float
        Mixing weights, positive, summing to 1.
    n_iter_ : int
        EM iterations run (0 for the fallback below).
    converged_ : bool
        Whether the tolerance was reached within ``max_iter``.
    lower_bound_ : float
        Mean per-sample log-likelihood of the (clipped) training scores under
        the fitted model, as in scikit-learn's ``GaussianMixture``.
    """

    def __init__(
        self,
        n_components: int = 2,
        *,
        max_iter: int = 100,
        tol: float = 1e-5,
        eps: float = 1e-4,
        init: str = "quantile",
        random_state=None,
    ) -> None:
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.eps = eps
        self.init = init
        self.random_state = random_state

    def fit(self, scores) -> BetaMixture:
        """Fit the mixture to ``scores``.

        Parameters
        ----------
        scores : (n,) float in [0, 1]
            Non-empty, finite.

        Returns
        -------
        self : BetaMixture

        Notes
        -----
        With fewer than 10 scores, or when all clipped scores are equal, the
        components cannot be told apart: one Beta is moment-matched to all
        scores and shared by every component with equal weights, so
        :meth:`predict_proba` gives ``1 / n_components`` everywhere (and
        :func:`split_clean` marks every sample clean at the default
        threshold - nothing is flagged without evidence).
        """
        self._check_params()
        x = self._clipped(scores, allow_empty=False)
        log_x, log_1mx = np.log(x), np.log1p(-x)
        if x.size < _MIN_SAMPLES or x.min() == x.max():
            alpha, beta = _moments_to_shapes(np.array([x.mean()]), np.array([x.var()]), self.eps)
            self.alphas_ = np.repeat(alpha, self.n_components)
            self.betas_ = np.repeat(beta, self.n_components)
            self.weights_ = np.full(self.n_components, 1.0 / self.n_components)
            self.n_iter_, self.converged_ = 0, True
        else:
            self._run_em(x, log_x, log_1mx)
        log_norm, _ = self._e_step(log_x, log_1mx)
        self.lower_bound_ = float(log_norm.mean())
        return self

    def predict_proba(self, scores) -> np.ndarray:
        """Posterior probability of each component.

        Parameters
        ----------
        scores : (n,) float in [0, 1]
            May be empty.

        Returns
        -------
        (n, n_components) float ndarray
            In [0, 1], rows sum to 1, columns in the order of ``means_``.
        """
        self._check_fitted()
        x = self._clipped(scores, allow_empty=True)
        _, responsibilities = self._e_step(np.log(x), np.log1p(-x))
        return responsibilities

    def pdf(self, x) -> np.ndarray:
        """Weighted component densities, to draw the fit over a score histogram.

        Parameters
        ----------
        x : (m,) float in [0, 1]
            Evaluation points, clipped into ``[eps, 1 - eps]`` like the scores.

        Returns
        -------
        (m, n_components) float ndarray
            ``weights_[j] * Beta(x; alphas_[j], betas_[j])``, finite and
            ``>= 0``; the row sums are the mixture density.
        """
        self._check_fitted()
        points = self._clipped(x, allow_empty=True)
        return np.exp(self._weighted_log_pdf(np.log(points), np.log1p(-points)))

    def clean_posterior(self, scores) -> np.ndarray:
        """Posterior of the higher-mean (clean) component, made non-decreasing in the score.

        The log-odds of two Beta components, ``(a1 - a0) log x + (b1 - b0) log(1 - x) + c``,
        has at most one extremum in (0, 1), at ``x* = da / (da + db)`` when ``da`` and ``db``
        share a sign. A maximum (both positive: the clean component is the narrower one) is
        flattened above ``x*``, a minimum (both negative) below ``x*``; elsewhere the raw
        posterior is already monotone. So ``clean_posterior(s) >= t`` is ``s >= c`` for some
        score ``c``: a threshold on the score.

        Parameters
        ----------
        scores : (n,) float in [0, 1]

        Returns
        -------
        (n,) float ndarray in [0, 1], non-decreasing in ``scores``.
        """
        self._check_fitted()
        x = self._clipped(scores, allow_empty=True)
        clean, noisy = int(np.argmax(self.means_)), int(np.argmin(self.means_))
        if self.n_components != 2 or clean == noisy:
            return self.predict_proba(scores)[:, clean]
        da = self.alphas_[clean] - self.alphas_[noisy]
        db = self.betas_[clean] - self.betas_[noisy]
        if da * db > 0:
            turn = np.clip(da / (da + db), self.eps, 1 - self.eps)
            x = np.minimum(x, turn) if da > 0 else np.maximum(x, turn)
        _, responsibilities = self._e_step(np.log(x), np.log1p(-x))
        return responsibilities[:, clean]

    @property
    def means_(self) -> np.ndarray:
        """(n_components,) float: component means ``alpha / (alpha + beta)``, increasing."""
        self._check_fitted()
        return self.alphas_ / (self.alphas_ + self.betas_)

    def _run_em(self, x: np.ndarray, log_x: np.ndarray, log_1mx: np.ndarray) -> None:
        if self.init == "arazo":
            self._run_arazo(x, log_x, log_1mx)
            return
        # Start from hard assignments to rank quantiles: deterministic, and on
        # ties the stable sort keeps sample order.
        ranks = np.empty(x.size, dtype=np.int64)
        ranks[np.argsort(x, kind="stable")] = np.arange(x.size)
        responsibilities = np.eye(self.n_components)[ranks * self.n_components // x.size]
        self._m_step(x, responsibilities)
        previous = -np.inf
        self.converged_ = False
        for iteration in range(1, self.max_iter + 1):  # noqa: B007 - read after the loop, as n_iter_
            log_norm, responsibilities = self._e_step(log_x, log_1mx)
            self._m_step(x, responsibilities)
            current = float(log_norm.mean())
            if abs(current - previous) < self.tol:
                self.converged_ = True
                break
            previous = current
        self.n_iter_ = iteration
        order = np.argsort(self.alphas_ / (self.alphas_ + self.betas_), kind="stable")
        self.alphas_, self.betas_, self.weights_ = self.alphas_[order], self.betas_[order], self.weights_[order]

    def _run_arazo(self, x: np.ndarray, log_x: np.ndarray, log_1mx: np.ndarray) -> None:
        # Arazo et al.'s BetaMixture1D: fixed start, fixed number of EM iterations. Their
        # weights are the responsibilities' column sums normalised, as in _m_step.
        self.alphas_, self.betas_ = np.array([1.0, 2.0]), np.array([2.0, 1.0])
        self.weights_ = np.array([0.5, 0.5])
        for _ in range(_ARAZO_ITERATIONS):
            _, responsibilities = self._e_step(log_x, log_1mx)
            self._m_step(x, responsibilities)
        self.n_iter_, self.converged_ = _ARAZO_ITERATIONS, True
        order = np.argsort(self.alphas_ / (self.alphas_ + self.betas_), kind="stable")
        self.alphas_, self.betas_, self.weights_ = self.alphas_[order], self.betas_[order], self.weights_[order]

    def _m_step(self, x: np.ndarray, responsibilities: np.ndarray) -> None:
        totals = responsibilities.sum(axis=0) + _RESPONSIBILITY_FLOOR
        means = (responsibilities * x[:, None]).sum(axis=0) / totals
        variances = (responsibilities * (x[:, None] - means) ** 2).sum(axis=0) / totals
        self.alphas_, self.betas_ = _moments_to_shapes(means, variances, self.eps)
        self.weights_ = totals / totals.sum()

    def _e_step(self, log_x: np.ndarray, log_1mx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weighted = self._weighted_log_pdf(log_x, log_1mx)
        log_norm = logsumexp(weighted, axis=1)
        responsibilities = np.exp(weighted - log_norm[:, None])
        # Renormalised so rows sum to 1 to rounding and equal components give
        # exactly 1 / n_components (0.5 must pass a 0.5 threshold).
        return log_norm, responsibilities / responsibilities.sum(axis=1, keepdims=True)

    def _weighted_log_pdf(self, log_x: np.ndarray, log_1mx: np.ndarray) -> np.ndarray:
        # Beta log density written out (as scipy.stats.beta.logpdf computes
        # it) so that log x and log(1 - x) are taken once, not per iteration.
        return (
            (self.alphas_ - 1) * log_x[:, None]
            + (self.betas_ - 1) * log_1mx[:, None]
            - betaln(self.alphas_, self.betas_)
            + np.log(self.weights_)
        )

    def _clipped(self, scores, *, allow_empty: bool) -> np.ndarray:
        x = np.asarray(scores)
        if x.ndim != 1:
            raise InputError(f"scores must be a 1-D array, got shape {x.shape}")
        if x.dtype.kind not in "iuf":
            raise InputError(f"scores must be real numbers, got dtype {x.dtype}")
        if x.size == 0 and not allow_empty:
            raise InputError("scores must not be empty; pass at least one score in [0, 1]")
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise InputError("scores must be finite; found NaN or infinity")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise InputError(f"scores must lie in [0, 1], got values in [{x.min():g}, {x.max():g}]")
        return np.clip(x, self.eps, 1 - self.eps)

    def _check_params(self) -> None:
        check_int("n_components", self.n_components, low=1)
        check_int("max_iter", self.max_iter, low=1)
        if not isinstance(self.tol, Real) or not self.tol >= 0:
            raise InputError(f"tol must be a number >= 0, got {self.tol!r}")
        if not isinstance(self.eps, Real) or not 0 < self.eps < 0.5:
            raise InputError(f"eps must be in (0, 0.5), got {self.eps!r}")
        if self.init not in MIXTURE_INITS:
            raise InputError(f"unknown init {self.init!r}; choose one of {', '.join(MIXTURE_INITS)}")
        if self.init == "arazo" and self.n_components != 2:
            raise InputError(f"init='arazo' fits exactly 2 components, got n_components={self.n_components}")
        as_generator(self.random_state)  # a negative seed or a string is an InputError here, not at fit

    def _check_fitted(self) -> None:
        if not hasattr(self, "alphas_"):
            raise NotFittedError("this BetaMixture is not fitted yet; call fit(scores) first")


def _moments_to_shapes(means: np.ndarray, variances: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Beta shapes with the given means and variances, concentration kept in range."""
    means = np.clip(means, eps, 1 - eps)
    concentration = means * (1 - means) / np.maximum(variances, np.finfo(np.float64).tiny) - 1
    concentration = np.clip(concentration, _MIN_CONCENTRATION, _MAX_CONCENTRATION)
    return means * concentration, (1 - means) * concentration


def split_clean(
    scores, *, threshold: float = 0.5, init: str = "quantile", random_state=None
) -> tuple[np.ndarray, np.ndarray, BetaMixture]:
    """Split samples into clean and noisy by a two-component Beta mixture.

    Parameters
    ----------
    scores : (n,) float in [0, 1]
        Higher means more likely clean (INN scores). Non-empty, finite.
    threshold : float in [0, 1], keyword-only
        A sample is clean when its clean posterior is ``>= threshold``.
    init : {"quantile", "arazo"}, keyword-only
        How EM starts (:data:`MIXTURE_INITS`).
    random_state : None, int or numpy.random.Generator, keyword-only
        Passed to :class:`BetaMixture`.

    Returns
    -------
    clean_mask : (n,) bool ndarray
        ``clean_posterior >= threshold``: every sample scoring at least as high as a clean one
        is clean (the posterior is monotone, see :meth:`BetaMixture.clean_posterior`).
    clean_posterior : (n,) float ndarray in [0, 1]
        Monotone posterior of the component with the larger mean.
    mixture : BetaMixture
        The fitted mixture (for plotting with :meth:`BetaMixture.pdf`).

    Notes
    -----
    With fewer than 10 scores or all scores equal the posterior is 0.5 for
    every sample (see :meth:`BetaMixture.fit`), so every sample is clean at
    the default threshold.
    """
    _check_threshold(threshold)
    mixture = BetaMixture(n_components=2, init=init, random_state=random_state).fit(scores)
    clean_posterior = mixture.clean_posterior(scores)
    return clean_posterior >= threshold, clean_posterior, mixture


def split_clean_per_class(
    scores,
    labels,
    *,
    threshold: float = 0.5,
    init: str = "quantile",
    min_samples: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """One Beta-mixture split per observed class (a departure from Algorithm D.1).

    Under heavy noise on small data one global mixture can label almost none of a class whose
    clean samples score lower than the others' (digits at 80 % symmetric noise lost 8s this
    way). Fitting each class's scores separately keeps every class represented in the
    labelled set. Classes with fewer than ``min_samples`` samples use the global mixture.

    Parameters
    ----------
    scores : (n,) float in [0, 1]
    labels : (n,) int, observed labels
    threshold, init : as in :func:`split_clean`.
    min_samples : int >= 10, keyword-only

    Returns
    -------
    clean_mask : (n,) bool ndarray; clean_posterior : (n,) float ndarray in [0, 1], monotone in
    the score within each class.
    """
    _check_threshold(threshold)
    labels = np.asarray(labels)
    x = np.asarray(scores)
    if labels.shape != x.shape:
        raise InputError(
            f"scores and labels must be the same length, but scores is {x.shape} and labels {labels.shape}"
        )
    if not isinstance(min_samples, Integral) or min_samples < _MIN_SAMPLES:
        raise InputError(f"min_samples must be an integer >= {_MIN_SAMPLES}, got {min_samples!r}")
    _, posterior, _ = split_clean(x, threshold=threshold, init=init)
    for c in np.unique(labels):
        members = labels == c
        if members.sum() >= min_samples:
            posterior[members] = split_clean(x[members], threshold=threshold, init=init)[1]
    return posterior >= threshold, posterior


def _check_threshold(threshold) -> None:
    if not isinstance(threshold, Real) or not 0 <= threshold <= 1:
        raise InputError(f"threshold must be in [0, 1], got {threshold!r}")
