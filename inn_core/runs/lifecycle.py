"""Run lifecycle, written once for every run kind: progress and ETA, cancel, failure, resume, background launch.

A run's body (an experiment, a robust training) reports through a :class:`Reporter`, which writes
progress, phase and ETA to the store, calls the caller's callbacks and raises :class:`Cancelled`
when the run was asked to stop; :func:`guard_run` records how a body ended if it ended early;
:func:`prepare_resume` checks a stopped run can continue; :func:`launch_in_background` starts a
worker process (``python -m inn_core.runs.worker``) that re-enters through the front door,
:func:`inn_core.runs.launch.resume`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from inn_core.errors import InputError
from inn_core.method.distributed import SINGLE, World
from inn_core.runs.store import RunStore

__all__ = [
    "Progress",
    "Cancelled",
    "ProgressCallback",
    "Reporter",
    "mark_running",
    "guard_run",
    "prepare_resume",
    "launch_in_background",
]


@dataclass(frozen=True)
class Progress:
    """What a long call reports: phase, epochs done, overall fraction in [0, 1] and ETA in seconds."""

    phase: str
    epoch: int
    epochs: int
    fraction: float
    eta_seconds: float | None = None
    message: str = ""


#: Called with a :class:`Progress` after every step of a run.
ProgressCallback = Callable[[Progress], None]


class Cancelled(Exception):
    """Raised inside a run when its caller asked it to stop."""


class Reporter:
    """Progress, ETA and cancellation of one run, counted in work units (an epoch, an evaluation, ...).

    Parameters
    ----------
    store, run_id : the run; progress, phase and ETA are written to its row.
    total : work units of the whole run, >= 1.
    epochs : the run's epochs, as shown in :class:`Progress`.
    callbacks : each is called with every :class:`Progress`.
    should_stop : polled at every report; True raises :class:`Cancelled` (so does the store's cancel flag).
    world : the ranks of a ``torchrun`` run: rank 0 polls and tells every rank, so all stop at the same step.

    ``done`` counts the units finished; the ETA extrapolates the rate of the units done in this
    process (since the last :meth:`start`), so a resumed run does not count restored work as speed.
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        *,
        total: int,
        epochs: int,
        callbacks: Sequence[ProgressCallback] = (),
        should_stop: Callable[[], bool] | None = None,
        world: World = SINGLE,
    ) -> None:
        self.store, self.run_id, self.world = store, run_id, world
        self.total, self.epochs = max(1, int(total)), epochs
        self.callbacks, self.should_stop = tuple(callbacks), should_stop
        self._flag_read = time.monotonic()
        self.start(0)

    def stop_requested(self) -> bool:
        """Whether the run was asked to stop, polled between batches (one process only).

        The caller's ``should_stop`` is asked every time, the store's cancel flag at most every 0.5 s:
        a store read per batch would cost more than a small batch.
        """
        if self.should_stop is not None and self.should_stop():
            return True
        now = time.monotonic()
        if now - self._flag_read < 0.5:
            return False
        self._flag_read = now
        return self.store.cancel_requested(self.run_id)

    def start(self, done: int) -> None:
        """Work units already done when this process starts (restored from a checkpoint)."""
        self.done = self.done_at_start = done
        self.started = time.monotonic()

    def report(self, phase: str, epoch: int, message: str = "") -> Progress:
        """Stop if asked to; else write and broadcast the progress."""
        stop = self.world.is_main and (
            (self.should_stop is not None and self.should_stop()) or self.store.cancel_requested(self.run_id)
        )
        if self.world.broadcast(stop):
            raise Cancelled(self.run_id)
        elapsed = time.monotonic() - self.started
        rate = (self.done - self.done_at_start) / elapsed if elapsed > 0 else 0
        eta = (self.total - self.done) / rate if rate > 0 else None
        progress = Progress(phase, epoch, self.epochs, min(self.done / self.total, 1.0), eta, message)
        self.store.update_run(self.run_id, progress=progress.fraction, phase=phase, eta=eta)
        for cb in self.callbacks:
            cb(progress)
        return progress

    def finish(self, epoch: int) -> None:
        """Mark the run done (only once everything it promises is on disk) and tell the callbacks."""
        self.store.update_run(self.run_id, status="done", progress=1.0, phase="done", eta=None, pid=None)
        for cb in self.callbacks:
            cb(Progress("done", epoch, self.epochs, 1.0, 0.0))


def mark_running(store: RunStore, run_id: str) -> None:
    """Claim the run for this process (status ``running``, phase ``loading data``)."""
    store.update_run(run_id, status="running", phase="loading data", pid=os.getpid(), error=None)


def guard_run(store: RunStore, run_id: str, body: Callable[[], None]) -> None:
    """Call ``body`` (the run's work) and record how it ended if it ended early.

    :class:`Cancelled` marks the run cancelled; any other exception marks it failed with the reason
    (the :class:`InputError` message as it is; for bugs the traceback goes to ``error.json``).
    The exception propagates either way; a run is only marked done by its own ``body``.
    """
    try:
        body()
    except Cancelled:
        store.update_run(run_id, status="cancelled", phase="cancelled", eta=None, pid=None)
        raise
    except BaseException as exc:
        message = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
        store.update_run(run_id, status="failed", error=message, eta=None, pid=None)
        if not isinstance(exc, InputError):
            store.write_json(run_id, "error.json", {"error": message, "traceback": traceback.format_exc()})
        raise


def prepare_resume(store: RunStore, run_id: str, *, kind: str = "experiment") -> dict[str, Any]:
    """Check that ``run_id`` can be resumed and clear its cancel flag; returns its stored config.

    Raises :class:`InputError` for an unknown run, a run of another kind, a finished run, or one
    still running in another live process (a process that died is detected and its run resumable).
    """
    store.mark_stale_runs()
    record = store.get_run(run_id)
    if record.kind != kind:
        raise InputError(
            f"run {run_id!r} is {record.kind!r}, not {kind!r}; `python -m inn_core resume` picks the right one"
        )
    if record.status == "done":
        raise InputError(f"run {run_id!r} is already done; nothing to resume")
    if record.status == "running" and record.pid not in (None, os.getpid()):
        raise InputError(f"run {run_id!r} is running in process {record.pid}; cancel it first or wait")
    store.update_run(run_id, cancel_requested=0, error=None)
    return store.config(run_id)


def launch_in_background(store: RunStore, run_id: str) -> subprocess.Popen:
    """Start (or continue) ``run_id`` in a separate process that outlives the caller.

    The worker is ``python -m inn_core.runs.worker --home HOME RUN``, which resumes the run through
    :func:`inn_core.runs.launch.resume`; it reports through the store only, so any page or script can
    follow it by polling :meth:`RunStore.get_run`. Its output goes to ``<run dir>/worker.log``.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        with open(store.run_dir(run_id) / "worker.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "inn_core.runs.worker", "--home", str(store.home), run_id],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
    except OSError as exc:
        store.update_run(run_id, status="failed", error=f"could not start the worker process: {exc}", pid=None)
        raise InputError(f"could not start the worker process for run {run_id}: {exc}") from exc
    store.update_run(run_id, pid=proc.pid)
    # Wait for the child in the background so a finished worker does not stay a zombie under the caller.
    threading.Thread(target=proc.wait, name=f"reap-{run_id}", daemon=True).start()
    return proc
