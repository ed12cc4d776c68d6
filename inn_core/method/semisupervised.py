"""MixMatch and DivideMix's semi-supervised step: co-divide, co-refinement, co-guessing, sharpening, MixUp.

These are the pieces that both robust training methods of :mod:`inn_core.runs.robust` share
(Li et al. 2020, "DivideMix: Learning with Noisy Labels as Semi-supervised Learning"; Berthelot et
al. 2019, "MixMatch"). Each is a plain function on arrays or tensors so it can be tested alone:

* :func:`gmm_clean_posterior` - a two-component Gaussian mixture on min-max normalised per-sample
  losses gives each sample's probability of being clean (the low-loss component);
* :func:`co_divide` - each network's posteriors split the data for the *other* network;
* :func:`co_refine` / :func:`co_guess` / :func:`sharpen` - the labelled and unlabelled targets;
* :func:`mix_batch` - MixUp with ``lambda ~ Beta(alpha, alpha)`` taken as ``max(lambda, 1 - lambda)``;
* :func:`semi_supervised_loss` - labelled CE + ``lambda_u`` x unlabelled MSE + uniform-prior penalty;
* :func:`ssl_epoch` - one epoch of the whole step for one network.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from torch import nn

from inn_core.data.pixels import as_model_input
from inn_core.errors import InputError
from inn_core.method.scoring import small_loss_scores
from inn_core.method.training import augment_batch

__all__ = [
    "Split",
    "per_sample_losses",
    "normalise_losses",
    "gmm_clean_posterior",
    "co_divide",
    "sharpen",
    "co_refine",
    "co_guess",
    "mix_batch",
    "uniform_prior_penalty",
    "semi_supervised_loss",
    "linear_rampup",
    "ssl_epoch",
]


@dataclass(frozen=True, eq=False)
class Split:
    """A division of the training set into labelled and unlabelled samples for one network.

    Attributes
    ----------
    labelled : (n,) bool - samples whose given label is trusted (clean posterior >= threshold).
    posterior : (n,) float in [0, 1] - clean posterior; co-refinement's weight ``w`` of the given label.
    """

    labelled: np.ndarray
    posterior: np.ndarray

    @classmethod
    def from_posterior(cls, posterior: np.ndarray, *, threshold: float = 0.5) -> Split:
        """Labelled = ``posterior >= threshold`` (the paper's Algorithm D.1, lines 4-5)."""
        posterior = np.asarray(posterior, dtype=np.float64)
        if posterior.ndim != 1:
            raise InputError(f"clean posteriors must be a 1-D array, got shape {posterior.shape}")
        if not 0 < threshold < 1:
            raise InputError(f"the split threshold must be in (0, 1), got {threshold}")
        return cls(labelled=posterior >= threshold, posterior=posterior)

    @property
    def labelled_indices(self) -> np.ndarray:
        """(m,) int64 positions of the labelled samples, ascending."""
        return np.flatnonzero(self.labelled)

    @property
    def unlabelled_indices(self) -> np.ndarray:
        """(n - m,) int64 positions of the unlabelled samples, ascending."""
        return np.flatnonzero(~self.labelled)


def per_sample_losses(
    model: nn.Module, inputs: torch.Tensor, labels: np.ndarray, *, device: str | torch.device = "auto"
) -> np.ndarray:
    """Cross-entropy of every sample at its observed label, in eval mode: ``(n,)`` float >= 0."""
    return -small_loss_scores(model, inputs, labels, device=device)


def normalise_losses(losses: np.ndarray) -> np.ndarray:
    """Min-max normalise ``(n,)`` losses into [0, 1]; constant losses become all 0."""
    losses = np.asarray(losses, dtype=np.float64)
    span = losses.max() - losses.min() if losses.size else 0.0
    return (losses - losses.min()) / span if span > 0 else np.zeros_like(losses)


def gmm_clean_posterior(losses: np.ndarray, *, random_state: int = 0) -> np.ndarray:
    """DivideMix's clean posterior: a two-component GMM on min-max normalised losses.

    Parameters
    ----------
    losses : (n,) float - per-sample losses (already normalised or averaged over epochs, or raw).
    random_state : seeds the mixture's k-means initialisation.

    Returns
    -------
    (n,) float in [0, 1] - posterior of the component with the smaller mean. With fewer than two
    samples, or all losses equal, nothing tells the samples apart and every posterior is 0.5.

    Notes
    -----
    The mixture settings are DivideMix's: ``max_iter=10, tol=1e-2, reg_covar=5e-4``.
    """
    x = normalise_losses(losses)
    if x.size < 2 or x.min() == x.max():
        return np.full(x.shape, 0.5)
    gmm = GaussianMixture(n_components=2, max_iter=10, tol=1e-2, reg_covar=5e-4, random_state=random_state)
    with warnings.catch_warnings():
        # Ten EM steps is DivideMix's deliberate budget, so not converging is expected, not news.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(x[:, None])
    return gmm.predict_proba(x[:, None])[:, int(np.argmin(gmm.means_[:, 0]))]


def co_divide(posterior_1: np.ndarray, posterior_2: np.ndarray, *, threshold: float = 0.5) -> tuple[Split, Split]:
    """Exchange the two networks' divisions.

    Parameters
    ----------
    posterior_1, posterior_2 : (n,) float in [0, 1] - clean posteriors from network 1 and network 2.
    threshold : a sample is labelled when the clean posterior is ``>= threshold``.

    Returns
    -------
    (split for network 1, split for network 2): network 1 trains on the division made from
    network 2's posteriors and vice versa, so neither network confirms its own mistakes.
    """
    if np.shape(posterior_1) != np.shape(posterior_2):
        raise InputError(
            f"both networks' posteriors must have the same shape, "
            f"got {np.shape(posterior_1)} and {np.shape(posterior_2)}"
        )
    return Split.from_posterior(posterior_2, threshold=threshold), Split.from_posterior(
        posterior_1, threshold=threshold
    )


def sharpen(p: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature sharpening ``p^(1/T) / sum_k p_k^(1/T)`` of ``(b, K)`` distributions; rows sum to 1.

    ``temperature`` in (0, 1] lowers the entropy (1 leaves ``p`` as it is).
    """
    if not 0 < temperature <= 1:
        raise InputError(f"sharpening temperature must be in (0, 1], got {temperature}")
    # In log space: p**(1/T) underflows to 0 for every class of a confident row when T is small.
    return torch.softmax(torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)) / temperature, dim=1)


def co_refine(
    one_hot: torch.Tensor, weights: torch.Tensor, predictions: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Refined labelled targets: ``sharpen(w y + (1 - w) p)``.

    Parameters
    ----------
    one_hot : (b, K) the given labels.
    weights : (b,) clean posteriors ``w`` in [0, 1].
    predictions : (b, K) the trained network's prediction averaged over augmentations.
    """
    w = weights.to(predictions.dtype)[:, None]
    return sharpen(w * one_hot + (1 - w) * predictions, temperature)


def co_guess(predictions: list[torch.Tensor], temperature: float) -> torch.Tensor:
    """Unlabelled targets: the sharpened mean of ``(b, K)`` predictions (both networks, all augmentations)."""
    return sharpen(torch.stack(predictions).mean(0), temperature)


def mix_batch(
    inputs: torch.Tensor, targets: torch.Tensor, *, alpha: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """MixMatch's MixUp: each sample mixed with a shuffled partner, the sample itself dominating.

    Parameters
    ----------
    inputs : (b, ...) inputs; targets : (b, K) distributions (rows summing to 1).
    alpha : ``lambda ~ Beta(alpha, alpha)``, then ``lambda = max(lambda, 1 - lambda)`` so a mixed
        sample stays closer to its own half (labelled or unlabelled) of the batch.

    Returns
    -------
    mixed inputs (b, ...), mixed targets (b, K) with rows summing to 1, and lambda in [0.5, 1].
    """
    lam = float(rng.beta(alpha, alpha))
    lam = max(lam, 1 - lam)
    perm = torch.from_numpy(rng.permutation(inputs.shape[0])).to(inputs.device)
    return lam * inputs + (1 - lam) * inputs[perm], lam * targets + (1 - lam) * targets[perm], lam


def uniform_prior_penalty(logits: torch.Tensor) -> torch.Tensor:
    """``KL(uniform || mean prediction)`` over a batch of ``(b, K)`` logits; 0 when predictions are balanced.

    Keeps the networks from assigning every (mostly unlabelled) sample to a few classes.
    """
    k = logits.shape[1]
    mean = torch.softmax(logits.float(), dim=1).mean(0)
    return (torch.log(torch.tensor(1.0 / k, device=logits.device)) - torch.log(mean)).mean()


def semi_supervised_loss(
    logits_x: torch.Tensor,
    targets_x: torch.Tensor,
    logits_u: torch.Tensor,
    targets_u: torch.Tensor,
    *,
    lambda_u: float,
    prior_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """DivideMix's loss on a mixed batch.

    ``L = CE(logits_x, targets_x) + lambda_u * mean((softmax(logits_u) - targets_u)^2)
    + prior_weight * KL(uniform || mean p)``
    with the prior taken over labelled and unlabelled logits together.

    Returns the scalar loss and its parts (``"labelled"``, ``"unlabelled"``, ``"prior"``) as
    detached scalar tensors (left on the device so a training loop need not wait for each step).
    """
    lx = -(targets_x * F.log_softmax(logits_x.float(), dim=1)).sum(dim=1).mean()
    if logits_u.shape[0]:
        lu = ((torch.softmax(logits_u.float(), dim=1) - targets_u) ** 2).mean()
    else:
        lu = torch.zeros((), device=logits_x.device)
    prior = uniform_prior_penalty(torch.cat([logits_x, logits_u]))
    loss = lx + lambda_u * lu + prior_weight * prior
    return loss, {"labelled": lx.detach(), "unlabelled": lu.detach(), "prior": prior.detach()}


def linear_rampup(progress: float, rampup_epochs: int) -> float:
    """Weight in [0, 1] of the unlabelled loss after ``progress`` semi-supervised epochs (linear, then 1)."""
    if rampup_epochs <= 0:
        return 1.0
    return float(np.clip(progress / rampup_epochs, 0.0, 1.0))


def ssl_epoch(
    net: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    split: Split,
    *,
    num_classes: int,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    other: nn.Module | None = None,
    refine_labels: bool = True,
    batch_size: int = 64,
    augment: str = "none",
    temperature: float = 0.5,
    alpha: float = 4.0,
    lambda_u: float = 0.0,
    rampup_start: float = 0.0,
    rampup_epochs: int = 16,
    prior_weight: float = 1.0,
    should_stop: Callable[[], bool] | None = None,
    resume: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One semi-supervised epoch of ``net`` on a labelled / unlabelled split.

    Parameters
    ----------
    net : the network trained (left in train mode).
    inputs : (n, ...) float32 training inputs on the training device; labels : (n,) int64 there.
    split : which samples are labelled and their clean posteriors ``w``.
    other : the peer network (eval mode, not trained) for co-guessing; ``None`` guesses with
        ``net`` alone (plain MixMatch, INN+DivideMix's step 1).
    refine_labels : co-refinement (DivideMix); ``False`` keeps the given one-hot labels (MixMatch).
    batch_size : labelled samples per step; as many unlabelled ones (fewer when fewer exist).
    augment : :data:`~inn_core.method.training.AUGMENTATIONS` kind; every sample is seen in two augmentations.
    temperature, alpha : sharpening temperature and MixUp's Beta parameter.
    lambda_u : weight of the unlabelled loss once ramped up; the weight at step ``b`` of ``B`` is
        ``lambda_u * linear_rampup(rampup_start + b / B, rampup_epochs)``.
    prior_weight : weight of the uniform-prior penalty.
    should_stop : polled between steps; True stops the epoch there and returns ``{"partial": state}``.
    resume : such a ``state``: the epoch continues from its step with its batch orders, and (with
        ``rng`` restored to its state at the stop) ends exactly as an uninterrupted epoch would.

    Returns
    -------
    Mean ``loss``, ``labelled``, ``unlabelled`` and ``prior`` terms over the steps, and ``steps``;
    or ``{"partial": state}`` when stopped. An epoch iterates over the labelled set once, as
    DivideMix does; with fewer than two labelled samples nothing is trained (``steps == 0``, losses NaN).
    """
    device = inputs.device
    labelled, unlabelled = split.labelled_indices, split.unlabelled_indices
    weights = torch.from_numpy(split.posterior).to(device, torch.float32)
    n_x, n_u = labelled.size, unlabelled.size
    steps = n_x // batch_size + 1
    b_u = min(batch_size, n_u)
    if resume is None:
        order_x = rng.permutation(labelled)
        # Unlabelled samples are drawn from reshuffled passes, cycling as DivideMix's loader does.
        order_u = np.zeros(0, np.int64)
        if n_u:
            order_u = np.concatenate([rng.permutation(unlabelled) for _ in range(-(-steps * b_u // n_u))])
        order_x, order_u = torch.from_numpy(order_x).to(device), torch.from_numpy(order_u).to(device)
        first, done = 0, 0
        totals = {key: torch.zeros((), device=device) for key in ("loss", "labelled", "unlabelled", "prior")}
    else:
        order_x, order_u = resume["order_x"].to(device), resume["order_u"].to(device)
        first, done = int(resume["step"]), int(resume["done"])
        totals = {key: torch.tensor(float(v), device=device) for key, v in resume["totals"].items()}
    net.train()
    if other is not None:
        other.eval()
    use_amp = device.type == "cuda"
    for step in range(first, steps):
        if step > first and should_stop is not None and should_stop():
            return {
                "partial": {
                    "order_x": order_x.cpu(),
                    "order_u": order_u.cpu(),
                    "step": step,
                    "done": done,
                    "totals": {key: float(value) for key, value in totals.items()},
                }
            }
        idx_x = order_x[step * batch_size : (step + 1) * batch_size]
        if idx_x.numel() < 2:
            continue  # BatchNorm cannot normalise a single sample
        idx_u = order_u[step * b_u : (step + 1) * b_u]
        bx, bu = idx_x.numel(), idx_u.numel()
        x = as_model_input(inputs[idx_x])
        u = as_model_input(inputs[idx_u])
        x1, x2 = augment_batch(x, augment, rng=rng), augment_batch(x, augment, rng=rng)
        u1, u2 = augment_batch(u, augment, rng=rng), augment_batch(u, augment, rng=rng)
        one_hot = F.one_hot(labels[idx_x], num_classes).float()
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            if bu:
                guesses = list(torch.softmax(net(torch.cat([u1, u2])).float(), dim=1).split(bu))
                if other is not None:
                    guesses += list(torch.softmax(other(torch.cat([u1, u2])).float(), dim=1).split(bu))
                targets_u = co_guess(guesses, temperature)
            else:
                targets_u = torch.zeros(0, num_classes, device=device)
            if refine_labels:
                px = torch.softmax(net(torch.cat([x1, x2])).float(), dim=1).view(2, bx, num_classes).mean(0)
                targets_x = co_refine(one_hot, weights[idx_x], px, temperature)
            else:
                targets_x = one_hot
        all_inputs = torch.cat([x1, x2, u1, u2])
        all_targets = torch.cat([targets_x, targets_x, targets_u, targets_u])
        mixed_x, mixed_t, _ = mix_batch(all_inputs, all_targets, alpha=alpha, rng=rng)
        ramp = linear_rampup(rampup_start + step / steps, rampup_epochs)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = net(mixed_x)
        loss, parts = semi_supervised_loss(
            logits[: 2 * bx],
            mixed_t[: 2 * bx],
            logits[2 * bx :],
            mixed_t[2 * bx :],
            lambda_u=lambda_u * ramp,
            prior_weight=prior_weight,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals["loss"] += loss.detach()
        for key, value in parts.items():
            totals[key] += value
        done += 1
    out: dict[str, float] = {key: (float(value) / done if done else float("nan")) for key, value in totals.items()}
    out["steps"] = done
    return out
