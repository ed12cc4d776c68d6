"""AUC across epochs: how well each method separates clean from noisy labels as training goes on (Figure 4)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import plots
from dashboard.components.common import get_store, pick_run, store_home
from dashboard.components.progress import ACTIVE, active_runs
from dashboard.labels import MODEL_LABELS, method_label, order_methods
from inn_core.views.consistency import consistency_reading

STATUSES = ("done", "running", "queued", "cancelled", "failed")


@st.cache_data(max_entries=64, show_spinner=False)
def run_metrics(home: str, run_id: str, updated: float) -> dict:
    # ``updated`` is part of the key: a training run's metrics are re-read whenever it reports.
    return get_store().metrics(run_id)


st.title("AUC across epochs")
st.caption(
    "How well each method tells clean from noisy labels at every evaluated epoch - the paper's Figure 4 - "
    "growing live while a run trains; overlay a second run to compare."
)
store = get_store()
home = str(store_home())

pick_col, compare_col = st.columns(2)
with pick_col:
    run_id = pick_run("auc_run", statuses=STATUSES, missing="No runs yet: start one on **New experiment**.")
# Only runs whose labels are known to be clean or noisy have an AUC to compare.
others = {
    r.id: r.name
    for r in store.list_runs(kind="experiment")
    if r.id != run_id and r.status in STATUSES and (store.read_json(r.id, "data.json") or {}).get("labels_known")
}
compare_id = compare_col.selectbox(
    "Compare with", [None, *others], key="auc_compare", format_func=lambda i: "nothing" if i is None else others[i]
)
watched = [run_id] + ([compare_id] if compare_id else [])
drawn_with = {i: store.get_run(i).status for i in watched}
live = any(status in ACTIVE for status in drawn_with.values())


@st.fragment(run_every=2.0 if live else None)
def charts() -> None:
    records = {i: store.get_run(i) for i in watched}
    chosen = records[run_id]
    st.caption(f"Status: **{chosen.status}**" + (f" - {chosen.error}" if chosen.error else ""))
    active_runs(store, [r for r in records.values() if r.status in ACTIVE], key="auc")
    metrics = {i: run_metrics(home, i, r.updated) for i, r in records.items()}
    main = metrics[run_id]
    if not main["methods"]:
        st.info("No epoch has been evaluated yet; the chart appears after the first evaluation epoch.")
    elif not any(r.get("auc") is not None for r in main["methods"]):
        st.info(
            "This run's labels come as given, so which ones are wrong is unknown and no AUC can be measured. "
            "Inject synthetic noise on **New experiment** to measure detection quality."
        )
    else:
        labels = {i: records[i].name for i in watched}
        st.plotly_chart(plots.auc_figure({labels[i]: metrics[i]["methods"] for i in watched}), key="auc_chart")
        st.caption(
            "Higher is better: 1 means every clean sample scores above every noisy one, 0.5 is guessing. "
            + ("Solid lines: the chosen run; dashed: the comparison." if compare_id else "")
        )
        last = max(r["epoch"] for r in main["methods"])
        order = order_methods(r["method"] for r in main["methods"])
        table = pd.DataFrame(
            sorted((r for r in main["methods"] if r["epoch"] == last), key=lambda r: order.index(r["method"]))
        )
        table["method"] = table["method"].map(method_label)
        st.markdown(f"**At epoch {last}** (flagged = the Beta mixture's noisy component)")
        headers = {
            "method": "method",
            "auc": "AUC",
            "precision": "precision",
            "recall": "recall",
            "f1": "F1",
            "precision_at_noisy": "precision at k = #noisy",
            "n_flagged": "flagged",
        }
        shown = table[[c for c in headers if c in table]].rename(columns=headers)
        st.dataframe(shown, hide_index=True, key="auc_table")
        cleanlab = next((r for r in main["methods"] if r["method"] == "cleanlab"), None)
        if cleanlab is not None:
            filtered = (
                f" cleanlab's own `find_label_issues` flags {cleanlab['n_issues_cleanlab']} samples "
                f"(precision {cleanlab['precision_cleanlab_filter']:.1%}, "
                f"recall {cleanlab['recall_cleanlab_filter']:.1%})."
                if cleanlab.get("precision_cleanlab_filter") is not None
                else ""
            )
            trained = f", each trained {cleanlab['fold_epochs']} epochs" if cleanlab.get("fold_epochs") else ""
            st.caption(
                f"cleanlab is scored once, at epoch {cleanlab['epoch']}, from {cleanlab['folds']}-fold out-of-fold "
                f"probabilities of CE models of the run's architecture{trained}, hence a single point on the chart."
                + filtered
            )

    models = sorted({r["model"] for r in main["models"] if "E_cor" in r})
    if models:
        st.subheader("Consistency means")
        model = st.selectbox(
            "Model",
            models,
            index=models.index("ce") if "ce" in models else 0,
            key="auc_model",
            format_func=lambda m: MODEL_LABELS.get(m, m),
        )
        st.plotly_chart(plots.consistency_means_figure(main["models"], model=model), key="auc_means")
        reading = consistency_reading(main["models"], model)
        st.caption(
            "Solid: mean f_y at the samples; dashed: halfway to each sample's nearest neighbour. " + (reading or "")
        )
    if any(records[i].status != drawn_with[i] for i in watched):
        # Queued -> running -> done: the page above the charts is redrawn, and polling stops after the last one.
        st.rerun()


charts()
