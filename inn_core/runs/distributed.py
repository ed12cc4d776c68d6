"""A run under ``torchrun``: rank 0 owns the run store, every rank owns its shard of the work.

The store lives on a filesystem every rank can read (one machine, or a shared filesystem across
nodes): all ranks read the configuration and the last checkpoint from it, rank 0 alone writes.
:func:`rank_store` hands the other ranks a view whose writes do nothing, so the runner's code
reads the same on every rank. A rank killed mid-run ends the run ``failed`` and resumable:
torchrun's agent stops the surviving ranks with SIGTERM, or their next collective loses its peer;
:func:`as_rank` turns either into one :class:`RankStopped` line that the run's guard records.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import torch.distributed as dist

from inn_core.devices import resolve_device
from inn_core.method.distributed import World, init_world, launched
from inn_core.runs.store import RunStore

__all__ = ["RankStopped", "rank_store", "as_rank", "on_main_rank", "steps_aside"]

T = TypeVar("T")

_WRITES = frozenset(
    {
        "create_run",
        "update_run",
        "request_cancel",
        "write_json",
        "write_arrays",
        "write_torch",
        "delete_run",
        "mark_stale_runs",
        "record_decision",
        "undo_decision",
    }
)


class RankStopped(RuntimeError):
    """Raised in a rank that torchrun stopped because another rank of its run failed."""


class _ReadOnlyStore:
    """A store whose reads go to the real store and whose writes do nothing (ranks other than 0)."""

    def __init__(self, store: RunStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in _WRITES:
            return lambda *args, **kwargs: None
        return getattr(self._store, name)


def rank_store(store: RunStore, world: World) -> RunStore:
    """``store`` itself on rank 0; on the other ranks a view that reads it and never writes."""
    return store if world.is_main else _ReadOnlyStore(store)  # type: ignore[return-value]


_STOPPED = "stopped by torchrun: another rank of this run failed or was killed; resume continues it"


def as_rank(world: World, body: Callable[[], T], *, on_stop: Callable[[str], None] | None = None) -> Callable[[], T]:
    """``body`` such that losing another rank raises :class:`RankStopped` with one clear line.

    Losing a rank shows up two ways: torchrun's agent sends this rank SIGTERM, or a collective
    fails because its peer's connection closed. Either way the run's guard then records the run
    as failed (resumable) with that line. A rank blocked inside a collective cannot run Python's
    signal handler before torchrun's SIGKILL follows, so ``on_stop(message)`` (rank 0: mark the
    run failed) is also called from a watcher thread woken by the signal itself
    (``signal.set_wakeup_fd``). A world of size 1 gets ``body`` itself.
    """
    if world.size == 1:
        return body

    def watch(fd: int) -> None:
        while True:
            data = os.read(fd, 64)
            if not data:
                return  # the run ended: the write end was closed
            if signal.SIGTERM in data and on_stop is not None:
                on_stop(_STOPPED)
                return

    def run() -> T:
        lost = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal lost
            lost = True
            raise RankStopped(_STOPPED)

        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        previous = signal.signal(signal.SIGTERM, stop)
        previous_fd = signal.set_wakeup_fd(write_fd)
        watcher = threading.Thread(target=watch, args=(read_fd,), name="inn-rank-watch", daemon=True)
        watcher.start()
        try:
            return body()
        except RuntimeError as exc:
            text = str(exc)
            if isinstance(exc, RankStopped) or not (
                isinstance(exc, dist.DistError) or "gloo" in text or "NCCL" in text
            ):
                raise
            lost = True
            first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
            raise RankStopped(
                f"lost another rank of this run (it failed or was killed); resume continues it ({first})"
            ) from exc
        finally:
            signal.set_wakeup_fd(previous_fd)
            # A collective usually notices the lost peer before torchrun's SIGTERM lands; with the
            # default action back, that SIGTERM would kill this rank while its guard records the
            # run failed, leaving it "running". The rank is exiting anyway (SIGKILL follows in 30 s).
            signal.signal(signal.SIGTERM, signal.SIG_IGN if lost else previous)
            os.close(write_fd)
            watcher.join(timeout=5)
            os.close(read_fd)

    return run


def on_main_rank(store: RunStore, run_id: str, fn: Callable[[], T]) -> T:
    """``fn()`` (a check that writes, such as ``prepare_resume``) on rank 0 only, its result on every rank."""
    if not launched():
        return fn()
    world = init_world(resolve_device(store.config(run_id).get("device", "auto")))
    return world.on_main(fn)


def steps_aside(sharded: bool) -> bool:
    """True on ranks other than 0 of a ``torchrun`` launch of a run kind that is not sharded
    (DivideMix's co-training): rank 0 runs it alone and the others exit at once, saying so."""
    rank = int(os.environ.get("RANK", "0") or 0)
    if sharded or not launched() or rank == 0:
        return False
    print(f"rank {rank}: this kind of run is not sharded; rank 0 runs it alone and this rank exits", file=sys.stderr)
    return True
