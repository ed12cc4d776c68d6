"""Training with the paper's three objectives: cross-entropy, CE + negative entropy, and MixUp.

A :class:`Trainer` owns one model, its SGD optimiser and its random stream, trains one epoch at a
time and round-trips through ``state_dict`` so an interrupted run resumes bit-for-bit on the CPU.
Callers evaluate between epochs; the engine never knows who listens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inn_core._validation import as_generator
from inn_core.data.pixels import as_model_input
from inn_core.devices import resolve_device
from inn_core.errors import InputError
from inn_core.method.distributed import SINGLE, World, global_batch_norm

__all__ = [
    "OBJECTIVES",
    "AUGMENTATIONS",
    "TrainConfig",
    "Trainer",
    "train",
    "cross_entropy",
    "negative_entropy",
    "mixup_batch",
    "augment_batch",
    "predict_proba",
    "predict_logits",
    "extract_features",
]

OBJECTIVES = ("ce", "ce_ne", "mixup")
AUGMENTATIONS = ("none", "shift", "crop_flip")


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model.

    Defaults are the paper's: SGD, momentum 0.9, batch 128, lr 0.02 divided by 5 at 1/2 and 3/4
    of training, weight decay 5e-4 (DivideMix's), MixUp with alpha = 1.
    """

    objective: str = "ce"
    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_milestones: tuple[float, ...] = (0.5, 0.75)
    lr_gamma: float = 0.2
    mixup_alpha: float = 1.0
    ne_weight: float = 1.0
    augment: str = "none"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise InputError(f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if self.augment not in AUGMENTATIONS:
            raise InputError(f"unknown augmentation {self.augment!r}; choose one of {', '.join(AUGMENTATIONS)}")
        if self.epochs < 1:
            raise InputError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise InputError(f"learning rate must be positive, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise InputError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise InputError(f"weight decay must be non-negative, got {self.weight_decay}")
        if not 0 < self.lr_gamma <= 1:
            raise InputError(f"lr_gamma must be in (0, 1], got {self.lr_gamma}")
        if any(not 0 < m < 1 for m in self.lr_milestones):
            raise InputError(f"lr milestones are fractions of training in (0, 1), got {self.lr_milestones}")
        if not self.mixup_alpha > 0:
            raise InputError(f"mixup alpha must be positive, got {self.mixup_alpha}")
        object.__setattr__(self, "lr_milestones", tuple(float(m) for m in self.lr_milestones))

    def lr_at(self, epoch: int) -> float:
        """Learning rate for 0-based ``epoch``: divided by ``1/lr_gamma`` at each milestone passed."""
        passed = sum(epoch >= int(round(m * self.epochs)) for m in self.lr_milestones)
        return self.lr * self.lr_gamma**passed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy; ``logits (b, K)``, ``labels (b,)`` int64."""
    return F.cross_entropy(logits, labels)


def negative_entropy(logits: torch.Tensor) -> torch.Tensor:
    """DivideMix's confidence penalty: mean over the batch of ``sum_k p_k log p_k`` (<= 0)."""
    log_p = F.log_softmax(logits.float(), dim=1)
    return (log_p.exp() * log_p).sum(dim=1).mean()


def mixup_batch(
    x: torch.Tensor, labels: torch.Tensor, num_classes: int, *, alpha: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix a batch with a shuffled copy of itself (Zhang et al. 2018).

    Returns mixed inputs, shape of ``x``, and mixed one-hot targets ``(b, K)`` whose rows sum to 1.
    One ``lambda ~ Beta(alpha, alpha)`` per batch, drawn from ``rng``.
    """
    lam = float(rng.beta(alpha, alpha))
    perm = _to_device(rng.permutation(x.shape[0]), x.device)
    # scatter, not F.one_hot: one_hot checks the labels' range, a host synchronisation on CUDA.
    one_hot = torch.zeros(labels.shape[0], num_classes, dtype=x.dtype, device=x.device).scatter_(
        1, labels[:, None], 1.0
    )
    return lam * x + (1 - lam) * x[perm], lam * one_hot + (1 - lam) * one_hot[perm]


def augment_batch(x: torch.Tensor, kind: str, *, rng: np.random.Generator) -> torch.Tensor:
    """Light augmentation of an image batch ``(b, C, H, W)``.

    ``shift``: each image moved by up to one pixel (zero padded) - digits must not be flipped.
    ``crop_flip``: random crop with 4-pixel padding and horizontal flip, the CIFAR standard.
    """
    if kind == "none" or x.dim() != 4:
        return x
    pad = 1 if kind == "shift" else 4
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = _to_device(rng.integers(0, 2 * pad + 1, size=b), x.device)
    dx = _to_device(rng.integers(0, 2 * pad + 1, size=b), x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    out = padded[batch, channels, rows, cols]
    if kind == "crop_flip":
        flip = _to_device(rng.random(b) < 0.5, x.device)
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
    return out


def _to_device(values: np.ndarray, device: torch.device) -> torch.Tensor:
    """Host random draws onto the device; on CUDA through pinned memory, so the copy does not wait
    for the GPU to finish the previous step (no host synchronisation per step)."""
    tensor = torch.from_numpy(values)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class Trainer:
    """Trains one model on in-memory tensors, one epoch per call.

    Parameters
    ----------
    model : a classifier returning logits.
    inputs : (n, ...) float32 training inputs, or uint8 images (0..255 = value / 255), kept on the
        device as they are and converted to float32 one batch at a time.
    labels : (n,) int64 observed labels in [0, num_classes).
    config : the objective and schedule.
    num_classes : K.
    device : "auto", "cpu" or "cuda".
    random_state : seed of this trainer's own stream (batch order, MixUp, augmentation).
    world : the processes training together (``torchrun``). Every rank draws the same global
        batch, augmentation and MixUp pairing from this same stream and trains on its slice of
        the batch under DistributedDataParallel with global BatchNorm statistics, so a step is
        the single process's step up to rounding. Default: one process.
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        labels: torch.Tensor | np.ndarray,
        config: TrainConfig,
        *,
        num_classes: int,
        device: str | torch.device = "auto",
        random_state: int = 0,
        world: World = SINGLE,
    ) -> None:
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if inputs.shape[0] != labels.shape[0]:
            raise InputError(f"inputs and labels must be the same length, got {inputs.shape[0]} and {labels.shape[0]}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise InputError(f"labels must lie in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]")
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        if self.device.type == "cuda" and inputs.dim() == 4:
            self.model = self.model.to(memory_format=torch.channels_last)
        # uint8 images stay uint8 (4x less memory) and are converted one batch at a time
        self.inputs = inputs.to(self.device) if inputs.dtype == torch.uint8 else inputs.to(self.device, torch.float32)
        self.labels = labels.to(self.device)
        self.config = config
        self.num_classes = num_classes
        self.epoch = 0
        # A stopped epoch's progress: {"order": (n,) permutation, "next": first batch start, "total": loss sum}.
        self.partial: dict[str, Any] | None = None
        self.world = world
        self._ddp: nn.Module | None = None
        self.rng = as_generator(random_state)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )

    def _network(self) -> nn.Module:
        """The model to run forward: itself alone, wrapped in DistributedDataParallel under torchrun."""
        if self.world.size == 1:
            return self.model
        if self._ddp is None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device] if self.device.type == "cuda" else None
            # Buffers (BatchNorm running statistics) agree on every rank by construction; no sync needed.
            self._ddp = DistributedDataParallel(
                self.model, device_ids=ids, process_group=self.world.group, forward_sync_buffers=False
            )
        return self._ddp

    def _loss(self, x: torch.Tensor, y: torch.Tensor, rows: slice) -> torch.Tensor:
        """Mean loss over ``rows`` of the global batch ``x, y`` (all of it in a single process)."""
        cfg = self.config
        if cfg.objective == "mixup":
            mixed_x, targets = mixup_batch(x, y, self.num_classes, alpha=cfg.mixup_alpha, rng=self.rng)
            logits = self._network()(mixed_x[rows])
            return -(targets[rows] * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
        x, y = x[rows], y[rows]
        logits = self._network()(x)
        loss = cross_entropy(logits.float(), y)
        if cfg.objective == "ce_ne":
            loss = loss + cfg.ne_weight * negative_entropy(logits)
        return loss

    def train_epoch(self, *, should_stop: Callable[[], bool] | None = None) -> float | None:
        """Run one epoch; returns the mean training loss.

        ``should_stop`` is polled between batches; when it returns True the epoch stops there and
        ``None`` is returned. :meth:`state_dict` then holds the epoch's progress (batch order,
        position, random stream), and the next call continues the same epoch batch for batch, so a
        stopped and continued epoch equals an uninterrupted one.
        """
        if self.epoch >= self.config.epochs:
            raise RuntimeError(f"already trained all {self.config.epochs} epochs")
        cfg = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr_at(self.epoch)
        self.model.train()
        n = self.inputs.shape[0]
        world = self.world
        if self.partial is None:
            order = _to_device(self.rng.permutation(n), self.device)
            first, total = 0, torch.zeros((), device=self.device)
        else:
            order = self.partial["order"].to(self.device)
            first, total = int(self.partial["next"]), torch.tensor(float(self.partial["total"]), device=self.device)
            self.partial = None
        # Between batches in one process only: under torchrun rank 0 broadcasts Cancel at the epoch's end,
        # so that every rank stops at the same step.
        stop = should_stop if world.size == 1 else None
        use_amp = self.device.type == "cuda"
        with global_batch_norm(self.model, world):
            for start in range(first, n, cfg.batch_size):
                if start > first and stop is not None and stop():
                    self.partial = {"order": order.cpu(), "next": start, "total": float(total)}
                    return None
                idx = order[start : start + cfg.batch_size]
                rows = world.batch_rows(idx.numel())
                if (idx.numel() < 2 and n > 1) or rows is None:
                    continue  # BatchNorm cannot train on a single sample
                x = augment_batch(as_model_input(self.inputs[idx]), cfg.augment, rng=self.rng)
                if use_amp and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on CUDA
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_amp):
                    loss = self._loss(x, self.labels[idx], rows)
                self.optimizer.zero_grad(set_to_none=True)
                if world.size == 1:
                    loss.backward()
                else:
                    # DDP averages gradients over ranks; weighting each rank's mean by its share
                    # of the batch makes that average the global batch's mean loss gradient.
                    share = (rows.stop - rows.start) * world.size / idx.numel()
                    (loss * share).backward()
                self.optimizer.step()
                total += loss.detach() * (rows.stop - rows.start)
        self.epoch += 1
        return float(world.sum(total)) / n

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: model, optimiser, epoch, random stream and a stopped epoch's progress."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "rng": self.rng.bit_generator.state,
        }
        if self.partial is not None:
            state["partial"] = dict(self.partial)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.rng.bit_generator.state = state["rng"]
        self.partial = dict(state["partial"]) if state.get("partial") is not None else None


