"""Bulk review on the Review page: pick many samples, see what would change, apply as one batch, undo as one.

The samples come from table rows (``st.dataframe`` selection), the whole list shown (which is the
map's box / lasso selection when Review shows "Selection from the map"), or a rule over the run.
The engine side is :mod:`inn_core.views.bulk`; this component only draws and calls it. A batch
goes into ``review_history`` as ``[run, None, batch]``, so the page's one Undo takes it all back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from inn_core.errors import InputError
from inn_core.runs.store import RunStore
from inn_core.views.bulk import BULK_ACTIONS, apply_bulk, preview_bulk, rule_selection

__all__ = ["bulk_panel"]

WHICH = {
    "rows": "Rows I select in the table",
    "list": "Every sample in this list",
    "rule": "A rule over the whole run",
}
COLUMNS = ["index", "observed_name", "predicted_name", "score", "clean_posterior", "true_name", "source"]
#: Headers on screen; the frames keep their column names.
HEADERS = {
    "index": "sample",
    "observed_name": "observed",
    "predicted_name": "suggested",
    "score": "score",
    "clean_posterior": "clean posterior",
    "true_name": "true label",
    "source": "file",
    "current": "decision now",
    "decision": "new decision",
    "new_name": "label after",
}


def _apply(store: RunStore, run_id: str, preview: pd.DataFrame, action: str, key: str) -> None:
    try:
        batch = apply_bulk(store, run_id, preview, note=f"bulk: {BULK_ACTIONS[action].lower()}")
    except InputError as exc:
        st.session_state["review_error"] = str(exc)
        return
    changed = int(preview["changes"].sum())
    st.session_state.setdefault("review_history", []).append([run_id, None, batch])
    st.session_state[f"{key}_last"] = {"run": run_id, "batch": batch, "count": changed}
    st.session_state["review_flash"] = (
        f"{BULK_ACTIONS[action]}: {changed} samples decided in one batch (saved; Undo takes it back)."
    )


def _undo(store: RunStore, run_id: str, key: str) -> None:
    last = st.session_state.pop(f"{key}_last", None)
    if not last:
        return
    count = len(store.undo_batch(run_id, last["batch"]))
    history = st.session_state.get("review_history", [])
    st.session_state["review_history"] = [e for e in history if not (len(e) == 3 and e[2] == last["batch"])]
    st.session_state["review_flash"] = f"Undid the batch of {count} decisions."


def bulk_panel(
    store: RunStore,
    run_id: str,
    shown: pd.DataFrame | None,
    table: pd.DataFrame,
    proba: np.ndarray | None,
    class_names: Sequence[str],
    *,
    key: str = "review_bulk",
    selection: np.ndarray | None = None,
) -> None:
    """The "decide many at once" panel under the grid.

    Parameters
    ----------
    shown : the rows of the list the page shows (after filters and sorting).
    table : the run's whole sample table (the rule reads it).
    proba : (n, K) final class probabilities, or None when the run has none (then no "accept" / rule).
    selection : fixed sample indices (the embedding map's box / lasso) instead of the "which samples" choice.
    """
    last = st.session_state.get(f"{key}_last")
    if last and last["run"] == run_id:
        done, undo = st.columns([3, 1], vertical_alignment="center")
        done.success(f"Last batch: {last['count']} decisions saved.", icon=":material/done_all:")
        undo.button(
            "Undo this batch", key=f"{key}_undo", icon=":material/undo:", on_click=_undo, args=(store, run_id, key)
        )
    which = (
        "selection"
        if selection is not None
        else st.radio("Which samples", list(WHICH), format_func=WHICH.__getitem__, key=f"{key}_which", horizontal=True)
    )
    if which == "selection":
        indices = np.asarray(selection, dtype=np.int64)
    elif which == "rows":
        columns = [c for c in COLUMNS if c in shown.columns]
        event = st.dataframe(
            shown[columns],
            hide_index=True,
            key=f"{key}_table",
            on_select="rerun",
            selection_mode="multi-row",
            height=260,
            column_config=HEADERS,
        )
        rows = event.selection.rows if event else []
        indices = shown["index"].to_numpy()[np.asarray(rows, dtype=np.int64)] if rows else np.array([], dtype=np.int64)
        st.caption("Tick rows on the left of the table (shift-click for a range).")
    elif which == "list":
        indices = shown["index"].to_numpy()
    else:
        if proba is None:
            st.info("The rule needs the run's final model, which this run does not have.", icon=":material/info:")
            return
        c_score, c_prob = st.columns(2)
        max_score = c_score.slider(
            "Score below", 0.0, 1.0, 0.3, 0.01, key=f"{key}_max_score", help="INN score: low = likely wrong label"
        )
        min_probability = c_prob.slider(
            "Suggestion's probability above",
            0.0,
            1.0,
            0.8,
            0.01,
            key=f"{key}_min_prob",
            help="how sure the model is of the label it suggests",
        )
        indices = rule_selection(table, proba, max_score=max_score, min_probability=min_probability)
    actions = [a for a in BULK_ACTIONS if a != "accept" or proba is not None]
    default = actions.index("accept") if which == "rule" and "accept" in actions else 0
    action = st.selectbox("Decision", actions, index=default, format_func=BULK_ACTIONS.__getitem__, key=f"{key}_action")
    if len(indices) == 0:
        st.caption("Nothing selected yet.")
        return
    preview = preview_bulk(store, run_id, indices, action, proba=proba, class_names=class_names)
    changes = int(preview["changes"].sum())
    st.markdown(
        f"**{changes}** of {len(preview)} selected samples would change "
        f"({len(preview) - changes} already have this decision)."
    )
    shown_preview = preview[preview["changes"]][["index", "observed_name", "current", "decision", "new_name"]]
    if selection is None or len(shown_preview) <= 50:
        st.dataframe(
            shown_preview,
            hide_index=True,
            key=f"{key}_preview",
            height=min(36 * (len(shown_preview) + 1), 260),
            column_config=HEADERS,
        )
    st.button(
        f"Apply to {changes} samples",
        key=f"{key}_apply",
        type="primary",
        icon=":material/done_all:",
        disabled=changes == 0,
        on_click=_apply,
        args=(store, run_id, preview, action, key),
        help="one batch, one transaction: Undo takes all of it back",
    )
