"""Histogram page sections: score trajectories across epochs and the detector disagreement scatter."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.labels import method_label
from inn_core.runs.store import RunStore
from inn_core.views.detectors import DEFAULT_DETECTORS, detector_disagreement, score_trajectories


def _color(is_noisy) -> str:
    if is_noisy is None or pd.isna(is_noisy):
        return "#7f7f7f"
    return "#d62728" if bool(is_noisy) else "#1f77b4"


def show_trajectories(store: RunStore, run_id: str, method: str) -> None:
    """Per-sample score lines over the evaluation epochs: chosen samples or the 20 whose rank moved most."""
    st.subheader("Scores over training")
    picked = st.text_input(
        "Samples (comma-separated indices; empty = the 20 whose rank changed most)", key="traj_samples"
    )
    samples = [int(s) for s in picked.replace(" ", "").split(",") if s.isdigit()] or None
    frame = score_trajectories(store, run_id, method=method, samples=samples)
    # Small-loss scores are -loss; the histogram above shows them min-max scaled to [0, 1] per epoch.
    in_unit = bool(frame["score"].between(0, 1).all())
    fig = go.Figure()
    for sample, rows in frame.groupby("sample"):
        color = _color(rows["is_noisy"].iloc[0])
        fig.add_trace(
            go.Scatter(
                x=rows["epoch"],
                y=rows["score"],
                mode="lines+markers",
                name=f"sample {sample}",
                line={"color": color, "width": 1.5},
                opacity=0.8,
            )
        )
    fig.update_layout(
        xaxis={"title": "training epoch", "tickformat": "d"},
        yaxis={"title": f"{method_label(method)} score" + ("" if in_unit else " (raw: -loss)")},
        height=360,
        margin={"t": 20, "b": 10, "l": 10, "r": 10},
        showlegend=False,
    )
    st.plotly_chart(fig, key="traj_chart")
    st.caption(
        "Red: wrongly labelled samples; blue: correctly labelled (grey when the truth is unknown)."
        + ("" if in_unit else " Raw scores here (-loss); the histogram scales each epoch's to [0, 1].")
    )


def show_disagreement(store: RunStore, run_id: str) -> None:
    """INN vs small-loss vs cleanlab at the last epoch, and the samples only one of them flags."""
    st.subheader("Between detectors")
    frame = detector_disagreement(store, run_id)
    present = [m for m in DEFAULT_DETECTORS if f"score_{m}" in frame]
    x_col, y_col = st.columns(2)
    x = x_col.selectbox("x axis", present, index=0, key="dis_x", format_func=method_label)
    y = y_col.selectbox(
        "y axis",
        present,
        index=1 if len(present) > 1 else 0,
        key="dis_y",
        format_func=method_label,
    )
    colors = frame["is_noisy"].map(_color)
    fig = go.Figure(
        go.Scattergl(
            x=frame[f"rank_{x}"],
            y=frame[f"rank_{y}"],
            mode="markers",
            marker={"color": list(colors), "size": 5, "opacity": 0.6},
            text=frame["sample"],
            hovertemplate="sample %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis={"title": f"rank by {method_label(x)} (0 = most suspicious)"},
        yaxis={"title": f"rank by {method_label(y)}"},
        height=420,
        margin={"t": 20, "b": 10, "l": 10, "r": 10},
    )
    st.plotly_chart(fig, key="dis_chart")
    st.caption(
        "One point per sample, at its rank by each detector at the last evaluation epoch: near the diagonal "
        "they agree. Red: wrongly labelled; blue: correctly labelled (grey when the truth is unknown)."
    )
    only = frame[frame["only"] != ""]
    st.markdown(
        f"**Flagged by one method only** (of {', '.join(method_label(m) for m in present)}, whichever axes are shown): "
        f"{len(only)} samples - " + ", ".join(f"{method_label(m)} {int((only['only'] == m).sum())}" for m in present)
    )
    shown = only[["sample", "only", "observed", "is_noisy"] + [f"score_{m}" for m in present]].copy()
    shown["only"] = shown["only"].map(method_label)
    names = {"sample": "sample", "only": "flagged only by", "observed": "observed label", "is_noisy": "wrong label"}
    shown = shown.rename(columns={**names, **{f"score_{m}": f"{method_label(m)} score" for m in present}})
    st.dataframe(shown, hide_index=True, key="dis_table")
    if len(only) and st.button("Review these samples", key="dis_review"):
        indices = only["sample"].tolist()
        st.session_state["review_selection"] = {"run_id": run_id, "indices": indices, "origin": "the detectors"}
        st.session_state["review_source"] = "map"
        st.switch_page("app_pages/review.py")
