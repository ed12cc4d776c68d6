"""Landing page: the consistency effect, live on a 2-D toy (the paper's Figure 1) and on the digits demo run."""

from __future__ import annotations

import streamlit as st

from dashboard import plots
from dashboard.components.common import get_store, store_home, user_errors
from dashboard.labels import MODEL_LABELS
from inn_core.views.consistency import consistency_reading
from inn_core.views.demo import DemoRun, load_demo
from inn_core.views.toy import TOY_OBJECTIVES, ToyConfig, ToyResult, consistency_toy


@st.cache_data(show_spinner="Training the network on the toy data…", max_entries=64)
def toy(noise_rate: float, L: int, H: int, epochs: int, objective: str) -> ToyResult:
    return consistency_toy(ToyConfig(noise_rate=noise_rate, L=L, H=H, epochs=epochs, objective=objective))


@st.cache_data(ttl=60, show_spinner=False)
def demo(home: str) -> DemoRun | None:
    return load_demo(get_store())


st.title("The consistency effect")
st.caption(
    "Why INN can tell wrong labels from right ones even after a network has memorised them: "
    "live on a 2-D toy, then on real handwritten digits."
)

st.subheader("A network's view around a clean and a noisy point")
st.markdown(
    "A small network is trained on 2-D points whose labels are partly flipped. The heatmap is its probability "
    "`f_y` for one label `y`; the **circle** carries `y` correctly, the **square** carries `y` wrongly. "
    "INN walks the dashed straight lines to each point's `L` nearest neighbours and averages `f_y` along them - "
    "the shaded areas on the right. Around a correctly labelled point the network agrees with the label all the "
    "way; around a wrongly labelled one it does not, because the neighbours carry another label."
)
defaults = ToyConfig()
rate_col, l_col, h_col, epochs_col, objective_col = st.columns(5)
noise_rate = rate_col.slider(
    "Noise rate",
    0.0,
    0.6,
    defaults.noise_rate,
    0.05,
    key="toy_rate",
    help="Fraction of labels flipped to another class.",
)
L = l_col.slider("Neighbours L", 1, 15, defaults.L, key="toy_L")
H = h_col.slider("Trapezoids H", 1, 20, defaults.H, key="toy_H")
epochs = epochs_col.slider(
    "Training steps (full batch)",
    50,
    1500,
    defaults.epochs,
    50,
    key="toy_epochs",
    help="Every step uses every point, so one step is one epoch.",
)
objective = objective_col.radio(
    "Trained with",
    TOY_OBJECTIVES,
    key="toy_objective",
    horizontal=True,
    format_func={"mixup": "MixUp (INN's f)", "ce": "cross-entropy"}.get,
)

result = None
with user_errors():
    result = toy(float(noise_rate), int(L), int(H), int(epochs), str(objective))
if result is not None:
    surface_col, curves_col = st.columns([1, 1])
    surface_col.plotly_chart(plots.toy_surface_figure(result), key="toy_surface")
    with curves_col:
        st.plotly_chart(plots.toy_curves_figure(result), key="toy_curves")
        st.caption(
            "alpha = 0 is the point itself, alpha = 1 its neighbour; each curve has its neighbour's colour on "
            "the left. The INN score is the mean of the shaded areas."
        )
        clean, noisy = result.clean, result.noisy
        score_col, fy_col = st.columns(2)
        if noisy is None:
            st.info("With no noise every label is right, so there is no noisy point to show; raise the noise rate.")
        else:
            score_col.metric("INN score: clean vs noisy point", f"{clean.score:.2f} vs {noisy.score:.2f}")
            fy_col.metric("f_y at the point: clean vs noisy", f"{clean.fy:.2f} vs {noisy.fy:.2f}")
            st.caption(
                f"Over all {len(result.points)} toy points, the AUC of telling clean from noisy labels is "
                f"**{result.auc_inn:.3f}** for INN and **{result.auc_fy:.3f}** for `f_y` at the point alone. "
                "The square is the wrongly labelled point the network fits best - the hardest case for a "
                f"small-loss rule. The network fits **{result.memorised:.0%}** of the wrong labels (`f_y` >= 0.5)."
            )
    if result.noisy is not None and result.means is not None:
        means = result.means
        records = [
            {"epoch": int(e), "model": "toy", "E_cor": a, "E_inc": b, "E_m_cor": c, "E_m_inc": d}
            for e, a, b, c, d in zip(means["epochs"], means["E_cor"], means["E_inc"], means["Em_cor"], means["Em_inc"])
        ]
        point_gap = abs(means["E_cor"][-1] - means["E_inc"][-1])
        mid_gap = abs(means["Em_cor"][-1] - means["Em_inc"][-1])
        noisy, clean = result.noisy, result.clean
        fitted = (
            "it has memorised that wrong label (the small island of its colour on the heatmap)"
            if noisy.fy >= 0.5
            else "it has not fitted that wrong label"
        )
        st.markdown(
            f"**What to look at:** at the square the network gives the wrong label `f_y = {noisy.fy:.2f}` - {fitted} - "
            f"yet along the paths to its neighbours `f_y` falls, so its INN score is **{noisy.score:.2f}** against "
            f"**{clean.score:.2f}** for the circle. Below (the paper's Figure 2, over this training), the point means "
            f"`E_cor` and `E_inc` end {point_gap:.2f} apart and the midpoint means `E^m_cor` and `E^m_inc` "
            f"{mid_gap:.2f} apart."
        )
        st.plotly_chart(
            plots.consistency_means_figure(records, model="toy", x_title="full-batch training step"), key="toy_means"
        )

st.subheader("On real data: the digits demo run")
run = demo(str(store_home()))
if run is None:
    st.info(
        "No demo run is available. Regenerate the shipped one with `python -m inn_core demo-assets`, "
        "or start a digits run on **New experiment**."
    )
else:
    origin = (
        f"the finished run **{run.run_id}** in your store"
        if run.source == "store"
        else "the copy shipped in `assets/demo` (regenerate with `python -m inn_core demo-assets`)"
    )
    st.caption(
        f"{run.config.get('dataset', '?')}, {run.data.get('noise', '')}, "
        f"{run.data.get('n', '?')} training images - from {origin}."
    )
    means_col, auc_col = st.columns(2)
    with means_col:
        models = sorted({r["model"] for r in run.metrics.get("models", []) if "E_cor" in r})
        if models:
            model = st.selectbox(
                "Model",
                models,
                index=models.index("ce") if "ce" in models else 0,
                key="demo_model",
                format_func=MODEL_LABELS.get,
            )
            st.plotly_chart(plots.consistency_means_figure(run.metrics["models"], model=model), key="demo_means")
            reading = consistency_reading(run.metrics["models"], model)
            st.markdown(
                "**What to look at:** the solid lines (`f_y` at the samples) and the dashed ones (`f_y` halfway "
                "to the nearest neighbour)." + (f" {reading}" if reading else "")
            )
    with auc_col:
        st.plotly_chart(
            plots.auc_figure({"demo": run.metrics.get("methods", [])}, methods=("inn", "ce", "ce_ne")), key="demo_auc"
        )
        st.markdown(
            "**What to look at:** INN's AUC stays high at every epoch, while the small-loss AUC sinks once the "
            "network has memorised the noisy labels - with INN you need not guess when to stop training."
        )
