"""A run under ``torchrun``: rank 0 owns the run store, every rank owns its shard of the work.

The store lives on a filesystem every rank can read (one machine, or a shared filesystem across
nodes): all ranks read the configuration and the last checkpoint from it, rank 0 alone writes.
:func:`rank_store` hands the other ranks a view whose writes do nothing, so the runner's code
reads the same on every rank. A rank killed mid-run ends the run ``failed`` and resumable:
torchrun's agent stops the surviving ranks with SIGTERM, which :func:`failing_on_sigterm` turns
into an exception that the run's guard records (a collective that loses its peer fails the same way).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from inn_core.method.distributed import World
from inn_core.runs.store import RunStore

__all__ = ["RankStopped", "rank_store", "failing_on_sigterm"]

_WRITES = frozenset({"create_run", "update_run", "request_cancel", "write_json", "write_arrays", "write_torch",
                     "delete_run", "mark_stale_runs", "record_decision", "undo_decision"})


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


@contextmanager
def failing_on_sigterm(world: World) -> Iterator[None]:
    """While a multi-rank run works, SIGTERM raises :class:`RankStopped` so the run is marked failed."""
    if world.size == 1:
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise RankStopped("stopped by torchrun: another rank of this run failed or was killed; resume continues it")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
