"""The consistency effect on a 2-D toy: the paper's Figures 1 and 2, computed live for the landing page.

:func:`consistency_toy` trains an MLP full-batch on seeded 2-D blobs with flipped labels
(cross-entropy by default, MixUp on request) and returns, as plain arrays, Figure 2's means over
training, the probability surface ``f_y`` of one label, one clean and one noisy point carrying that
label, their ``L`` nearest neighbours and ``f_y`` along the straight paths to them (whose mean area
is the INN score). :func:`toy_summary` gives the numbers as JSON-ready dicts (``python -m inn_core
toy --json``). It goes through the engine's public pieces; nothing imports a user interface.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from inn_core._validation import check_int, check_real
from inn_core.data.datasets import load_dataset
from inn_core.data.noise import NoiseSpec, inject_noise
from inn_core.errors import InputError
from inn_core.method.metrics import clean_noisy_auc, consistency_means
from inn_core.method.models import create_model
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.scoring import inn_scores, label_probabilities
from inn_core.method.threads import torch_threads
from inn_core.method.training import mixup_batch

__all__ = [
    "TOY_OBJECTIVES",
    "ToyConfig",
    "ToyPoint",
    "ToyResult",
    "consistency_toy",
    "toy_summary",
]

#: Training objectives the toy offers.
TOY_OBJECTIVES = ("ce", "mixup")


#: The toy's optimiser: full-batch Adam at this learning rate. With 500 full-batch steps the
#: 64-wide MLP fits the best-fitted wrong label to f_y >= 0.97 on seeds 0-2 (300 steps left
#: seed 0 at 0.79), while that point's INN score stays at 0.14-0.42.
_TOY_LR = 0.03
#: Figure 2's means are taken at about this many points of training.
_TOY_MEAN_POINTS = 20


@dataclass(frozen=True)
class ToyConfig:
    """The toy experiment behind the landing page's sliders.

    The defaults are chosen so that the consistency effect is plain: tight blobs with few wrong
    labels, each wrong label alone among correct neighbours, and a cross-entropy network with the
    capacity and the training (500 full-batch steps) to memorise it - ``f_y`` is high at the
    noisy point itself yet falls along every path to its neighbours.

    Parameters
    ----------
    noise_rate : float in [0, 0.9]
        Fraction of labels flipped to a different class (symmetric "flip" noise, so the
        rate is the share of wrong labels, as the slider says).
    L : int in [1, 30]
        Neighbours per point (found in the 2-D input space, where the paths are drawn).
    H : int in [1, 50]
        Trapezoids per path.
    epochs : int in [1, 2000]
        Full-batch training steps (one step is one epoch: every point in every step).
    n_samples : int in [30, 2000]
        Training points.
    num_classes : int in [2, 6]
        Gaussian blobs on a circle.
    spread : float in (0, 3]
        Standard deviation of each blob (before standardising), so how much classes overlap.
    grid_size : int in [10, 200]
        The surface is evaluated on a ``grid_size x grid_size`` grid.
    seed : int >= 0
        Seeds the points, the noise, the initialisation and MixUp's draws.
    objective : "ce" or "mixup"
        How the MLP is trained: plain cross-entropy (the default: it memorises wrong labels, the
        situation INN is built for) or MixUp (INN's ``f`` in the paper: a smoother ``f``).
    """

    noise_rate: float = 0.1
    L: int = 5
    H: int = 10
    epochs: int = 500
    n_samples: int = 200
    num_classes: int = 3
    spread: float = 0.7
    grid_size: int = 60
    seed: int = 0
    objective: str = "ce"

    def __post_init__(self) -> None:
        if self.objective not in TOY_OBJECTIVES:
            raise InputError(f"objective must be one of {', '.join(TOY_OBJECTIVES)}, got {self.objective!r}")
        # At most 0.9, so that some labels stay correct.
        object.__setattr__(self, "noise_rate", check_real("noise_rate", self.noise_rate, low=0, high=0.9))
        for name, low, high in (
            ("L", 1, 30),
            ("H", 1, 50),
            ("epochs", 1, 2000),
            ("n_samples", 30, 2000),
            ("num_classes", 2, 6),
            ("grid_size", 10, 200),
        ):
            object.__setattr__(self, name, check_int(name, getattr(self, name), low=low, high=high))
        object.__setattr__(self, "spread", check_real("spread", self.spread, low=0, high=3, low_open=True))
        object.__setattr__(self, "seed", check_int("seed", self.seed, low=0))


@dataclass(frozen=True, eq=False)
class ToyPoint:
    """One highlighted training point and the paths to its neighbours.

    Attributes
    ----------
    index : position in :attr:`ToyResult.points`.
    is_noisy : whether its observed label is wrong.
    true_label, observed_label : int class ids.
    neighbors : (L,) int64 indices of its nearest other points, nearest first.
    curves : (L, H + 1) float in [0, 1], ``f_y`` at ``alpha = 0, 1/H, ..., 1`` along the path to
        each neighbour (``alpha = 0`` is the point itself, ``alpha = 1`` the neighbour).
    areas : (L,) float in [0, 1], trapezoid area under each curve.
    score : float in [0, 1], the INN score: the mean of ``areas``.
    fy : float in [0, 1], ``f_y`` at the point itself (what the small-loss criterion looks at).
    """

    index: int
    is_noisy: bool
    true_label: int
    observed_label: int
    neighbors: np.ndarray
    curves: np.ndarray
    areas: np.ndarray
    score: float
    fy: float


@dataclass(frozen=True, eq=False)
class ToyResult:
    """Everything the consistency page draws.

    Attributes
    ----------
    config : the :class:`ToyConfig` it was computed from.
    points : (n, 2) float32 training inputs.
    true_labels, observed_labels : (n,) int64 in [0, K).
    is_noisy : (n,) bool.
    label : int, the class ``y`` whose probability the surface shows; both highlighted points
        carry it as their observed label.
    grid_x, grid_y : (g,) float, the surface's axes.
    surface : (g, g) float in [0, 1], ``f_y`` at ``(grid_x[j], grid_y[i])`` in row ``i``, column ``j``.
    highlighted : (ToyPoint, ...) - the clean point first, then the noisy point (absent at rate 0).
    alphas : (H + 1,) float, ``0, 1/H, ..., 1``.
    scores : (n,) float in [0, 1], INN scores of every point.
    fy : (n,) float in [0, 1], ``f_y(x)`` of every point.
    auc_inn, auc_fy : float, clean/noisy AUC of the INN scores and of ``f_y(x)``; NaN without noise.
    means : the paper's Figure 2 over training: ``"epochs"`` (m,) int steps at which they were
        taken and ``"E_cor"``, ``"E_inc"``, ``"Em_cor"``, ``"Em_inc"`` (m,) float (mean ``f_y`` at the
        clean / noisy points and halfway to their nearest neighbour; NaN without noise), or ``None``.
    """

    config: ToyConfig
    points: np.ndarray
    true_labels: np.ndarray
    observed_labels: np.ndarray
    is_noisy: np.ndarray
    label: int
    grid_x: np.ndarray
    grid_y: np.ndarray
    surface: np.ndarray
    highlighted: tuple[ToyPoint, ...]
    alphas: np.ndarray
    scores: np.ndarray
    fy: np.ndarray
    auc_inn: float
    auc_fy: float
    means: dict[str, np.ndarray] | None = None

    @property
    def clean(self) -> ToyPoint:
        return self.highlighted[0]

    @property
    def memorised(self) -> float:
        """Share in [0, 1] of the wrongly labelled points whose wrong label the network fits (``f_y >= 0.5``).

        NaN without noise.
        """
        return float((self.fy[self.is_noisy] >= 0.5).mean()) if self.is_noisy.any() else float("nan")

    @property
    def noisy(self) -> ToyPoint | None:
        return self.highlighted[1] if len(self.highlighted) > 1 else None


def _median_index(candidates: np.ndarray, values: np.ndarray) -> int:
    """The candidate whose value is the median among the candidates (the lower one on ties)."""
    order = candidates[np.argsort(values[candidates], kind="stable")]
    return int(order[(len(order) - 1) // 2])


def consistency_toy(config: ToyConfig = ToyConfig()) -> ToyResult:
    """Train an MLP (cross-entropy by default) on noisy 2-D blobs and trace INN's paths for a clean and a noisy point.

    Parameters
    ----------
    config : the toy's size, noise and INN settings.

    Returns
    -------
    ToyResult
        The clean point is the clean sample of label ``y`` with the median INN score among them;
        the noisy point is the wrongly labelled sample of label ``y`` that the model fits best
        (highest ``f_y(x)``) - the hardest case for a small-loss criterion. ``y`` is the class
        with the most wrongly labelled samples (class 0 without noise).

    Notes
    -----
    Deterministic for a given config on the CPU; about a second for the default config.
    """
    data = load_dataset(
        "toy2d",
        random_state=config.seed,
        kind="blobs",
        n_samples=config.n_samples,
        num_classes=config.num_classes,
        spread=config.spread,
    )
    true = data.true_labels.numpy()
    noise = inject_noise(
        true,
        NoiseSpec("symmetric", config.noise_rate, symmetric_mode="flip"),
        num_classes=config.num_classes,
        random_state=config.seed,
    )
    observed, is_noisy = noise.observed_labels, noise.is_noisy
    inputs = data.images
    # A 2-D MLP step is microseconds of arithmetic; on a busy CPU the intra-op thread pool's
    # synchronisation costs about ten times that, so the toy trains single-threaded.
    with torch_threads(1):
        model = create_model(
            "mlp", num_classes=config.num_classes, in_channels=2, image_size=None, seed=config.seed * 1000 + 31
        )
        nearest, _ = nearest_neighbors(inputs, 1, device="cpu")
        means = _train_full_batch(model, inputs, observed, is_noisy, nearest, config)
        model = model.eval()
        neighbors, _ = nearest_neighbors(inputs, config.L, device="cpu")
        scores, paths = inn_scores(model, inputs, observed, neighbors, H=config.H, device="cpu", return_paths=True)
        fy = label_probabilities(model, inputs, observed, device="cpu")

        noisy_per_class = np.bincount(observed[is_noisy], minlength=config.num_classes)
        label = int(np.argmax(noisy_per_class))
        clean_candidates = np.flatnonzero((observed == label) & ~is_noisy)
        if clean_candidates.size == 0:
            raise InputError(
                f"no correctly labelled point of class {label} is left; lower noise_rate below {config.noise_rate}"
            )
        chosen = [_median_index(clean_candidates, scores)]
        noisy_candidates = np.flatnonzero((observed == label) & is_noisy)
        if noisy_candidates.size:
            chosen.append(int(noisy_candidates[np.argmax(fy[noisy_candidates])]))

        points = inputs.numpy()
        low, high = points.min(axis=0), points.max(axis=0)
        margin = 0.1 * (high - low)
        grid_x = np.linspace(low[0] - margin[0], high[0] + margin[0], config.grid_size)
        grid_y = np.linspace(low[1] - margin[1], high[1] + margin[1], config.grid_size)
        mesh = np.stack(np.meshgrid(grid_x, grid_y), axis=-1).reshape(-1, 2).astype(np.float32)
        with torch.inference_mode():
            probs = torch.softmax(model(torch.from_numpy(mesh)), dim=1)[:, label]
        surface = probs.numpy().reshape(config.grid_size, config.grid_size)

    highlighted = []
    for i in chosen:
        curves = paths[i]
        areas = ((curves[:, :-1] + curves[:, 1:]) / 2).mean(axis=1)
        highlighted.append(
            ToyPoint(
                index=i,
                is_noisy=bool(is_noisy[i]),
                true_label=int(true[i]),
                observed_label=int(observed[i]),
                neighbors=neighbors[i].astype(np.int64),
                curves=curves.astype(np.float64),
                areas=areas.astype(np.float64),
                score=float(scores[i]),
                fy=float(fy[i]),
            )
        )
    return ToyResult(
        config=config,
        points=points,
        true_labels=true,
        observed_labels=observed,
        is_noisy=is_noisy,
        label=label,
        grid_x=grid_x,
        grid_y=grid_y,
        surface=surface.astype(np.float64),
        highlighted=tuple(highlighted),
        alphas=np.linspace(0.0, 1.0, config.H + 1),
        scores=scores.astype(np.float64),
        fy=fy.astype(np.float64),
        auc_inn=clean_noisy_auc(scores, is_noisy),
        auc_fy=clean_noisy_auc(fy, is_noisy),
        means=means,
    )


def _train_full_batch(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    observed: np.ndarray,
    is_noisy: np.ndarray,
    nearest: np.ndarray,
    config: ToyConfig,
) -> dict[str, np.ndarray]:
    """Full-batch Adam on every point; returns Figure 2's means taken along the way."""
    labels = torch.from_numpy(observed)
    rng = np.random.default_rng(config.seed * 1000 + 37)
    optimizer = torch.optim.Adam(model.parameters(), lr=_TOY_LR)
    every = max(1, config.epochs // _TOY_MEAN_POINTS)
    taken: dict[str, list] = {"epochs": [], "E_cor": [], "E_inc": [], "Em_cor": [], "Em_inc": []}
    for step in range(1, config.epochs + 1):
        model.train()
        if config.objective == "mixup":
            mixed, targets = mixup_batch(inputs, labels, config.num_classes, alpha=1.0, rng=rng)
            loss = -(targets * torch.log_softmax(model(mixed), dim=1)).sum(dim=1).mean()
        else:
            loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % every == 0 or step == config.epochs:
            model.eval()
            m = consistency_means(model, inputs, observed, is_noisy, nearest, device="cpu")
            taken["epochs"].append(step)
            for key, source in (("E_cor", "E_cor"), ("E_inc", "E_inc"), ("Em_cor", "E_m_cor"), ("Em_inc", "E_m_inc")):
                taken[key].append(m[source])
    return {key: np.asarray(values, dtype=np.int64 if key == "epochs" else np.float64) for key, values in taken.items()}


def toy_summary(result: ToyResult) -> dict[str, Any]:
    """The toy's numbers for scripts and slides (``python -m inn_core toy --json``).

    Returns ``{"clean_point": {"fy_at_point", "inn_score"}, "noisy_point": {...} or None,
    "means": {"E_cor", "E_inc", "Em_cor", "Em_inc", "epochs"} (lists), "auc": {"inn", "fy"}}``,
    NaN written as ``None``.
    """

    def number(value: float) -> float | None:
        return None if value is None or not np.isfinite(value) else round(float(value), 6)

    def point(p: ToyPoint | None) -> dict[str, float | None] | None:
        return None if p is None else {"fy_at_point": number(p.fy), "inn_score": number(p.score)}

    means = result.means or {}
    return {
        "clean_point": point(result.clean),
        "noisy_point": point(result.noisy),
        "means": {
            key: [int(v) if key == "epochs" else number(v) for v in means.get(key, [])]
            for key in ("E_cor", "E_inc", "Em_cor", "Em_inc", "epochs")
        },
        "auc": {"inn": number(result.auc_inn), "fy": number(result.auc_fy)},
        "config": dataclasses.asdict(result.config),
    }
