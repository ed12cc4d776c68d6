"""Export: the cleaned labels and the decision log of a run, as the files `python -m inn_core export` writes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from dashboard.components.common import get_store, pick_run, user_errors
from dashboard.components.deep_link import apply_link, follow
from dashboard.components.export_formats import format_downloads
from inn_core.views.review import cleaned_labels, export_run

DOWNLOADS = {
    "cleaned_labels": (
        "Cleaned labels",
        "text/csv",
        "observed labels with the decisions applied; dropped samples marked",
    ),
    "decisions": ("Decision log", "text/csv", "every decision ever taken, undone ones marked"),
    "scores": ("Scores", "text/csv", "every sample's score and clean posterior at the last evaluated epoch"),
    "config": ("Configuration", "application/json", "the run's full configuration, seed included, to reproduce it"),
}

st.title("Export")
st.caption(
    "Take the review home: cleaned labels and the decision log as CSV, or the cleaned set as an image "
    "folder, a Hugging Face dataset, Label Studio tasks or a cleanlab Datalab table - the same files "
    "`python -m inn_core export` writes."
)

store = get_store()
apply_link(store, picker_key="export_run")
run_id = pick_run(
    "export_run", missing="No finished run yet. Start one on **New experiment**, review it, then export here."
)
follow(run_id)

with user_errors():
    table = cleaned_labels(store, run_id)
    st.subheader("What the cleaned labels hold")
    c_total, c_kept, c_relabelled, c_dropped = st.columns(4)
    c_total.metric("Samples", len(table))
    c_kept.metric("Kept (reviewed)", int((table["decision"] == "keep").sum()))
    c_relabelled.metric("Relabelled", int((table["decision"] == "relabel").sum()))
    c_dropped.metric("Dropped", int(table["dropped"].sum()))

    st.subheader("Downloads")
    # Written fresh on every visit: decisions may have changed a second ago in another tab.
    with tempfile.TemporaryDirectory() as folder:
        files = export_run(store, run_id, folder)
        contents = {name: Path(path).read_bytes() for name, path in files.items()}
    for name, (label, mime, help_text) in DOWNLOADS.items():
        st.download_button(
            f"{label} ({files[name].name})",
            contents[name],
            file_name=f"{run_id}_{files[name].name}",
            mime=mime,
            key=f"export_{name}",
            help=help_text,
            icon=":material/download:",
            on_click="ignore",
        )

    st.subheader("For your training code")
    format_downloads(store, run_id)

    st.subheader("Reviewed samples")
    reviewed = table[table["decision"] != ""]
    if reviewed.empty:
        st.info(
            "No decision yet: the cleaned labels equal the observed ones. Review samples on **Review**.",
            icon=":material/info:",
        )
    else:
        st.dataframe(reviewed, hide_index=True, key="export_reviewed")
