"""The registry of scoring methods: name -> label, description, scorer and the models it needs.

Like cleanlab's ``rank.py`` with its ``scoring_funcs``, one table says which clean/noisy detectors
exist; the experiment scores with every method its models allow, the dashboard and the CLI take
their names, labels and order from here, and every ``scores_<method>`` array name is made and read
here. A new method is one entry of :data:`METHODS`::

    METHODS["my_method"] = ScoringMethod(
        label="My method", description="what it computes", needs=("mixup",),
        scorer=lambda g: my_scores(g.models["mixup"], g.inputs, g.observed))

All scores: ``(n,)`` float, higher = more likely clean. The scorers import the scoring primitives when
first called, so the names and labels cost no torch import (the CLI's help, the review table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "ScoringInputs",
    "ScoringMethod",
    "METHODS",
    "OUT_OF_FOLD",
    "SCORES_PREFIX",
    "POSTERIOR_PREFIX",
    "method_label",
    "order_methods",
    "methods_in",
    "score_key",
    "posterior_key",
]

SCORES_PREFIX = "scores_"
POSTERIOR_PREFIX = "posterior_"


@dataclass(frozen=True, eq=False)
class ScoringInputs:
    """What a scorer may use, computed once per evaluation.

    Attributes
    ----------
    models : role ("ce", "ce_ne", "mixup", ...) -> trained model.
    inputs : (n, ...) float32 training inputs.  observed : (n,) int observed labels.
    neighbors : (n, L) int - each sample's L nearest neighbours in the feature space of ``h``.
    features : (n, d) float32 - that feature space.
    H : trapezoids per path.  device : where to compute.
    rows : (m,) int - score only these samples (one rank's shard under ``torchrun``); ``None`` = all.
        A scorer returns ``(m,)`` scores for them; one that ignores ``rows`` and returns ``(n,)`` is
        still right, only unsharded.
    """

    models: Mapping[str, nn.Module]
    inputs: torch.Tensor
    observed: np.ndarray
    neighbors: np.ndarray
    features: np.ndarray
    H: int
    device: str | torch.device = "auto"
    rows: np.ndarray | None = None

    def take(self, values):
        """``values`` ((n, ...) array or tensor) at :attr:`rows`; ``values`` itself when scoring all."""
        if self.rows is None:
            return values
        return values[self.rows] if isinstance(values, np.ndarray) else values[_index(self.rows)]


def _index(rows: np.ndarray):
    import torch

    return torch.from_numpy(np.asarray(rows))


@dataclass(frozen=True)
class ScoringMethod:
    """One clean/noisy detector.

    Attributes
    ----------
    label : its display name.  description : one line on what it computes.
    scorer : ``scorer(inputs: ScoringInputs) -> (n,) float``, higher = more likely clean.
    needs : model roles it scores with; the method is skipped when one of them was not trained.
    """

    label: str
    description: str
    scorer: Callable[[ScoringInputs], np.ndarray]
    needs: tuple[str, ...] = ()

    def available(self, models: Iterable[str]) -> bool:
        return set(self.needs) <= set(models)


def _inn(g: ScoringInputs) -> np.ndarray:
    from inn_core.method.models import EmbeddingHead
    from inn_core.method.scoring import inn_scores

    model = g.models["mixup"]
    if isinstance(model, EmbeddingHead):
        # Embedding space: the same equation (1), interpolated after the head's affine first layer;
        # cheap enough to score every row, so it ignores a rank's shard.
        from inn_core.method.embedding_inn import head_inn_scores

        return head_inn_scores(model, g.inputs, g.observed, g.neighbors, H=g.H, device=g.device)
    return inn_scores(model, g.inputs, g.observed, g.neighbors, H=g.H, device=g.device, sample_indices=g.rows)


def _mixup_fy(g: ScoringInputs) -> np.ndarray:
    from inn_core.method.scoring import label_probabilities

    return label_probabilities(g.models["mixup"], g.take(g.inputs), g.take(g.observed), device=g.device)


def _small_loss(role: str) -> Callable[[ScoringInputs], np.ndarray]:
    def scorer(g: ScoringInputs) -> np.ndarray:
        from inn_core.method.scoring import small_loss_scores

        return small_loss_scores(g.models[role], g.take(g.inputs), g.take(g.observed), device=g.device)

    return scorer


def _deep_knn(g: ScoringInputs) -> np.ndarray:
    from inn_core.method.scoring import deep_knn_scores

    return deep_knn_scores(g.observed, g.neighbors)  # cheap: every rank scores all (ignores rows)


def _cleanlab(g: ScoringInputs) -> np.ndarray:
    from inn_core.method.confident import self_confidence_scores

    return self_confidence_scores(g.observed, g.models[OUT_OF_FOLD])


#: The pseudo-role under which cleanlab's scorer finds its (n, K) out-of-fold probabilities. No
#: trained model has it, so evaluation epochs skip cleanlab; the run scores it once at the end
#: (:mod:`inn_core.runs.cleanlab_step`), after training its K fold models.
OUT_OF_FOLD = "out_of_fold_probabilities"

#: Scoring methods, in the order tables and charts list them.
METHODS: dict[str, ScoringMethod] = {
    "inn": ScoringMethod(
        label="INN",
        description="INN: f_y integrated along the paths to the L nearest neighbours (MixUp model f)",
        needs=("mixup",),
        scorer=_inn,
    ),
    "ce": ScoringMethod(
        label="small-loss (CE)",
        description="small-loss of the CE model (minus the per-sample cross-entropy)",
        needs=("ce",),
        scorer=_small_loss("ce"),
    ),
    "ce_ne": ScoringMethod(
        label="small-loss (CE+NE)",
        description="small-loss of the CE + negative-entropy model",
        needs=("ce_ne",),
        scorer=_small_loss("ce_ne"),
    ),
    "deep_knn": ScoringMethod(
        label="Deep k-NN",
        description="Deep k-NN: fraction of the L neighbours that share the label",
        scorer=_deep_knn,
    ),
    "mixup_fy": ScoringMethod(
        label="f_y(x) of the MixUp model",
        description="f_y(x) of the MixUp model at the sample itself (INN without the neighbour paths)",
        needs=("mixup",),
        scorer=_mixup_fy,
    ),
    "cleanlab": ScoringMethod(
        label="cleanlab",
        description="cleanlab (confident learning): self-confidence p_y of K-fold out-of-fold CE probabilities; "
        "scored once, at the last epoch",
        needs=(OUT_OF_FOLD,),
        scorer=_cleanlab,
    ),
}


def method_label(name: str) -> str:
    """The display name of a method (its name where it is not registered)."""
    method = METHODS.get(name)
    return method.label if method is not None else name


def order_methods(names: Iterable[str]) -> list[str]:
    """Registered methods in registry order, then any others alphabetically."""
    names = set(names)
    return [m for m in METHODS if m in names] + sorted(names - set(METHODS))


def score_key(name: str) -> str:
    """The array name of a method's scores in an epoch file: ``scores_<name>``."""
    return f"{SCORES_PREFIX}{name}"


def posterior_key(name: str) -> str:
    """The array name of a method's Beta-mixture clean posteriors: ``posterior_<name>``."""
    return f"{POSTERIOR_PREFIX}{name}"


def methods_in(keys: Iterable[str]) -> list[str]:
    """The methods that have scores among an epoch file's array names, in :func:`order_methods` order."""
    return order_methods(k.removeprefix(SCORES_PREFIX) for k in keys if k.startswith(SCORES_PREFIX))
