"""Runs in progress: progress bars with ETA and a cancel button, and the table of every run.

The runs themselves are separate worker processes that write their progress into the store; these
widgets only read the store (and set the cancel flag), so they can be redrawn as often as a
polling fragment likes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from inn_core.runs.store import RunRecord, RunStore

__all__ = ["ACTIVE", "format_eta", "runs_frame", "active_runs"]

#: Statuses of runs that are still going.
ACTIVE = ("queued", "running")


def format_eta(seconds: float | None) -> str:
    """``"about 1 min 05 s"``-style text for an ETA in seconds; ``"estimating…"`` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "estimating…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"about {seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"about {minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min"


def _setting(run: RunRecord) -> str:
    noise = run.experiment.get("noise", {}) or {}
    rate = noise.get("rate")
    kind = noise.get("kind", "?")
    shown = f"{kind} {rate:.0%}" if rate is not None and kind not in ("none", "matrix") else kind
    return f"{run.config.get('dataset') or 'embeddings'}, {shown}"


def runs_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: name, status, progress in [0, 1], phase, setting, epochs, created, error, id."""
    columns = ["name", "status", "progress", "phase", "setting", "epochs", "created", "error", "id"]
    rows = [
        {
            "name": r.name,
            "status": r.status,
            "progress": float(r.progress),
            "phase": r.phase,
            "setting": _setting(r),
            "epochs": r.config.get("epochs"),
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
            "error": r.error or "",
            "id": r.id,
        }
        for r in runs
    ]
    return pd.DataFrame(rows, columns=columns)


def active_runs(store: RunStore, runs: Sequence[RunRecord], *, key: str) -> None:
    """A progress bar with phase and ETA and a Cancel button for each run in ``runs``."""
    for run in runs:
        bar, button = st.columns([5, 1], vertical_alignment="bottom")
        if run.cancel_requested:
            text = f"**{run.name}** · cancelling…"
        else:
            text = f"**{run.name}** · {run.phase or run.status} · {run.progress:.0%} · {format_eta(run.eta)}"
        bar.progress(min(max(float(run.progress), 0.0), 1.0), text=text)
        # A callback, so the rerun it triggers already reads the cancel flag and shows "cancelling…".
        button.button(
            "Cancel",
            key=f"{key}_cancel_{run.id}",
            disabled=run.cancel_requested,
            on_click=store.request_cancel,
            args=(run.id,),
            help="Stop the run after the current epoch; it can be resumed later.",
        )
