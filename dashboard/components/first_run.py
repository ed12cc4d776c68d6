"""First launch: on a store with no finished run, one button starts the digits demo and shows its progress.

Every page that needs a run calls :func:`no_run_yet` where it would otherwise stop on "No runs
yet": a newcomer clicks once, watches the demo train (about a minute on two cores), and the
page draws itself the moment the run is done. The run is an ordinary background run of the default
experiment, so it also shows on New experiment and in ``python -m inn_core list``.
"""

from __future__ import annotations

import streamlit as st

from dashboard.components.common import get_store
from dashboard.components.progress import ACTIVE, active_runs
from inn_core.runs.store import RunStore

__all__ = ["DEMO_LABEL", "DEMO_NAME", "no_run_yet", "start_demo"]

DEMO_LABEL = "Run the digits demo (about a minute)"
DEMO_NAME = "digits demo"


def start_demo(store: RunStore) -> str:
    """Start the default experiment (digits, symmetric 40 % noise) in a background process; returns its id."""
    from inn_core.runs.experiment import ExperimentConfig
    from inn_core.runs.launch import submit

    return submit(store, ExperimentConfig(name=DEMO_NAME))


def _start(store: RunStore) -> None:
    st.session_state["current_run"] = start_demo(store)


def no_run_yet(message: str, *, key: str) -> None:
    """Say there is no finished run, offer the demo (or follow the runs under way), then stop the page.

    ``message`` is the page's own hint (e.g. "No finished run yet. Start one on ..."); ``key`` keeps
    the button's widget key unique per page.
    """
    store = get_store()
    if any(r.status in ACTIVE for r in store.list_runs(kind="experiment")):
        st.info("A run is under way; this page fills in as soon as it is done.", icon=":material/hourglass_top:")
        _follow(key)
    else:
        failed = [r for r in store.list_runs(kind="experiment") if r.status == "failed"]
        if failed:
            st.warning(f"The latest run, **{failed[0].name}**, failed: {failed[0].error}", icon=":material/warning:")
        st.info(message, icon=":material/info:")
        st.button(
            DEMO_LABEL,
            key=f"{key}_demo",
            type="primary",
            icon=":material/play_arrow:",
            on_click=_start,
            args=(store,),
            help="Trains the default experiment - scikit-learn's digits with 40 % of the "
            "labels made wrong on purpose - in the background, then opens it here.",
        )
    st.stop()


@st.fragment(run_every=1.0)
def _follow(key: str) -> None:
    store = get_store()
    runs = [r for r in store.list_runs(kind="experiment") if r.status in ACTIVE]
    if not runs:
        st.rerun()  # done (or failed): the whole page redraws with the finished run, or says why not
    active_runs(store, runs, key=f"{key}_first")
