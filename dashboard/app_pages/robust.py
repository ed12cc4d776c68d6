"""Robust training: DivideMix vs INN+DivideMix (the paper's Tables 2 and 3), launched and compared."""

from __future__ import annotations

import streamlit as st

from dashboard import plots
from dashboard.components.common import get_store, user_errors
from dashboard.components.progress import ACTIVE, active_runs
from dashboard.labels import TRAINING_LABELS
from inn_core.data.noise import NoiseSpec
from inn_core.runs.experiment import ExperimentConfig
from inn_core.runs.launch import check, submit
from inn_core.runs.robust import TRAINING_METHODS, RobustConfig
from inn_core.views.robust_results import precision_comparison, robust_history, robust_table, schedule_text

NOISE = {
    "symmetric": "Symmetric",
    "asymmetric": "Asymmetric (digits: 7→1, 2→7, 5↔6, 3→8)",
    "imbalanced": "Imbalanced two-class",
}

st.title("Robust training")
st.caption(
    "Train a classifier that stays accurate under label noise: DivideMix divides the data by small loss, "
    "INN+DivideMix by INN scores (the paper's Algorithm D.1). Compare test accuracy and how clean the "
    "labelled set is, epoch by epoch."
)
store = get_store()

st.subheader("1 · Setting")
kind_col, rate_col, detail_col, seed_col = st.columns([2, 1, 2, 1])
kind = kind_col.selectbox("Noise on digits", list(NOISE), format_func=NOISE.get, key="rb_noise")
rate = rate_col.number_input(
    "Rate r",
    value=0.3 if kind == "imbalanced" else (0.4 if kind == "asymmetric" else 0.8),
    step=0.05,
    format="%.2f",
    key=f"rb_rate_{kind}",
)
noise_kwargs: dict = {"kind": kind, "rate": rate}
if kind == "asymmetric":
    noise_kwargs["mapping"] = "digits"
elif kind == "imbalanced":
    major, minor = detail_col.columns(2)
    noise_kwargs["classes"] = (
        int(major.number_input("Majority", 0, 9, 3, key="rb_major")),
        int(minor.number_input("Minority", 0, 9, 8, key="rb_minor")),
    )
seed = int(seed_col.number_input("Seed", min_value=0, value=0, key="rb_seed"))
methods = st.multiselect(
    "Methods",
    list(TRAINING_METHODS),
    default=["inn_dividemix", "dividemix"],
    format_func=TRAINING_LABELS.get,
    key="rb_methods",
)
if methods:
    defaults = [RobustConfig(experiment=ExperimentConfig(), method=method) for method in methods]
    st.caption(
        "Digits defaults - "
        + "; ".join(schedule_text(c) for c in defaults)
        + ". One method takes one to two minutes on a 2-core CPU."
    )

if st.button("Start", type="primary", key="rb_start", disabled=not methods):
    with user_errors():
        experiment = ExperimentConfig(noise=NoiseSpec(**noise_kwargs), seed=seed)
        configs = [
            RobustConfig(
                experiment=experiment,
                method=method,
                name=f"{TRAINING_LABELS[method]} · {kind} {rate:.0%} · seed {seed}",
            )
            for method in methods
        ]
        with st.spinner("Checking the data…"):
            check(configs[0])  # the methods share the data: one check for all
        for config in configs:
            submit(store, config, validate=False)
        st.success(f"Started {len(methods)} run(s); they train one after another's CPU share in the background.")

st.subheader("2 · Runs")
live = any(r.status in ACTIVE for r in store.list_runs(kind="robust"))


@st.fragment(run_every=2.0 if live else None)
def robust_panel() -> None:
    runs = store.list_runs(kind="robust")
    active_runs(store, [r for r in runs if r.status in ACTIVE], key="rb")
    if not runs:
        st.info("No robust training runs yet: choose a setting above and press **Start**.")
        return
    table = robust_table(store)
    st.markdown(
        "Best and last test accuracy per run (the layout of the paper's Tables 2 and 3); a small "
        "best - last gap means the method did not decay by memorising the noise."
    )
    st.dataframe(
        table,
        hide_index=True,
        key="rb_table",
        column_config={
            "best": st.column_config.NumberColumn(format="%.3f"),
            "last": st.column_config.NumberColumn(format="%.3f"),
            "gap": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    names = {r.id: r.name for r in runs}
    chosen = st.multiselect("Runs to plot", list(names), default=list(names)[:4], format_func=names.get, key="rb_plot")
    history = robust_history(store, chosen)
    if history.empty:
        st.info("The chosen runs have not finished an epoch yet.")
        return
    acc_col, prec_col = st.columns(2)
    acc_col.plotly_chart(
        plots.robust_curves_figure(history, value="test_accuracy", title="test accuracy"), key="rb_accuracy"
    )
    prec_col.plotly_chart(
        plots.robust_curves_figure(history, value="labelled_precision", title="labelled-set precision (clean share)"),
        key="rb_precision",
    )
    st.caption(
        "Left: test accuracy of each run across epochs. Right: the share of truly clean labels in the set "
        "each method trusts as labelled (mean of its two networks). " + (precision_comparison(history) or "")
    )
    if any(r.status in ACTIVE for r in runs) != live:
        st.rerun()


robust_panel()
