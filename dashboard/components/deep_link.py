"""Deep links: ``?run=…&sample=…`` opens a run (and on Review a sample) directly, and the URL follows the page.

:func:`apply_link` runs before a page's run picker: the first time the session sees a URL's
parameters it makes them the current run and open sample. :func:`follow` runs after the page
knows what it shows and writes that back into the URL, so a copied address opens the same view.
Session-state key: ``deep_link_seen`` (the parameters last applied or written, as strings).
"""

from __future__ import annotations

import streamlit as st

from inn_core.errors import InputError
from inn_core.runs.store import RunStore

__all__ = ["apply_link", "follow"]

_SEEN = "deep_link_seen"


def _params() -> tuple[str | None, str | None]:
    return st.query_params.get("run"), st.query_params.get("sample")


def apply_link(store: RunStore, *, picker_key: str, with_sample: bool = False) -> None:
    """Make the URL's ``run`` (and ``sample``) the current ones, once per new URL; a bad one gets one ``st.error``."""
    link = _params()
    if link == (None, None) or st.session_state.get(_SEEN) == link:
        return
    st.session_state[_SEEN] = link
    run, sample = link
    if run is None:
        return
    try:
        record = store.get_run(run)
    except InputError as exc:
        st.error(f"The link names a run this store does not have: {exc}", icon=":material/link_off:")
        return
    if record.status != "done":
        st.warning(
            f"Run {run!r} in the link is {record.status}, not done yet; showing a finished run instead.",
            icon=":material/hourglass_top:",
        )
        return
    st.session_state["current_run"] = run
    st.session_state.pop(picker_key, None)  # the picker's own state would win over current_run
    if not with_sample or sample is None:
        return
    n = int(store.read_json(run, "data.json", {}).get("n") or 0)
    try:
        index = int(sample)
    except ValueError:
        index = -1
    if not 0 <= index < n:
        st.error(
            f"The link's sample {sample!r} is not a sample of run {run!r}; it has samples 0 to {n - 1}.",
            icon=":material/link_off:",
        )
        return
    st.session_state["review_open"] = {"run": run, "sample": index}
    st.session_state.pop("review_closed", None)


def follow(run_id: str, sample: int | None = None) -> None:
    """Write what the page shows into the URL: ``?run=RUN`` plus ``&sample=I`` when a sample is open."""
    wanted = (run_id, None if sample is None else str(int(sample)))
    if _params() != wanted:
        st.query_params["run"] = run_id
        if sample is None:
            st.query_params.pop("sample", None)
        else:
            st.query_params["sample"] = wanted[1]
    st.session_state[_SEEN] = wanted
