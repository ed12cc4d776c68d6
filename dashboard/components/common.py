"""Shared dashboard plumbing: the run store, a run picker and clear errors for bad input."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import streamlit as st

from inn_core.errors import InputError
from inn_core.runs.store import RunRecord, RunStore

#: Run kinds that score every sample (input-space experiments and embedding runs): the pages that
#: show AUC, histograms, review and export read both alike.
DETECTION_KINDS = ("experiment", "embedding")

__all__ = ["store_home", "get_store", "run_picker", "user_errors"]


def store_home() -> Path:
    """Where the runs live: ``$INN_LAB_HOME`` or ``./runs``."""
    return Path(os.environ.get("INN_LAB_HOME", "runs")).resolve()


@st.cache_resource
def _store(home: str) -> RunStore:
    return RunStore(home)


def get_store() -> RunStore:
    """The process-wide :class:`RunStore` (one per home folder)."""
    return _store(str(store_home()))


def _label(run: RunRecord) -> str:
    noise = run.experiment.get("noise", {})
    rate = noise.get("rate")
    setting = f"{run.config.get('dataset') or 'embeddings'}, {noise.get('kind', '?')}" + (f" {rate:.0%}" if rate is not None else "")
    return f"{run.name} · {setting} · {run.status}"


def run_picker(key: str, *, statuses: Sequence[str] = ("done",), label: str = "Run") -> str | None:
    """A select box over the store's runs with one of ``statuses``; returns the chosen run id.

    Remembers the choice across pages through ``st.session_state["current_run"]``.
    """
    runs = [r for r in get_store().list_runs() if r.kind in DETECTION_KINDS and r.status in statuses]
    if not runs:
        return None
    ids = [r.id for r in runs]
    labels = {r.id: _label(r) for r in runs}
    current = st.session_state.get("current_run")
    index = ids.index(current) if current in ids else 0
    chosen = st.selectbox(label, ids, index=index, format_func=labels.__getitem__, key=key)
    st.session_state["current_run"] = chosen
    return chosen


def pick_run(key: str, *, missing: str, statuses: Sequence[str] = ("done",), label: str = "Run") -> str:
    """The page prelude: :func:`run_picker`; when there is no run, ``missing`` as an info box, the
    first-launch demo button (or the progress of the runs under way) and the page stops."""
    run_id = run_picker(key, statuses=statuses, label=label)
    if run_id is None:
        # Imported here: first_run builds on this module.
        from dashboard.components.first_run import no_run_yet

        no_run_yet(missing, key=key)
    return run_id


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show an :class:`InputError` as ``st.error`` with its reason instead of a traceback."""
    try:
        yield
    except InputError as exc:
        st.error(str(exc), icon=":material/error:")
