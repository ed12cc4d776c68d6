"""Review: the samples a run flags, the neighbour paths behind each score, and a decision per sample."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard.components.common import get_store, pick_run, store_home, user_errors
from dashboard.components.deep_link import apply_link, follow
from dashboard.components.review_bulk import bulk_panel
from dashboard.components.review_data import (
    evidence_source,
    flagged,
    probabilities,
    run_info,
    run_methods,
    sample_paths,
    samples,
    thumbnails,
)
from dashboard.components.review_decide import (
    close_sample,
    decision_buttons,
    describe,
    next_to_review,
    open_sample,
    opened_sample,
    show_messages,
    undo_button,
)
from dashboard.components.review_grid import PAGE_SIZE, show_grid
from dashboard.components.review_paths import display_factor, show_paths
from dashboard.images import enlarge
from dashboard.labels import method_help, method_label
from inn_core.views.review import review_progress

SOURCES = {
    "noisy": "Flagged by the Beta mixture",
    "lowest": "N lowest scores",
    "map": "Selection from the map",
}
LIST_TITLES = {"noisy": "flagged by the Beta mixture", "lowest": "lowest scores"}
SORTS = {
    "score_asc": ("Score, lowest first", ["score", "index"], True),
    "score_desc": ("Score, highest first", ["score", "index"], False),
    "index": ("Sample index", ["index"], True),
    "observed": ("Observed class", ["observed_label", "score"], True),
    "suggested": ("Suggested class", ["predicted_label", "score"], True),
}

st.title("Review")
st.caption(
    "Look at what INN flags, see why through each sample's neighbour paths, and decide: keep, relabel or drop. "
    "Every decision is saved the moment you click."
)

store = get_store()
home = str(store_home())
apply_link(store, picker_key="review_run", with_sample=True)
run_id = pick_run(
    "review_run",
    missing="No finished run yet. Start one on **New experiment**, then come back to review what it flags.",
)

with user_errors():
    info = run_info(home, run_id)
    class_names = list(info.get("class_names") or [])
    methods = run_methods(home, run_id)

    # -- which samples ---------------------------------------------------------------------------
    selection = st.session_state.get("review_selection") or {}
    sources = [s for s in SOURCES if s != "map" or selection.get("run_id") == run_id]
    if st.session_state.get("review_source") not in sources:
        st.session_state.pop("review_source", None)
    c_source, c_method, c_top, c_classes, c_sort = st.columns([2, 2, 1, 2, 2])
    # A selection comes from the embedding map or from the histograms' detector disagreement.
    origin = selection.get("origin", "the map")
    source_names = {**SOURCES, "map": f"Selection from {origin}"}
    list_titles = {**LIST_TITLES, "map": f"selection from {origin}"}
    source = c_source.radio("Samples", sources, format_func=source_names.__getitem__, key="review_source")
    method = c_method.selectbox(
        "Method", methods, key="review_method", format_func=method_label, help=method_help(methods)
    )
    n = int(info.get("n", 1))
    top = c_top.number_input(
        "N",
        min_value=1,
        max_value=n,
        value=min(50, n),
        key="review_top",
        disabled=source != "lowest",
        help="how many of the lowest scores",
    )
    classes = c_classes.multiselect("Observed class", class_names, key="review_classes", placeholder="all classes")
    sort = c_sort.selectbox("Sort by", list(SORTS), format_func=lambda s: SORTS[s][0], key="review_sort")

    table = samples(home, run_id, method)
    if source == "noisy":
        chosen = flagged(home, run_id, method, None)
    elif source == "lowest":
        chosen = flagged(home, run_id, method, int(top))
    else:
        chosen = table.iloc[np.asarray(selection.get("indices", []), dtype=np.int64)]
    flagged_indices = chosen["index"].to_numpy()
    _, by, ascending = SORTS[sort]
    if "predicted_label" not in chosen.columns:
        by = [c for c in by if c != "predicted_label"] or ["index"]
    shown = chosen.sort_values(by, ascending=ascending, kind="stable")
    if classes:
        shown = shown[shown["observed_name"].isin(classes)]
    decisions = store.current_decisions(run_id)
    if st.toggle("Hide reviewed", key="review_hide_reviewed", help="show only the samples without a decision yet"):
        shown = shown[~shown["index"].isin(list(decisions))]
    order = [int(i) for i in shown["index"]]

    # -- progress --------------------------------------------------------------------------------
    progress = review_progress(store, run_id, flagged_indices)
    c_reviewed, c_noisy, c_counts, c_undo = st.columns([2, 2, 3, 2], vertical_alignment="center")
    c_reviewed.metric("Reviewed / to review", f"{progress['reviewed']} / {progress['flagged']}")
    if "really_noisy" in progress:
        c_noisy.metric(
            "Really noisy so far",
            f"{progress['really_noisy']} of {progress['reviewed']}",
            help="among the reviewed samples of this list, how many carried an injected wrong label",
        )
    counts = {d: sum(x.decision == d for x in decisions.values()) for d in ("keep", "relabel", "drop")}
    c_counts.markdown(
        f"Decisions on this run: **{counts['keep']}** kept · **{counts['relabel']}** relabelled · "
        f"**{counts['drop']}** dropped"
    )
    with c_undo:
        undo_button(store, run_id, disabled=not decisions and not st.session_state.get("review_history"))
    st.progress(progress["reviewed"] / max(1, progress["flagged"]))
    show_messages()

    # -- the open sample and its paths -----------------------------------------------------------
    current = opened_sample(run_id)
    if current is None and order and st.session_state.get("review_closed") != run_id:
        current = next_to_review(order, -1, set(decisions))
        open_sample(run_id, current)
    follow(run_id, current)
    if current is None and order and not set(order) - set(decisions):
        st.success(
            f"All {len(order)} samples of this list are reviewed. Take the cleaned labels from **Export**.",
            icon=":material/done_all:",
        )
    if current is not None:
        source_data = evidence_source(home, run_id)
        row = table.iloc[current]
        with st.container(border=True):
            title, close = st.columns([6, 1], vertical_alignment="center")
            title.subheader(f"Sample #{current}")
            close.button("Close", key="review_close", icon=":material/close:", on_click=close_sample, args=(run_id,))
            decision_buttons(
                store,
                run_id,
                current,
                observed=int(row["observed_label"]),
                proba=probabilities(home, run_id)[current],
                class_names=class_names,
                order=order or [current],
            )
            left, right = st.columns([1, 4])
            with left:
                if source_data.data.is_image:
                    image = thumbnails(home, run_id, np.array([current]))[0]
                    st.image(enlarge(image, display_factor(image.shape[0], 140)), width=140)
                lines = [f"Observed: **{row['observed_name']}**"]
                if "predicted_name" in row:
                    lines.append(f"Suggested: **{row['predicted_name']}**")
                lines.append(f"Score ({method_label(method)}): **{row['score']:.3f}**")
                lines.append(f"clean posterior {row['clean_posterior']:.3g}")
                if "source" in row:
                    lines.append(f"File: `{row['source']}`")
                standing = describe(decisions.get(current), class_names)
                lines.append(f"Decision: **{standing}**" if standing else "Decision: not reviewed yet")
                st.markdown("  \n".join(lines))
                if "true_name" in row:
                    st.caption(f"True label (injected noise, for learning): {row['true_name']}")
            with right:
                show_paths(sample_paths(home, run_id, current), class_names, key="review_paths")

    # -- the grid --------------------------------------------------------------------------------
    st.subheader(f"{len(shown)} samples · {list_titles[source]}")
    if shown.empty:
        st.info(
            "No sample in this list. Try another method, the N lowest scores, or clear the class filter.",
            icon=":material/info:",
        )
    else:
        pages = (len(shown) - 1) // PAGE_SIZE + 1
        page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, key="review_page")
        rows = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        images = (
            thumbnails(home, run_id, rows["index"].to_numpy()) if evidence_source(home, run_id).data.is_image else None
        )
        show_grid(rows, images, run_id=run_id, decisions=decisions, class_names=class_names, open_index=current)
    st.divider()
    st.subheader("Decide many at once")
    bulk_panel(
        store,
        run_id,
        shown,
        table,
        probabilities(home, run_id) if "predicted_label" in table.columns else None,
        class_names,
    )
