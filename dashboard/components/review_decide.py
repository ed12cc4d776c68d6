"""Review decisions: keep, relabel or drop one sample in one click, undo, and open the next sample.

Every click writes to the store's SQLite database inside the button's callback, before the page
redraws, so what the page shows after a click is what is on disk; nothing is held back in the
session. The session only remembers which samples *it* decided, so Undo takes back this tab's
last decision or bulk batch (or, after a reload, the run's latest, a whole batch if that was one).
Keyboard: K keeps, L relabels, D drops, U undoes (Streamlit's button shortcuts).

Session-state keys: ``review_open`` ({"run": id, "sample": i} or None), ``review_closed`` (the run
whose viewer the user closed), ``review_history`` ([[run, sample], ...]), ``review_flash`` (the last
action, shown once) and ``review_error``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from inn_core.errors import InputError
from inn_core.runs.store import Decision, RunStore

__all__ = [
    "next_to_review",
    "open_sample",
    "close_sample",
    "opened_sample",
    "decision_buttons",
    "undo_button",
    "describe",
    "show_messages",
]


def next_to_review(order: Sequence[int], current: int, decided: set[int]) -> int | None:
    """The first undecided sample after ``current`` in ``order`` (wrapping round), or None when all are decided."""
    order = list(order)
    start = order.index(current) + 1 if current in order else 0
    for sample in order[start:] + order[:start]:
        if sample not in decided:
            return sample
    return None


def open_sample(run_id: str, sample: int | None) -> None:
    st.session_state["review_open"] = None if sample is None else {"run": run_id, "sample": int(sample)}


def close_sample(run_id: str) -> None:
    """Close the viewer and keep it closed (for this run) until a sample is opened again."""
    open_sample(run_id, None)
    st.session_state["review_closed"] = run_id


def opened_sample(run_id: str) -> int | None:
    """The sample open in the viewer for ``run_id``, if any."""
    current = st.session_state.get("review_open")
    if current and current.get("run") == run_id:
        return int(current["sample"])
    return None


def describe(decision: Decision | None, class_names: Sequence[str]) -> str:
    """A short label for a standing decision: "kept", "relabelled → 5", "dropped" or ""."""
    if decision is None:
        return ""
    if decision.decision == "relabel":
        return f"relabelled → {class_names[decision.new_label]}"
    return {"keep": "kept", "drop": "dropped"}[decision.decision]


def _decide(
    store: RunStore,
    run_id: str,
    sample: int,
    decision: str,
    target_key: str | None,
    note_key: str,
    order: list[int],
    class_names: Sequence[str],
) -> None:
    new_label = st.session_state.get(target_key) if target_key else None
    note = st.session_state.get(note_key, "") or ""
    try:
        store.record_decision(run_id, sample, decision, new_label=new_label, note=note.strip())
    except InputError as exc:
        st.session_state["review_error"] = str(exc)
        return
    st.session_state.setdefault("review_history", []).append([run_id, int(sample)])
    standing = store.current_decisions(run_id)
    st.session_state["review_flash"] = f"Sample #{sample} {describe(standing.get(sample), class_names)} (saved)."
    open_sample(run_id, next_to_review(order, sample, set(standing)))


def _undo(store: RunStore, run_id: str) -> None:
    history = st.session_state.setdefault("review_history", [])
    mine = [i for i, entry in enumerate(history) if entry[0] == run_id]
    if mine and len(history[mine[-1]]) == 3:  # a bulk batch: [run, None, batch]
        batch = history.pop(mine[-1])[2]
        count = len(store.undo_batch(run_id, batch))
        st.session_state["review_flash"] = f"Undid the batch of {count} decisions."
        return
    if mine:
        sample = history.pop(mine[-1])[1]
        undone = store.undo_decision(run_id, sample)
    else:
        undone = store.undo_decision(run_id)
    if undone is None:
        st.session_state["review_flash"] = "Nothing to undo."
        return
    if undone.batch is not None:
        st.session_state["review_flash"] = (
            f"Undid the latest batch (last: '{undone.decision}' on sample #{undone.sample})."
        )
        return
    st.session_state["review_flash"] = f"Undid '{undone.decision}' on sample #{undone.sample}."
    open_sample(run_id, undone.sample)


def decision_buttons(
    store: RunStore,
    run_id: str,
    sample: int,
    *,
    observed: int,
    proba: np.ndarray,
    class_names: Sequence[str],
    order: list[int],
) -> None:
    """One row: keep, relabel (to the model's most probable other class unless changed), drop, target and note."""
    note_key = f"review_note_{run_id}_{sample}"
    target_key = f"review_target_{run_id}_{sample}"
    others = [int(k) for k in np.argsort(-proba, kind="stable") if k != observed]
    # The relabel button is drawn before its target box; the box's value from the last rerun names it.
    target = st.session_state.get(target_key, others[0])
    common = {
        "store": store,
        "run_id": run_id,
        "sample": sample,
        "note_key": note_key,
        "order": order,
        "class_names": class_names,
    }
    keep, relabel, drop, to, note = st.columns([1.2, 1.4, 1.1, 1.6, 2.4], vertical_alignment="bottom")
    keep.button(
        f"Keep '{class_names[observed]}'",
        key="review_keep",
        icon=":material/check:",
        width="stretch",
        shortcut="K",
        on_click=_decide,
        kwargs={**common, "decision": "keep", "target_key": None},
    )
    relabel.button(
        f"Relabel → '{class_names[target]}'",
        key="review_relabel",
        icon=":material/edit:",
        type="primary",
        width="stretch",
        shortcut="L",
        on_click=_decide,
        kwargs={**common, "decision": "relabel", "target_key": target_key},
    )
    drop.button(
        "Drop",
        key="review_drop",
        icon=":material/delete:",
        width="stretch",
        help="leave it out of training",
        shortcut="D",
        on_click=_decide,
        kwargs={**common, "decision": "drop", "target_key": None},
    )
    to.selectbox("Relabel to", others, format_func=lambda k: f"{class_names[k]}  (p = {proba[k]:.2f})", key=target_key)
    note.text_input("Note (saved with the decision)", key=note_key, placeholder="optional: why, in a few words")


def undo_button(store: RunStore, run_id: str, *, disabled: bool) -> None:
    st.button(
        "Undo last decision",
        key="review_undo",
        icon=":material/undo:",
        disabled=disabled,
        shortcut="U",
        on_click=_undo,
        kwargs={"store": store, "run_id": run_id},
    )


def show_messages() -> None:
    """Show, once, what the last click did (or why it failed)."""
    if error := st.session_state.pop("review_error", None):
        st.error(error, icon=":material/error:")
    if flash := st.session_state.pop("review_flash", None):
        # A toast, not a banner: a banner would push the decision buttons down under the mouse.
        st.toast(flash, icon=":material/task_alt:")
