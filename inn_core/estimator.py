"""``INNDetector``: INN as a scikit-learn estimator, for pipelines, ``clone`` and grid searches.

``__init__`` only stores parameters; :meth:`INNDetector.fit` does the work through
:func:`inn_core.find_noisy_labels` and returns ``self``; learned attributes end in ``_``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["INNDetector"]


class INNDetector(BaseEstimator):
    """Find likely wrong labels with INN, scikit-learn style.

    Parameters
    ----------
    L, H : neighbours per sample and trapezoids per path.
    model : a registered model name, or None for the default by input shape.
    epochs, batch_size, lr, weight_decay : SGD training of both models.
    filter_by, k, fraction, threshold : how scores become the ``is_noisy_`` mask
        (see :func:`inn_core.find_noisy_labels`).
    device : "auto", "cpu" or "cuda".
    random_state : seed; the same seed gives the same result on the CPU.
    verbose : a tqdm progress bar while training.

    Attributes
    ----------
    scores_ : (n,) float in [0, 1] - the INN score; low = likely wrong label.
    is_noisy_ : (n,) bool - True where the label is likely wrong.
    ranked_indices_ : (m,) int64 - the flagged indices, lowest score first.
    suggested_labels_ : (n,) int64 - the MixUp model's prediction per sample.
    pred_probs_ : (n, K) float - its class probabilities (in-sample).
    clean_posterior_ : (n,) float in [0, 1] - the Beta mixture's clean posterior.
    neighbor_indices_ : (n, L) int64 - each sample's nearest neighbours.
    n_features_in_ : int - features per sample (vectors), or the flattened image size.

    Examples
    --------
    >>> detector = INNDetector(L=10, H=10, epochs=30, random_state=0).fit(X, y)   # doctest: +SKIP
    >>> detector.ranked_indices_[:5]                                             # doctest: +SKIP
    """

    def __init__(
        self,
        L: int = 10,
        H: int = 10,
        *,
        model: str | None = None,
        epochs: int = 40,
        batch_size: int = 64,
        lr: float = 0.05,
        weight_decay: float = 5e-4,
        filter_by: str = "beta_mixture",
        k: int | None = None,
        fraction: float | None = None,
        threshold: float | None = None,
        device: str = "auto",
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.L = L
        self.H = H
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.filter_by = filter_by
        self.k = k
        self.fraction = fraction
        self.threshold = threshold
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y) -> INNDetector:
        """Score every sample of ``(X, y)``.

        Parameters
        ----------
        X : (n, d) feature vectors or (n, C, H, W) images.
        y : (n,) int labels in [0, K).
        """
        from inn_core.api import find_noisy_labels

        result = find_noisy_labels(
            X,
            y,
            model=self.model,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            L=self.L,
            H=self.H,
            device=self.device,
            random_state=self.random_state,
            filter_by=self.filter_by,
            k=self.k,
            fraction=self.fraction,
            threshold=self.threshold,
            verbose=self.verbose,
        )
        self.scores_ = result.scores
        self.is_noisy_ = result.is_noisy
        self.ranked_indices_ = result.ranked_indices
        self.suggested_labels_ = result.suggested_labels
        self.pred_probs_ = result.pred_probs
        self.clean_posterior_ = result.clean_posterior
        self.neighbor_indices_ = result.neighbor_indices
        self.n_features_in_ = int(np.prod(np.shape(X)[1:]))
        self.result_ = result
        return self

    def to_frame(self):
        """The fitted result in cleanlab Datalab's columns (see :meth:`NoisyLabels.to_frame`)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "scores_")
        return self.result_.to_frame()