def train(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    config: TrainConfig,
    *,
    num_classes: int,
    device: str | torch.device = "auto",
    random_state: int = 0,
    callbacks: Sequence[Callable[[int, nn.Module, float], None]] = (),
) -> nn.Module:
    """Train ``model`` for ``config.epochs`` epochs; after each, call ``cb(epoch, model, loss)``.

    ``epoch`` is 1-based (the number of epochs completed). Returns the trained model.
    """
    trainer = Trainer(model, inputs, labels, config, num_classes=num_classes, device=device, random_state=random_state)
    while trainer.epoch < config.epochs:
        loss = trainer.train_epoch()
        for cb in callbacks:
            cb(trainer.epoch, trainer.model, loss)
    return trainer.model


def _batched(
    model: nn.Module,
    inputs: torch.Tensor,
    fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int,
    device: str | torch.device,
) -> torch.Tensor:
    dev = resolve_device(device)
    was_training = model.training
    model.eval()
    outs = []
    try:
        with torch.inference_mode():
            for start in range(0, inputs.shape[0], batch_size):
                x = as_model_input(inputs[start : start + batch_size], dev)
                outs.append(fn(x).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def predict_logits(
    model: nn.Module, inputs: torch.Tensor, *, batch_size: int = 1024, device: str | torch.device = "auto"
) -> np.ndarray:
    """Logits ``(n, K)`` float32, in eval mode under inference mode."""
    model.to(resolve_device(device))
    return _batched(model, inputs, model, batch_size=batch_size, device=device).numpy()


def predict_proba(
    model: nn.Module, inputs: torch.Tensor, *, batch_size: int = 1024, device: str | torch.device = "auto"
) -> np.ndarray:
    """Softmax probabilities ``(n, K)`` float32 in [0, 1], rows summing to 1."""
    logits = torch.from_numpy(predict_logits(model, inputs, batch_size=batch_size, device=device))
    return torch.softmax(logits, dim=1).numpy()


def extract_features(
    model: nn.Module, inputs: torch.Tensor, *, batch_size: int = 1024, device: str | torch.device = "auto"
) -> np.ndarray:
    """Penultimate-layer features ``(n, d)`` float32 (the space INN searches for neighbours)."""
    model.to(resolve_device(device))
    return _batched(model, inputs, model.features, batch_size=batch_size, device=device).numpy()
