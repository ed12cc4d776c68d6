"""Per-sample label-quality scores: INN (the paper's equation 1), small-loss and Deep k-NN.

All scores follow one convention: higher = more likely clean.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from inn_core._types import LabelLike
from inn_core._validation import as_labels
from inn_core.data.pixels import as_model_input
from inn_core.devices import resolve_device
from inn_core.errors import InputError

__all__ = [
    "RULES",
    "inn_scores",
    "interpolation_points",
    "label_probabilities",
    "small_loss_scores",
    "deep_knn_scores",
    "cleanlab_scores",
]

RULES = ("trapezoid", "midpoint")


def _as_labels(labels: LabelLike, n: int) -> torch.Tensor:
    return torch.from_numpy(as_labels(labels, n=n))


def interpolation_points(x: torch.Tensor, neighbors: torch.Tensor, H: int) -> torch.Tensor:
    """Points on the straight paths from each sample to each of its neighbours.

    Parameters
    ----------
    x : (b, *shape) samples.
    neighbors : (b, L, *shape) their neighbours' inputs.
    H : number of trapezoids.

    Returns
    -------
    (b, L, H + 1, *shape) with ``out[:, l, h] = ((H - h) / H) x + (h / H) x̃_l``: index 0 is ``x``
    itself and index ``H`` the neighbour.
    """
    t = torch.arange(H + 1, dtype=x.dtype, device=x.device) / H
    t = t.view(1, 1, H + 1, *([1] * (x.dim() - 1)))
    return (1 - t) * x[:, None, None] + t * neighbors[:, :, None]


def label_probabilities(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    *,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """``f_y(x)``: the softmax probability each sample's model gives its observed label.

    Returns ``(n,)`` float in [0, 1] - INN's integrand at the sample itself, without neighbours.
    Working memory: one batch of ``batch_size`` inputs and its activations, plus the ``(n,)`` result.
    """
    labels = _as_labels(labels, inputs.shape[0])
    dev = resolve_device(device)
    model = model.to(dev)
    labels = labels.to(dev)
    # Results stay on the device until the end: one transfer instead of a host/device sync per batch.
    out = torch.empty(inputs.shape[0], device=dev)
    with _evaluating(model) as net, torch.inference_mode():
        for start in range(0, inputs.shape[0], batch_size):
            x = as_model_input(inputs[start : start + batch_size], dev)
            probs = torch.softmax(net(x).float(), dim=1)
            out[start : start + batch_size] = probs.gather(1, labels[start : start + batch_size, None]).squeeze(1)
    return out.cpu().numpy()


def inn_scores(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    neighbor_indices: np.ndarray | torch.Tensor,
    *,
    H: int = 10,
    rule: str = "trapezoid",
    batch_size: int = 2048,
    device: str | torch.device = "auto",
    return_paths: bool = False,
    sample_indices: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """INN scores, the paper's equation (1) by the trapezoid rule.

    ``I(z) = 1/L Σ_l Σ_{h=1..H} (f_y(x_{l,h-1}) + f_y(x_{l,h})) / (2H)`` with
    ``x_{l,h} = ((H-h)/H) x + (h/H) x̃_l`` and ``f_y`` the softmax probability of the observed label.

    Parameters
    ----------
    model : the prediction model ``f`` (MixUp-trained in the paper), returning logits.
    inputs : (n, *shape) float32, or uint8 images (value / 255), all training inputs (neighbours
        are looked up here).
    labels : (n,) int64 observed labels.
    neighbor_indices : (n, L) int64 indices into ``inputs``; L <= n - 1.
    H : number of trapezoids, >= 1 (``rule="trapezoid"`` only).
    rule : ``"trapezoid"`` (the paper) or ``"midpoint"`` (the ablation ``f_y((x + x̃)/2)``).
    batch_size : model inputs per forward pass; the paths of ``batch_size // (1 + L*H)`` samples
        (at least one) share one pass.
    return_paths : also return ``f_y`` along every path, ``(m, L, H + 1)`` (index 0 = x itself);
        for ``midpoint`` the paths are ``(m, L, 3)`` at alpha = 1, 1/2, 0.
    sample_indices : score only these samples (e.g. one sample for the path viewer); default all.

    Returns
    -------
    scores : (m,) float in [0, 1], higher = more likely clean; ``m = n`` or ``len(sample_indices)``.
    paths : (m, L, H + 1) float in [0, 1], only with ``return_paths``.

    Notes
    -----
    ``x`` itself is evaluated once per sample, not once per neighbour, so a sample costs
    ``1 + L*H`` forward passes, all of a batch of samples in one pass under inference mode.
    Image batches run in ``channels_last`` layout (on a copy of the model; faster convolutions on
    the CPU as on CUDA), on CUDA under bfloat16 autocast, and nothing is copied back to the host
    until the end. Memory is bounded by one batch of about
    ``max(batch_size, 1 + L*H)`` interpolated inputs (built in place) and the model's activations
    for it, plus the ``(m, L, H+1)`` path values - no ``n*L*(H+1)`` input tensor is ever built -
    and, when ``inputs`` live on another device than the model, one copy of ``inputs`` there.
    """
    if rule not in RULES:
        raise InputError(f"unknown integration rule {rule!r}; choose one of {', '.join(RULES)}")
    if H < 1:
        raise InputError(f"H (number of trapezoids) must be at least 1, got {H}")
    n = inputs.shape[0]
    labels = _as_labels(labels, n)
    nbr = torch.as_tensor(np.asarray(neighbor_indices), dtype=torch.int64)
    if nbr.dim() != 2 or nbr.shape[0] != n:
        raise InputError(f"neighbor_indices must have shape (n, L) with n = {n}, got {tuple(nbr.shape)}")
    L = nbr.shape[1]
    if not 1 <= L <= n - 1:
        raise InputError(f"L (neighbours per sample) must be between 1 and n - 1 = {n - 1}, got {L}")
    if nbr.numel() and (nbr.min() < 0 or nbr.max() >= n):
        raise InputError(f"neighbor_indices must lie in [0, {n}), got range [{int(nbr.min())}, {int(nbr.max())}]")
    samples = (
        torch.arange(n) if sample_indices is None else torch.as_tensor(np.asarray(sample_indices), dtype=torch.int64)
    )
    if samples.numel() and (samples.min() < 0 or samples.max() >= n):
        raise InputError(f"sample_indices must lie in [0, {n}), got range [{int(samples.min())}, {int(samples.max())}]")

    # The midpoint ablation is one point per path: reuse the path machinery with H = 2 and read
    # h = 1; without paths to return, only the midpoints themselves are evaluated.
    steps = H if rule == "trapezoid" else 2
    weights = torch.arange(1, steps + 1, dtype=torch.float32) / steps
    with_x = rule == "trapezoid" or return_paths
    if not with_x:
        weights = weights[:1]
    dev = resolve_device(device)
    model = model.to(dev)
    # Everything the loop indexes lives on the device, so the loop never waits for the host.
    # uint8 images stay uint8 there and are converted per gathered batch.
    source = inputs.to(dev) if inputs.dtype == torch.uint8 else inputs.to(dev, torch.float32)
    labels, nbr, samples = labels.to(dev), nbr.to(dev), samples.to(dev)
    shape = tuple(source.shape[1:])
    points = weights.numel()
    t = weights.to(dev).view(1, 1, points, *([1] * len(shape)))
    cuda = dev.type == "cuda"
    # Convolutions run faster on channels-last images on the CPU too (measured: benchmarks/).
    layout = torch.channels_last if len(shape) == 3 else None
    per_sample = int(with_x) + L * points
    chunk = max(1, batch_size // per_sample)
    m = samples.shape[0]
    paths = torch.empty(m, L, int(with_x) + points, device=dev)
    with (
        _evaluating(model, layout) as net,
        torch.inference_mode(),
        torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda),
    ):
        for start in range(0, m, chunk):
            idx = samples[start : start + chunk]
            b = idx.shape[0]
            x = as_model_input(source[idx])
            # [x of every sample | every sample's L paths without x], written in place.
            batch = torch.empty((b * per_sample, *shape), device=dev)
            head = b if with_x else 0
            batch[:head] = x[:head]
            along = batch[head:].view(b, L, points, *shape)
            torch.lerp(x[:, None, None], as_model_input(source[nbr[idx]])[:, :, None], t, out=along)
            if layout is not None:
                batch = batch.contiguous(memory_format=layout)
            fy = torch.softmax(net(batch).float(), dim=1)
            y = labels[idx]
            if with_x:
                paths[start : start + b, :, 0] = fy[:b].gather(1, y[:, None])
            on_paths = fy[head:].view(b, L * points, -1).gather(2, y[:, None, None].expand(b, L * points, 1))
            paths[start : start + b, :, int(with_x) :] = on_paths.view(b, L, points)
    if rule == "trapezoid":
        scores = ((paths[:, :, :-1] + paths[:, :, 1:]) / 2).mean(dim=2).mean(dim=1)
    else:
        scores = paths[:, :, int(with_x)].mean(dim=1)
    scores = scores.clamp(0, 1).cpu().numpy()
    return (scores, paths.cpu().numpy()) if return_paths else scores


@contextmanager
def _evaluating(model: nn.Module, layout: torch.memory_format | None = None) -> Iterator[nn.Module]:
    """The model in eval mode, the caller's mode restored after; with ``layout``, a copy in that layout.

    The copy leaves the caller's weights (and an optimiser holding them) untouched.
    """
    was_training = model.training
    model.eval()
    try:
        yield model if layout is None else _fold_batch_norms(copy.deepcopy(model)).to(memory_format=layout)
    finally:
        model.train(was_training)


def _fold_batch_norms(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm that directly follows a convolution in a Sequential into it.

    In eval mode the BatchNorm is an affine map per channel, so the convolution can absorb it and
    one pass over the activations goes away; the outputs agree to float32 rounding.
    """
    for sequence in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        children = list(sequence.named_children())
        for (first, conv), (second, norm) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and type(norm) is nn.BatchNorm2d and norm.track_running_stats:
                setattr(sequence, first, fuse_conv_bn_eval(conv, norm))
                setattr(sequence, second, nn.Identity())
    return model


