"""Several processes as one run: the world ``torchrun`` starts, row shards, gathers and a global BatchNorm.

One code path: a :class:`World` of size 1 (no ``torchrun``, or ``--nproc-per-node 1``) does no
communication and every helper hands back its input unchanged, so a single process computes
exactly what it computed before this module existed.

Under ``torchrun`` every rank holds the whole training set and the same models. Training splits
each global batch of ``batch_size`` samples into ``world`` contiguous slices (see
:meth:`World.batch_rows`); inference splits the ``n`` samples into ``world`` contiguous shards
(:meth:`World.shard`) whose results :meth:`World.gather_rows` puts back in order on every rank.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import MethodType
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from inn_core.errors import InputError

__all__ = [
    "TIMEOUT_ENV",
    "OP_TIMEOUT_ENV",
    "World",
    "SINGLE",
    "launched",
    "init_world",
    "global_batch_norm",
]

#: Seconds a rank waits to join the process group (the rendezvous) before it gives up with one line.
TIMEOUT_ENV = "INN_LAB_DIST_TIMEOUT"
_DEFAULT_TIMEOUT = 120.0
#: Seconds a collective may wait for the other ranks once the run is going (rank 0 evaluates alone
#: between epochs, so this is longer than the join timeout). A rank that dies is noticed at once by
#: torchrun's agent, which stops the others; this only bounds a rank that hangs.
OP_TIMEOUT_ENV = "INN_LAB_DIST_OP_TIMEOUT"
_DEFAULT_OP_TIMEOUT = 1800.0

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """Who this process is among the run's processes.

    Attributes
    ----------
    rank : 0-based index of this process; rank 0 alone writes the run store and reports progress.
    size : number of processes (``WORLD_SIZE``); 1 = a single-process run.
    device : the device of this rank's models (``cuda:LOCAL_RANK`` under NCCL).
    group : the process group for the run's collectives (``None`` when ``size == 1``).
    norm_group : a second group for the BatchNorm statistics, so that they never interleave with
        DistributedDataParallel's gradient buckets.
    """

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")
    group: Any = None
    norm_group: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- splitting work -------------------------------------------------------------------------
    def shard(self, n: int) -> np.ndarray:
        """This rank's contiguous block of ``range(n)``, ``(m,)`` int64; ranks' blocks in order cover it."""
        return np.array_split(np.arange(n, dtype=np.int64), self.size)[self.rank]

    def take(self, rows: T) -> T:
        """This rank's shard of ``rows`` (an ``(n, ...)`` array or tensor); the object itself when alone."""
        if self.size == 1:
            return rows
        shard = self.shard(len(rows))
        return rows[torch.from_numpy(shard)] if isinstance(rows, torch.Tensor) else rows[shard]

    def batch_rows(self, b: int) -> slice | None:
        """This rank's contiguous slice of a global batch of ``b`` samples.

        ``None`` when the batch has fewer samples than ranks (some rank would get none): every rank
        then skips that batch, as the single process skips a batch of one sample.
        """
        if self.size == 1:
            return slice(0, b)
        if b < self.size:
            return None
        base, extra = divmod(b, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    # ---- communication --------------------------------------------------------------------------
    def gather_rows(self, local: np.ndarray) -> np.ndarray:
        """Concatenate every rank's ``(m_r, ...)`` rows in rank order, on every rank; ``local`` itself when alone."""
        if self.size == 1:
            return local
        local = np.ascontiguousarray(local)
        as_bool = local.dtype == np.bool_
        tensor = torch.from_numpy(local.view(np.uint8) if as_bool else local).to(self.device)
        counts = [torch.zeros(1, dtype=torch.int64, device=self.device) for _ in range(self.size)]
        dist.all_gather(counts, torch.tensor([tensor.shape[0]], device=self.device), group=self.group)
        counts = [int(c) for c in counts]
        width = max(counts)
        padded = torch.zeros((width, *tensor.shape[1:]), dtype=tensor.dtype, device=self.device)
        padded[: tensor.shape[0]] = tensor
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded, group=self.group)
        out = torch.cat([part[:count] for part, count in zip(parts, counts)]).cpu().numpy()
        return out.view(np.bool_) if as_bool else out

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (any picklable object)."""
        if self.size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.group, device=self.device)
        return box[0]

    def gather_objects(self, obj: T) -> list[T]:
        """Every rank's ``obj`` (any picklable object) in rank order, on every rank; ``[obj]`` when alone."""
        if self.size == 1:
            return [obj]
        boxes: list[Any] = [None] * self.size
        dist.all_gather_object(boxes, obj, group=self.group)
        return boxes

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """The sum of ``value`` over ranks (a new tensor on every rank); ``value`` itself when alone."""
        if self.size == 1:
            return value
        total = value.detach().clone().to(self.device)
        dist.all_reduce(total, group=self.group)
        return total.to(value.device)

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and hand its result to every rank.

        An error on rank 0 is raised on every rank (as :class:`InputError` with the same message
        on the others), so a bad run or a refused resume ends every rank with one line, no hang.
        """
        if self.size == 1:
            return fn()
        result, error, failure = None, None, None
        if self.is_main:
            try:
                result = fn()
            except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
                failure, error = exc, str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
        result, error = self.broadcast((result, error))
        if failure is not None:
            raise failure
        if error is not None:
            raise InputError(error)
        return result


SINGLE = World()
_WORLD: World | None = None


def _env_seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name} must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise InputError(f"{name} must be positive, got {text!r}")
    return value


def launched() -> bool:
    """Whether this process is one of several started by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def init_world(device: torch.device) -> World:
    """Join the process group ``torchrun`` set up, once per process; :data:`SINGLE` when not launched.

    The backend is NCCL when ``device`` is CUDA (each rank then takes ``cuda:LOCAL_RANK``), gloo
    on the CPU. Joining waits at most ``INN_LAB_DIST_TIMEOUT`` seconds (default 120).

    Raises
    ------
    InputError : the rendezvous could not be reached in time, or the environment is incomplete.
    """
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    if not launched():
        return SINGLE
    try:
        rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError) as exc:
        raise InputError(
            f"WORLD_SIZE is set but {exc} is missing or not an integer; start the run with torchrun"
        ) from None
    timeout = _env_seconds(TIMEOUT_ENV, _DEFAULT_TIMEOUT)
    op_timeout = _env_seconds(OP_TIMEOUT_ENV, _DEFAULT_OP_TIMEOUT)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        with _native_stderr_held():
            dist.init_process_group(backend, rank=rank, world_size=size, timeout=timedelta(seconds=timeout))
            group = dist.new_group(backend=backend, timeout=timedelta(seconds=op_timeout))
            norm_group = dist.new_group(backend=backend, timeout=timedelta(seconds=op_timeout))
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, ValueError or DistStoreError here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"rank {rank} of {size} could not join the process group at {where} within {timeout:g} s "
            f"({TIMEOUT_ENV}): {first}"
        ) from None
    _WORLD = World(rank=rank, size=size, device=device, group=group, norm_group=norm_group)
    return _WORLD


