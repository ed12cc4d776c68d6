"""Two-cluster split of INN scores with a Beta mixture model.

The paper (Appendix D.1, INN+DivideMix) fits a two-component Beta Mixture
Model to the INN scores with EM and treats samples whose posterior of the
*clean* cluster - the component with the larger mean - exceeds 0.5 as
labelled data. :class:`BetaMixture` is that model as a scikit-learn style
estimator; :func:`split_clean` is the split.

EM follows Arazo et al. (2019, "Unsupervised label noise modeling and loss
correction"): the E-step uses exact Beta log densities, the M-step matches each
component's weighted mean and variance (method of moments), since Beta maximum
likelihood has no closed form.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from scipy.special import betaln, logsumexp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from inn_core._validation import as_generator, check_int
from inn_core.errors import InputError

__all__ = ["BetaMixture", "split_clean"]

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
    random_state : None, int or numpy.random.Generator
        Kept for scikit-learn compatibility (``clone``, grid search). The fit
        is deterministic - components start from the rank quantiles of the
        scores - so it is not used.

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
        random_state=None,
    ) -> None:
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.eps = eps
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

    @property
    def means_(self) -> np.ndarray:
        """(n_components,) float: component means ``alpha / (alpha + beta)``, increasing."""
        self._check_fitted()
        return self.alphas_ / (self.alphas_ + self.betas_)

    def _run_em(self, x: np.ndarray, log_x: np.ndarray, log_1mx: np.ndarray) -> None:
        # Start from hard assignments to rank quantiles: deterministic, and on
        # ties the stable sort keeps sample order.
        ranks = np.empty(x.size, dtype=np.int64)
        ranks[np.argsort(x, kind="stable")] = np.arange(x.size)
        responsibilities = np.eye(self.n_components)[ranks * self.n_components // x.size]
        self._m_step(x, responsibilities)
        previous = -np.inf
        self.converged_ = False
        for iteration in range(1, self.max_iter + 1):
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
    scores, *, threshold: float = 0.5, random_state=None
) -> tuple[np.ndarray, np.ndarray, BetaMixture]:
    """Split samples into clean and noisy by a two-component Beta mixture.

    Parameters
    ----------
    scores : (n,) float in [0, 1]
        Higher means more likely clean (INN scores). Non-empty, finite.
    threshold : float in [0, 1], keyword-only
        A sample is clean when its clean posterior is ``>= threshold``.
    random_state : None, int or numpy.random.Generator, keyword-only
        Passed to :class:`BetaMixture`.

    Returns
    -------
    clean_mask : (n,) bool ndarray
        ``clean_posterior >= threshold``.
    clean_posterior : (n,) float ndarray in [0, 1]
        Posterior of the component with the larger mean.
    mixture : BetaMixture
        The fitted mixture (for plotting with :meth:`BetaMixture.pdf`).

    Notes
    -----
    With fewer than 10 scores or all scores equal the posterior is 0.5 for
    every sample (see :meth:`BetaMixture.fit`), so every sample is clean at
    the default threshold.
    """
    if not isinstance(threshold, Real) or not 0 <= threshold <= 1:
        raise InputError(f"threshold must be in [0, 1], got {threshold!r}")
    mixture = BetaMixture(n_components=2, random_state=random_state).fit(scores)
    clean_posterior = mixture.predict_proba(scores)[:, int(np.argmax(mixture.means_))]
    return clean_posterior >= threshold, clean_posterior, mixture