def small_loss_scores(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    *,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Small-loss scores: minus the per-sample cross-entropy, ``log f_y(x)``.

    Returns ``(n,)`` float in (-inf, 0]; higher = smaller loss = more likely clean.
    """
    fy = label_probabilities(model, inputs, labels, batch_size=batch_size, device=device)
    return np.log(np.clip(fy, np.finfo(np.float32).tiny, 1.0)).astype(np.float32)


def deep_knn_scores(labels: np.ndarray | torch.Tensor, neighbor_indices: np.ndarray | torch.Tensor) -> np.ndarray:
    """Deep k-NN's filter (Bahri et al. 2020): the fraction of a sample's neighbours that share its label.

    Parameters
    ----------
    labels : (n,) int observed labels.
    neighbor_indices : (n, L) int indices.

    Returns
    -------
    (n,) float in [0, 1]; higher = more likely clean.
    """
    labels = np.asarray(labels)
    nbr = np.asarray(neighbor_indices)
    if nbr.ndim != 2 or nbr.shape[0] != labels.shape[0]:
        raise InputError(f"neighbor_indices must have shape (n, L) with n = {labels.shape[0]}, got {nbr.shape}")
    return (labels[nbr] == labels[:, None]).mean(axis=1).astype(np.float32)


def cleanlab_scores(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """cleanlab's self-confidence label-quality scores from out-of-fold predicted probabilities.

    Parameters
    ----------
    labels : (n,) int observed labels.
    pred_probs : (n, K) out-of-fold probabilities, rows summing to 1.

    Returns
    -------
    (n,) float in [0, 1]; higher = more likely clean. Needs the optional ``cleanlab`` package.
    """
    try:
        from cleanlab.rank import get_label_quality_scores
    except ImportError as exc:
        raise InputError("cleanlab scores need the optional package: pip install cleanlab") from exc
    return np.asarray(get_label_quality_scores(np.asarray(labels), np.asarray(pred_probs)), dtype=np.float32)
