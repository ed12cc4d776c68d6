"""Ablations: which of INN's ingredients matter, rescored from a finished run's models (Figure 3, Appendix E.1)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import plots
from dashboard.components.common import get_store, run_picker, user_errors
from inn_core.runs.ablation import ABLATIONS, ablate, read_ablation

GROUP_NAMES = {
    "rule": "integral (trapezoid) vs midpoint",
    "L": "neighbours L",
    "H": "trapezoids H",
    "f": "model f integrated",
    "h": "model h for the neighbours",
}

st.title("Ablations")
st.caption(
    "Each bar rescores every sample of a finished run with one of INN's ingredients changed - the integral or "
    "the midpoint, L, H, which model is f and which gives the neighbours (h) - using the run's stored models; "
    "nothing is retrained. The table is cached in the run."
)
store = get_store()
run_id = run_picker("ablation_run", statuses=("done",))
if run_id is None:
    st.info("No finished runs yet: start one on **New experiment**.")
    st.stop()

table = read_ablation(store, run_id)
label = "Recompute the ablations" if table else "Run the ablations"
if st.button(label, key="ablation_go", type="secondary" if table else "primary"):
    bar = st.progress(0.0, text="loading the run's models…")
    with user_errors():
        table = ablate(store, run_id, refresh=True, progress=lambda f, message: bar.progress(f, text=message))
    bar.empty()

if table is None:
    n_variants = sum(len(v) for v in ABLATIONS.values())
    st.info(
        f"Not computed for this run yet: about {n_variants} rescorings of every sample (the run's "
        "evaluation step, without training). Press the button above."
    )
    st.stop()

rows = table["rows"]
base = table["baseline"]
st.plotly_chart(plots.ablation_figure(rows), key="ablation_chart")
st.caption(
    f"The run's own setting: {base['rule']}, L = {base['L']}, H = {base['H']}, f = {base['f']}, "
    f"h = {base['h']}; each panel changes one of them. Higher AUC separates clean from noisy labels better."
)
frame = pd.DataFrame(rows)
frame["ingredient"] = frame["group"].map(GROUP_NAMES)
frame["value"] = frame["value"].astype(str)  # names and numbers in one column: text for Arrow
st.dataframe(frame[["ingredient", "value", "rule", "L", "H", "f", "h", "auc"]], hide_index=True, key="ablation_table")
