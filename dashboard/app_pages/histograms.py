"""Score histograms: where a method puts clean and noisy samples at one epoch, and the Beta-mixture split (Figure 6)."""

from __future__ import annotations

import streamlit as st

from dashboard import plots
from dashboard.components.common import get_store, pick_run, store_home, user_errors
from dashboard.components.detectors import show_disagreement, show_trajectories
from dashboard.labels import method_label
from inn_core.views.score_split import ScoreSplit, score_split

STATUSES = ("done", "running", "cancelled", "failed")


@st.cache_data(max_entries=128, show_spinner=False)
def split(home: str, run_id: str, method: str, epoch: int) -> ScoreSplit:
    return score_split(get_store(), run_id, method=method, epoch=epoch)


@st.cache_data(max_entries=64, show_spinner=False)
def methods_at(home: str, run_id: str, epoch: int) -> list[str]:
    return get_store().epoch_methods(run_id, epoch)


st.title("Score histograms")
st.caption(
    "Where a method puts clean and noisy samples at one epoch, the two-component Beta mixture fitted to the "
    "scores and the split it makes - the paper's Figure 6."
)
store = get_store()
home = str(store_home())

run_id = pick_run("hist_run", statuses=STATUSES, missing="No runs yet: start one on **New experiment**.")
epochs = store.eval_epochs(run_id)
if not epochs:
    st.info("This run has no evaluated epoch yet; histograms appear after its first evaluation epoch.")
    st.stop()

method_col, epoch_col = st.columns([1, 2])
methods = methods_at(home, run_id, epochs[-1])
method = method_col.selectbox("Method", methods, key="hist_method", format_func=method_label)
if len(epochs) > 1:
    epoch = epoch_col.select_slider("Epoch", options=epochs, value=epochs[-1], key="hist_epoch")
else:
    epoch = epochs[0]
    epoch_col.markdown(f"Epoch **{epoch}** (the only evaluated one)")

result = None
with user_errors():
    result = split(home, run_id, method, int(epoch))
if result is not None:
    chart_col, numbers_col = st.columns([3, 1])
    chart_col.plotly_chart(
        plots.score_histogram_figure(
            result.scores,
            result.groups,
            result.group_names,
            grid=result.grid,
            pdf=result.pdf,
            threshold=result.threshold,
        ),
        key="hist_chart",
    )
    with numbers_col:
        st.metric("Flagged as noisy", f"{result.n_flagged}", help="Samples whose clean posterior is below 0.5.")
        if result.precision is None:
            st.info("The labels came as given, so precision and recall cannot be measured.")
        else:
            st.metric(
                "Precision", f"{result.precision:.1%}", help="Share of flagged samples whose label really is wrong."
            )
            st.metric("Recall", f"{result.recall:.1%}", help="Share of the wrong labels that are flagged.")
        st.metric("Split at score", "-" if result.threshold is None else f"{result.threshold:.2f}")
    if len(result.group_names) == 4:
        major, minor = (
            result.group_names[0].split("(")[-1].split(",")[0],
            result.group_names[2].split("(")[-1].split(",")[0],
        )
        st.caption(
            f"(y*, y) = (true, observed) label; class {major} is the majority, {minor} the minority. "
            "Blue and green are "
            "correctly labelled, orange and red wrongly - a good score puts blue and green right, orange and red left."
        )
    elif method in ("ce", "ce_ne"):
        st.caption("Small-loss scores are min-max normalised to [0, 1] before the mixture is fitted.")

with user_errors():
    show_trajectories(store, run_id, method)
with user_errors():
    show_disagreement(store, run_id)
