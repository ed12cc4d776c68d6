"""Shared dashboard plumbing: the run store, a run picker and clear errors for bad input."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import streamlit as st

from inn_core.data.local_paths import check_local_path, local_paths_off_reason
from inn_core.errors import InputError
from inn_core.runs.store import RunRecord, RunStore

#: Run kinds that score every sample (input-space experiments and embedding runs): the pages that
#: show AUC, histograms, review and export read both alike.
DETECTION_KINDS = ("experiment", "embedding")

__all__ = [
    "store_home",
    "get_store",
    "run_picker",
    "run_labels",
    "user_errors",
    "local_paths_off",
    "checked_local_path",
]


def store_home() -> Path:
    """Where the runs live: ``$INN_LAB_HOME`` or ``./runs``."""
    return Path(os.environ.get("INN_LAB_HOME", "runs")).resolve()


@st.cache_resource
def _store(home: str) -> RunStore:
    return RunStore(home)


def get_store() -> RunStore:
    """The process-wide :class:`RunStore` (one per home folder)."""
    return _store(str(store_home()))


def run_labels(runs: Sequence[RunRecord]) -> dict[str, str]:
    """``id -> "name · dataset, noise"``; a name that occurs twice gets its start time and id.

    No status: Streamlit's select box keeps showing an option's old text after a rerun that changes it
    (measured with 1.67), so a status in the label would stay "queued" while the run trains. Pages that
    list unfinished runs show the status in their live part instead.
    """
    names = [r.name for r in runs]
    return {r.id: _label(r, repeated=names.count(r.name) > 1) for r in runs}


def _label(run: RunRecord, *, repeated: bool = False) -> str:
    noise = run.experiment.get("noise", {})
    kind, rate = noise.get("kind", "?"), noise.get("rate")
    # Noise "none" keeps the given labels; the rate stored beside it means nothing.
    setting = f"{run.experiment.get('dataset') or 'embeddings'}, {kind}" + (
        f" {rate:.0%}" if rate is not None and kind != "none" else ""
    )
    name = run.name
    if repeated:
        name += f" ({time.strftime('%Y-%m-%d %H:%M', time.localtime(run.created))}, {run.id[-6:]})"
    return f"{name} · {setting}"


def run_picker(key: str, *, statuses: Sequence[str] = ("done",), label: str = "Run") -> str | None:
    """A select box over the store's runs with one of ``statuses``; returns the chosen run id.

    Remembers the choice across pages through ``st.session_state["current_run"]`` and across
    reloads through the ``?run=`` query parameter.
    """
    runs = [r for r in get_store().list_runs() if r.kind in DETECTION_KINDS and r.status in statuses]
    if not runs:
        return None
    ids = [r.id for r in runs]
    labels = run_labels(runs)
    current = st.session_state.get("current_run") or st.query_params.get("run")
    index = ids.index(current) if current in ids else 0
    chosen = st.selectbox(label, ids, index=index, format_func=labels.__getitem__, key=key)
    st.session_state["current_run"] = chosen
    st.query_params["run"] = chosen
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


def local_paths_off() -> str | None:
    """Why this server may not read folders of its machine (listening beyond loopback, no data roots), or None."""
    return local_paths_off_reason(st.get_option("server.address"))


def checked_local_path(path: str | None) -> str | None:
    """``path`` when this server may read it (``$INN_LAB_DATA_ROOTS``, loopback); else :class:`InputError`."""
    if not path:
        return path
    check_local_path(path, listen_address=st.get_option("server.address"))
    return path


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show an :class:`InputError` as ``st.error`` with its reason instead of a traceback."""
    try:
        yield
    except InputError as exc:
        st.error(str(exc), icon=":material/error:")
