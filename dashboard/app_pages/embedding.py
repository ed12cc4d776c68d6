"""Embedding map: the run's samples in 2-D (UMAP of the h features), to see where flagged samples sit."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard.components.common import get_store, pick_run, store_home, user_errors
from dashboard.components.deep_link import apply_link, follow
from dashboard.components.review_bulk import bulk_panel
from dashboard.components.review_data import evidence_source, probabilities, run_info, run_methods, samples, thumbnails
from dashboard.components.review_decide import show_messages
from dashboard.components.review_paths import display_factor
from dashboard.images import enlarge
from dashboard.review_plots import COLOR_MODES, color_modes, embedding_figure
from inn_core.views.embedding import run_embedding, stored_embedding

st.title("Embedding map")
st.caption(
    "Every training sample placed by UMAP of the features INN finds neighbours with: a flagged sample "
    "among another class's points is a likely label error. Select points to send them to Review."
)

store = get_store()
home = str(store_home())
apply_link(store, picker_key="embedding_run")
run_id = pick_run(
    "embedding_run", missing="No finished run yet. Start one on **New experiment**, then come back for its map."
)
follow(run_id)

with user_errors():
    coords = stored_embedding(store, run_id)
    if coords is None:
        # UMAP takes up to a minute: only on request, never because a picker landed on a run.
        st.info(
            "This run has no map yet. Computing it takes 20-60 s (once per run; it is stored with the run).",
            icon=":material/info:",
        )
        if not st.button("Compute the map", key="embedding_compute", type="primary", icon=":material/scatter_plot:"):
            st.stop()
        with st.status(
            "Computing the map with UMAP (once per run; the first map after a restart compiles UMAP, 20-60 s)...",
            expanded=True,
        ) as status:
            bar = st.progress(0.0)
            coords = run_embedding(
                store, run_id, progress=lambda fraction, message: bar.progress(fraction, text=message)
            )
            status.update(label="Map computed and stored with the run.", state="complete", expanded=False)

    methods = run_methods(home, run_id)
    table = samples(home, run_id, "inn" if "inn" in methods else methods[0])
    selection = st.session_state.get("review_selection") or {}
    sent = np.asarray(selection.get("indices", []), dtype=np.int64) if selection.get("run_id") == run_id else None

    # -- the map ---------------------------------------------------------------------------------
    modes = color_modes(table)
    color = st.radio(
        "Colour by", modes, format_func=lambda m: COLOR_MODES[m][0], key="embedding_color", horizontal=True
    )
    map_col, side_col = st.columns([3, 1])
    with map_col:
        event = st.plotly_chart(
            embedding_figure(coords, table, color=color, highlight=sent),
            key="embedding_map",
            on_select="rerun",
            selection_mode=("points", "box", "lasso"),
        )
    points = event.selection.points if event else []
    chosen = sorted({int(np.ravel(p["customdata"])[0]) for p in points if p.get("customdata") is not None})

    # -- what is selected ------------------------------------------------------------------------
    with side_col:
        show_messages()
        is_image = evidence_source(home, run_id).data.is_image
        if not chosen:
            st.markdown(
                "**Hover** a point for its labels and score. **Click** one to see its image; choose "
                "**Box** or **Lasso select** in the chart's toolbar to select several and send them to Review."
            )
        elif len(chosen) == 1:
            row = table.iloc[chosen[0]]
            st.subheader(f"Sample #{chosen[0]}")
            if is_image:
                image = thumbnails(home, run_id, np.array(chosen))[0]
                st.image(enlarge(image, display_factor(image.shape[0], 160)), width=160)
            lines = [f"Observed label: **{row['observed_name']}**", f"INN score: **{row['score']:.3f}**"]
            if "predicted_name" in row:
                lines.insert(1, f"Suggested: **{row['predicted_name']}**")
            if "true_name" in row:
                lines.append(f"True label: {row['true_name']}")
            st.markdown("  \n".join(lines))
        else:
            st.subheader(f"{len(chosen)} samples selected")
            flagged_share = float(table["flagged"].iloc[chosen].mean())
            st.caption(f"{flagged_share:.0%} of them flagged by the Beta mixture")
            if is_image:
                preview = chosen[:12]
                images = thumbnails(home, run_id, np.array(preview))
                factor = display_factor(images.shape[1], 48)
                st.image([enlarge(im, factor) for im in images], caption=[f"#{i}" for i in preview])
        if chosen and st.button(
            f"Review {len(chosen)} selected",
            key="embedding_send",
            type="primary",
            icon=":material/fact_check:",
            width="stretch",
        ):
            st.session_state["review_selection"] = {"run_id": run_id, "indices": chosen}
            st.session_state["review_source"] = "map"
            st.session_state["current_run"] = run_id
            st.session_state["review_open"] = None  # Review opens the first undecided sample of the selection
            st.session_state.pop("review_closed", None)
            st.switch_page("app_pages/review.py")
        if len(chosen) > 1:
            with st.expander(f"Decide all {len(chosen)} at once"):
                final = "predicted_label" in table.columns
                bulk_panel(
                    store,
                    run_id,
                    None,
                    table,
                    probabilities(home, run_id) if final else None,
                    list(run_info(home, run_id).get("class_names") or []),
                    key="embedding_bulk",
                    selection=np.asarray(chosen),
                )
        if sent is not None and len(sent):
            st.caption(
                f'{len(sent)} samples of this run are in Review\'s "selection from the map" (ringed); '
                "there, *Decide many at once* applies one decision to all of them."
            )
