"""The front door for runs: :func:`submit` a configuration, :func:`resume` a stopped run, whatever its kind.

The CLI, the dashboard pages and the background worker start and continue runs only through these
two calls. Each run kind is one entry of :data:`RUN_KINDS`: its configuration class (with
``to_dict`` / ``from_dict`` and a ``name``), the function that runs it to completion and the check
that needs the data (so a bad folder or an ``L`` too large for the data is an error before anything
is created). A new kind registers with one entry, named by import path so that importing this
module stays light::

    RUN_KINDS["embedding"] = RunKind(config="inn_core.runs.embedding:EmbeddingConfig",
                                     runner="inn_core.runs.embedding:run_embedding_experiment",
                                     check="inn_core.runs.embedding:check_data")

Examples
--------
>>> from inn_core.runs.experiment import ExperimentConfig
>>> from inn_core.runs.launch import resume, submit
>>> run_id = submit(store, ExperimentConfig(epochs=2), background=False)    # doctest: +SKIP
>>> run_id = submit(store, ExperimentConfig(epochs=40))      # a worker process trains it  # doctest: +SKIP
>>> resume(store, run_id)                                    # after a crash or a cancel  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from inn_core.errors import InputError
from inn_core.runs.lifecycle import ProgressCallback, launch_in_background, prepare_resume
from inn_core.runs.store import RunStore

__all__ = ["RunKind", "RUN_KINDS", "kind_of", "check", "submit", "resume"]


@dataclass(frozen=True)
class RunKind:
    """One kind of run, each part named ``"module:attribute"`` and imported when first used.

    Attributes
    ----------
    config : the configuration class; ``from_dict(config.to_dict())`` rebuilds it for resume.
    runner : ``runner(config, *, store, callbacks, should_stop, run_id) -> run_id`` runs it to completion.
    check : ``check(config) -> None`` raises :class:`InputError` for what only the data can tell.
    """

    config: str
    runner: str
    check: str
    #: Whether the runner shards its work over ``torchrun``'s ranks; other kinds run on rank 0 alone.
    sharded: bool = False

    def load(self, part: str) -> Any:
        module, _, attribute = getattr(self, part).partition(":")
        return getattr(importlib.import_module(module), attribute)


#: Run kind (the store's ``kind`` column) -> how to run it.
RUN_KINDS: dict[str, RunKind] = {
    "experiment": RunKind(
        config="inn_core.runs.experiment:ExperimentConfig",
        runner="inn_core.runs.experiment:run_experiment",
        check="inn_core.runs.prepare:check_data",
        sharded=True,
    ),
    "robust": RunKind(
        config="inn_core.runs.robust:RobustConfig",
        runner="inn_core.runs.robust:train_robust",
        check="inn_core.runs.robust:check_data",
    ),
    "embedding": RunKind(
        config="inn_core.runs.embedding_run:EmbeddingConfig",
        runner="inn_core.runs.embedding_run:run_embedding",
        check="inn_core.runs.embedding_run:check_data",
    ),
}


def _kind(name: str) -> RunKind:
    if name not in RUN_KINDS:
        raise InputError(f"unknown run kind {name!r}; known: {', '.join(RUN_KINDS)}")
    return RUN_KINDS[name]


def kind_of(config: Any) -> str:
    """The run kind whose configuration class ``config`` is an instance of."""
    for name, kind in RUN_KINDS.items():
        if isinstance(config, kind.load("config")):
            return name
    raise InputError(f"no run kind takes a {type(config).__name__}; known kinds: {', '.join(RUN_KINDS)}")


def check(config: Any) -> None:
    """Validate what needs the data (the folder exists, ``L`` fits, the model suits the images)."""
    _kind(kind_of(config)).load("check")(config)


def submit(
    store: RunStore,
    config: Any,
    *,
    background: bool = True,
    validate: bool = True,
    callbacks: Sequence[ProgressCallback] = (),
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Create a run of ``config`` in ``store`` and start it; returns its id.

    Parameters
    ----------
    store : where the run lives.
    config : a configuration of one of :data:`RUN_KINDS` (``ExperimentConfig``, ``RobustConfig``, ...).
    background : True (default) starts a worker process and returns at once (follow the run through
        the store); False runs it here to completion, with ``callbacks`` and ``should_stop``.
    validate : first run :func:`check` so that a bad data setting raises here and creates no run.

    Raises
    ------
    InputError : bad configuration or data (no run is created when ``validate``).
    Cancelled : a foreground run was stopped (it is marked cancelled and can be resumed).
    """
    kind = kind_of(config)
    if validate:
        check(config)
    if not background:
        return _kind(kind).load("runner")(config, store=store, callbacks=callbacks, should_stop=should_stop)
    run_id = store.create_run(config.to_dict(), name=config.name, kind=kind)
    launch_in_background(store, run_id)
    return run_id


def resume(
    store: RunStore,
    run_id: str,
    *,
    background: bool = False,
    callbacks: Sequence[ProgressCallback] = (),
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Continue a queued, failed, cancelled or interrupted run from its last checkpoint, by its kind.

    ``background=True`` checks the run can be resumed and hands it to a worker process.
    Raises :class:`InputError` for an unknown, finished or still running run.
    """
    from inn_core.runs.distributed import on_main_rank, steps_aside

    kind = store.get_run(run_id).kind
    runs = _kind(kind)
    if steps_aside(runs.sharded):
        return run_id
    config = runs.load("config").from_dict(
        on_main_rank(store, run_id, lambda: prepare_resume(store, run_id, kind=kind))
    )
    if background:
        launch_in_background(store, run_id)
        return run_id
    return runs.load("runner")(config, store=store, callbacks=callbacks, should_stop=should_stop, run_id=run_id)