@contextmanager
def _native_stderr_held() -> Iterator[None]:
    """Hold file descriptor 2 in a temporary file, written out after all unless the block fails.

    c10d logs a C++ stack trace for every failed connection attempt, which would bury the one
    line that a failed join ends with.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        sys.stderr.write(held.read().decode(errors="replace"))


@contextmanager
def global_batch_norm(model: nn.Module, world: World) -> Iterator[None]:
    """While training, make every BatchNorm of ``model`` normalise with the statistics of the global batch.

    torch's ``SyncBatchNorm`` runs on CUDA only; this one runs under gloo too. In training mode a
    BatchNorm layer all-reduces its per-channel sum, sum of squares and count (differentiably,
    so the backward pass gets the global statistics' gradients), normalises with the global mean
    and biased variance, and updates its running statistics with the unbiased global variance -
    what the single process computes on the whole batch, up to rounding. Eval mode and a world of
    size 1 are untouched; parameters, buffers and ``state_dict`` stay those of ``nn.BatchNorm``.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if world.size == 1 or not norms:
        yield
        return
    for norm in norms:
        norm.forward = MethodType(_global_norm_forward(world), norm)
    try:
        yield
    finally:
        for norm in norms:
            del norm.forward


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the incoming gradients."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        total = tensor.clone()
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        total = grad.contiguous().clone()
        dist.all_reduce(total, group=ctx.group)
        return total, None


def _global_norm_forward(world: World) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    def all_reduce(tensor: torch.Tensor, group: Any) -> torch.Tensor:
        return _AllReduceSum.apply(tensor, group)

    def forward(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return type(self).forward(self, x)
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        xf = x.float()
        count = torch.full((1,), x.numel() / channels, dtype=torch.float32, device=x.device)
        stats = all_reduce(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]), group=world.norm_group)
        total = stats[-1]
        mean = stats[:channels] / total
        var = (stats[channels : 2 * channels] / total - mean * mean).clamp_min(0)
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            unbiased = var * (total / (total - 1).clamp_min(1))
            self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
            self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        shape = (1, channels, *([1] * (x.dim() - 2)))
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)

    return forward
