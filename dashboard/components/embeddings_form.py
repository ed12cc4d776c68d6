"""New experiment → "My embeddings file": INN in the user's embedding space, started in the background.

The form only collects paths (or uploads) and settings; reading and checking the files, the run
and its store live in :mod:`inn_core.runs.embedding_run`.
"""

from __future__ import annotations

import streamlit as st

from dashboard.components.common import checked_local_path, local_paths_off, user_errors
from dashboard.components.progress import ACTIVE, active_runs, runs_frame
from inn_core.data.features import FEATURE_SUFFIXES, LABEL_SUFFIXES
from inn_core.data.noise import NoiseSpec
from inn_core.method.embedding_inn import HeadSettings
from inn_core.method.models import HEADS
from inn_core.runs.embedding_run import KIND, EmbeddingConfig, prepare_embeddings, stage_upload
from inn_core.runs.launch import submit
from inn_core.runs.store import RunStore

__all__ = ["embeddings_section"]

BACKENDS = {
    "auto": "auto: exact, approximate (faiss IVF) when exact would take minutes",
    "exact": "exact",
    "faiss-ivf": "faiss IVF (approximate)",
    "faiss-hnsw": "faiss HNSW (approximate)",
}


def _file(label: str, suffixes: tuple[str, ...], key: str, store: RunStore) -> str | None:
    """A path typed on this machine, or an upload kept under the store; None while neither is given."""
    path_col, upload_col = st.columns(2)
    # A server reachable beyond this machine reads no local paths, only uploads.
    typed = path_col.text_input(
        f"{label}: path on this machine",
        key=f"{key}_path",
        disabled=local_paths_off() is not None,
        placeholder=f"/data/file{suffixes[0]}",
    ).strip()
    upload = upload_col.file_uploader(
        f"…or upload ({', '.join(suffixes)})", type=[s[1:] for s in suffixes], key=f"{key}_upload"
    )
    if upload is not None:
        return stage_upload(store, upload.name, upload.getvalue())
    with user_errors():
        return checked_local_path(typed or None)
    return None


def embeddings_section(store: RunStore) -> None:
    """The whole embeddings route of New experiment: files, settings, Start, and the embedding runs."""
    st.caption(
        "INN in your embedding space (CLIP, DINOv2, your own model): neighbours among your embeddings, a "
        "classifier head trained with MixUp on them, paths between embeddings. No network sees an image, "
        "so a million samples run on a laptop. The run is marked **variant: embedding**."
    )
    features = _file("Embeddings, one row per sample", FEATURE_SUFFIXES, "emb_features", store)
    labels = _file("Labels, one per row (numbers or class names)", LABEL_SUFFIXES, "emb_labels", store)

    st.subheader("2 · Label noise")
    noise_col, rate_col, seed_col = st.columns([2, 1, 1])
    kind = noise_col.selectbox(
        "Noise",
        ["none", "symmetric"],
        key="emb_noise",
        format_func={
            "none": "None: keep the labels as given",
            "symmetric": "Symmetric: inject a random label (to measure detection)",
        }.get,
    )
    rate = rate_col.number_input("Rate r", value=0.4, step=0.05, format="%.2f", key="emb_rate", disabled=kind == "none")
    seed = int(seed_col.number_input("Seed", min_value=0, value=0, step=1, key="emb_seed"))

    st.subheader("3 · Head and neighbours")
    head_col, epochs_col, l_col, h_col, backend_col = st.columns([1, 1, 1, 1, 2])
    head = head_col.selectbox("Head f", list(HEADS), key="emb_head")
    epochs = int(epochs_col.number_input("Epochs", min_value=1, value=HeadSettings().epochs, key="emb_epochs"))
    L = int(l_col.number_input("Neighbours L", min_value=1, max_value=100, value=10, key="emb_L"))
    H = int(h_col.number_input("Trapezoids H", min_value=1, max_value=50, value=10, key="emb_H"))
    backend = backend_col.selectbox("Neighbour search", list(BACKENDS), format_func=BACKENDS.get, key="emb_backend")
    name = st.text_input("Run name", key="emb_name", placeholder="optional, e.g. clip-embeddings")

    if features is None or labels is None:
        st.info(
            "Give the embeddings file (.npy, .npz or .parquet) and the labels file (.npy, .csv or .txt), "
            "as paths on this machine or uploads."
        )
    if st.button("Start", type="primary", key="emb_start", disabled=features is None or labels is None):
        with user_errors():
            noise = NoiseSpec("symmetric", rate) if kind == "symmetric" else NoiseSpec("none")
            config = EmbeddingConfig(
                features=features,
                labels=labels,
                noise=noise,
                head=head,
                epochs=epochs,
                L=L,
                H=H,
                neighbor_backend=backend,
                seed=seed,
                name=name.strip(),
            )
            with st.spinner("Checking the embeddings and labels…"):
                data = prepare_embeddings(config)
            run_id = submit(store, config, validate=False)  # just checked, with the numbers shown below
            st.session_state["current_run"] = run_id
            st.success(
                f"Started **{config.name or run_id}** on {data.n} embeddings of {data.features.shape[1]} "
                f"dimensions in {data.num_classes} classes."
            )

    st.subheader("Embedding runs")
    runs = store.list_runs(kind=KIND)
    active_runs(store, [r for r in runs if r.status in ACTIVE], key="emb")
    if runs:
        st.dataframe(
            runs_frame(runs),
            key="emb_runs_table",
            hide_index=True,
            column_config={
                "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            },
        )
