"""New experiment: data, label noise with a preview, training settings, Start, and every run's progress."""

from __future__ import annotations

import json

import streamlit as st

from dashboard import plots
from dashboard.components.common import checked_local_path, get_store, local_paths_off, user_errors
from dashboard.components.embeddings_form import embeddings_section
from dashboard.components.progress import ACTIVE, active_runs, runs_frame
from dashboard.components.review_upload import upload_data_widget
from dashboard.images import enlarge
from inn_core.data.noise import NAMED_MAPPINGS, NoiseSpec, read_transition_matrix
from inn_core.forms import parse_epochs, parse_mapping
from inn_core.method.backbones import torchvision_models
from inn_core.method.models import HEADS, MODELS
from inn_core.runs.backbone_defaults import OWN_IMAGE_DATASETS, backbone_choice
from inn_core.runs.estimate import Calibration, calibrate, estimate_run, format_duration
from inn_core.runs.experiment import DATASET_DEFAULTS, ExperimentConfig
from inn_core.runs.launch import submit
from inn_core.runs.schedule import OWN_DATA_STEPS, own_data_epochs
from inn_core.views.preview import NoisePreview, noise_preview

DATASETS = {
    "digits": "Digits (built in, 8x8)",
    "cifar10": "CIFAR-10 (from a folder)",
    "cifar100": "CIFAR-100 (from a folder)",
    "imagefolder": "Image folder (one sub-folder per class)",
    "csv": "CSV of image paths and labels",
    "hf": "Hugging Face dataset folder (save_to_disk)",
    "own": "Your own images: upload an archive, or a folder / CSV here",
    "embeddings": "My embeddings file (.npy / .npz / .parquet) and labels",
}
NOISE = {
    "symmetric": "Symmetric: a random label",
    "asymmetric": "Asymmetric: class -> look-alike class",
    "imbalanced": "Imbalanced two-class task (the paper's Section 4.4)",
    "matrix": "Transition matrix (upload)",
    "none": "None: keep the labels as given",
}
# Short enough for a narrow select box; the help text says the rest.
SYMMETRIC = {"paper": "paper", "exact": "exact count", "flip": "always flip"}
SYMMETRIC_HELP = (
    "paper: each label redrawn from all K classes with probability r (it may stay right); "
    "exact count: floor(r n) samples redrawn from all K; always flip: to a different class."
)
PREVIEW_EXAMPLES = 12
# Digits are 8x8: shown at 8x so the pixels stay visible.
MIN_DISPLAY = 64


BACKBONE = "pretrained backbone"


def calibration_key(config: ExperimentConfig) -> str:
    """The config without what the calibration does not depend on (epochs, evaluations, folds, name)."""
    d = config.to_dict()
    for key in ("epochs", "eval_epochs", "cleanlab_folds", "name"):
        d.pop(key)
    return json.dumps(d, sort_keys=True)


@st.cache_data(show_spinner="Timing a few training steps on this machine…", max_entries=16)
def calibration(key: str) -> Calibration:
    d = json.loads(key)
    return calibrate(ExperimentConfig.from_dict({**d, "epochs": 1}))


@st.cache_data(show_spinner="Loading the data and injecting the noise…", max_entries=16)
def preview(config_json: str) -> NoisePreview:
    return noise_preview(ExperimentConfig.from_dict(json.loads(config_json)), examples=PREVIEW_EXAMPLES)


st.title("New experiment")
st.caption(
    "Choose data and label noise, check what the noise does, then train in the background: "
    "runs keep going when you switch pages or reload."
)
store = get_store()

st.subheader("1 · Data")
data_col, where_col = st.columns(2)


def default_noise_for_dataset() -> None:
    # The user's own labels are the possibly-noisy ones already: inject nothing unless asked to.
    own = st.session_state["ne_dataset"] in ("imagefolder", "csv", "hf", "own")
    st.session_state["ne_noise_kind"] = "none" if own else "symmetric"
    default_rate_for_noise()


def default_rate_for_noise() -> None:
    # Each kind starts at its own default (the paper's imbalanced task flips 30 %), not the last kind's rate.
    st.session_state["ne_rate"] = 0.3 if st.session_state["ne_noise_kind"] == "imbalanced" else 0.4


def own_image_options(col) -> dict:
    """Size and resize mode of the user's own images; 0 px keeps their own size (at most 224)."""
    size_col, crop_col = col.columns([2, 1])
    size = int(size_col.number_input("Resize images to (pixels; 0 = their own size)", 0, 1024, 0, key="ne_image_size"))
    crop = crop_col.checkbox(
        "Keep aspect ratio (centre crop)",
        key="ne_crop",
        help="Resize the shorter side and crop the centre, as torchvision does; off: stretch to a square.",
    )
    return {**({"image_size": size} if size else {}), **({"resize": "crop"} if crop else {})}


dataset = data_col.selectbox(
    "Dataset", list(DATASETS), format_func=DATASETS.get, key="ne_dataset", on_change=default_noise_for_dataset
)
data_root: str | None = None
data_options: dict = {}
if dataset == "embeddings":
    embeddings_section(store)
    st.stop()
if dataset in ("cifar10", "cifar100", "imagefolder", "csv") and (off := local_paths_off()) is not None:
    where_col.info(off, icon=":material/lock:")
if dataset == "digits":
    cap = where_col.number_input(
        "Use at most this many training images (0 = all 1437)", min_value=0, value=0, step=100, key="ne_max_samples"
    )
    if cap:
        data_options["max_samples"] = int(cap)
elif dataset in ("cifar10", "cifar100"):
    folder = "cifar-10-batches-py" if dataset == "cifar10" else "cifar-100-python"
    data_root = where_col.text_input(f"Data folder (holding {folder})", key="ne_root").strip() or None
    cap = where_col.number_input(
        "Use at most this many training images (0 = all 50000)",
        min_value=0,
        value=5000,
        step=1000,
        key="ne_max_samples",
    )
    if cap:
        data_options["max_samples"] = int(cap)
    # The engine's "missing" message suggests download=True: the page offers the same switch.
    if where_col.checkbox(
        "Download if missing (download=True; needs internet)",
        key="ne_download",
        help="torchvision fetches the files into the data folder once; this machine must reach the internet.",
    ):
        data_options["download"] = True
elif dataset == "imagefolder":
    data_root = where_col.text_input("Image folder (root/<class>/<image>)", key="ne_root").strip() or None
    data_options.update(own_image_options(where_col))
elif dataset == "hf":
    data_root = where_col.text_input("Folder written by datasets' save_to_disk", key="ne_root").strip() or None
    image_col, label_col = where_col.columns(2)
    data_options["image_column"] = image_col.text_input("Image column", value="image", key="ne_hf_image").strip()
    data_options["label_column"] = label_col.text_input("Label column", value="label", key="ne_hf_label").strip()
    data_options.update(own_image_options(where_col))
elif dataset == "own":
    with where_col:
        chosen = upload_data_widget("ne_byod")
        data_options.update(own_image_options(st))
    if chosen is None:
        st.info(
            "Upload an archive (one sub-folder per class, or a CSV `filepath,label` beside the images) or "
            "give a folder or CSV on this machine, then check it."
        )
    dataset, data_root = chosen or ("imagefolder", None)
else:
    data_root = where_col.text_input("CSV file with columns filepath,label", key="ne_root").strip() or None
    image_root = where_col.text_input(
        "Folder the CSV's paths start from (default: the CSV's folder)", key="ne_image_root"
    ).strip()
    if image_root:
        data_options["image_root"] = image_root
    data_options.update(own_image_options(where_col))

st.subheader("2 · Label noise")
kind_col, rate_col, detail_col, seed_col = st.columns([2, 1, 2, 1])
kind = kind_col.selectbox(
    "Noise", list(NOISE), format_func=NOISE.get, key="ne_noise_kind", on_change=default_rate_for_noise
)
noise_kwargs: dict = {"kind": kind}
if kind not in ("none", "matrix"):
    # No bounds on the widget: a rate outside [0, 1] must reach the engine and come back as its message.
    st.session_state.setdefault("ne_rate", 0.3 if kind == "imbalanced" else 0.4)
    noise_kwargs["rate"] = rate_col.number_input("Rate r", step=0.05, format="%.2f", key="ne_rate")
seed = int(seed_col.number_input("Seed", min_value=0, value=0, step=1, key="ne_seed"))
matrix_text = ""
mapping_text = ""
if kind == "symmetric":
    noise_kwargs["symmetric_mode"] = detail_col.selectbox(
        "Mode", list(SYMMETRIC), format_func=SYMMETRIC.get, key="ne_symmetric_mode", help=SYMMETRIC_HELP
    )
elif kind == "asymmetric":
    named = sorted(NAMED_MAPPINGS)
    choices = [*named, "custom"]
    mapping = detail_col.selectbox(
        "Mapping",
        choices,
        index=choices.index(dataset) if dataset in named else len(named),
        key="ne_mapping",
        help="Each sample of a source class moves to its target with probability r.",
    )
    mapping_text = (
        mapping
        if mapping != "custom"
        else detail_col.text_input("Pairs source->target", value="3->5, 5->3", key="ne_mapping_pairs")
    )
elif kind == "imbalanced":
    major_col, minor_col, keep_col = detail_col.columns(3)
    noise_kwargs["classes"] = (
        int(major_col.number_input("Majority", min_value=0, value=3, key="ne_major")),
        int(minor_col.number_input("Minority", min_value=0, value=8, key="ne_minor")),
    )
    noise_kwargs["minority_fraction"] = keep_col.number_input(
        "Minority kept", value=0.1, step=0.05, format="%.2f", key="ne_minority_fraction"
    )
elif kind == "matrix":
    upload = detail_col.file_uploader(
        "Transition matrix T[true, observed] (CSV, K rows of K numbers)", type=["csv", "txt"], key="ne_matrix_file"
    )
    matrix_text = detail_col.text_area(
        "…or paste it here", key="ne_matrix_text", height=120, placeholder="0.8,0.2\n0.1,0.9"
    )
    if upload is not None:
        matrix_text = upload.getvalue()

spec = None
with user_errors():
    if kind == "asymmetric":
        noise_kwargs["mapping"] = parse_mapping(mapping_text)
    if kind == "matrix":
        if not matrix_text:
            st.info("Upload or paste a transition matrix: K rows of K comma-separated numbers, each row summing to 1.")
        else:
            noise_kwargs["matrix"] = read_transition_matrix(matrix_text)
    if kind != "matrix" or "matrix" in noise_kwargs:
        spec = NoiseSpec(**noise_kwargs)

data_config = None
missing_root = data_root is None and dataset in ("imagefolder", "csv", "hf", "cifar10", "cifar100")
if missing_root and st.session_state.get("ne_dataset") != "own":
    st.info("Give the data folder or CSV file above to see the preview.")
if spec is not None and not missing_root:
    with user_errors():
        if st.session_state.get("ne_dataset") != "own":  # an upload's folder is the store's own
            checked_local_path(data_root)
            checked_local_path(data_options.get("image_root"))
        # L = 1 here: the preview is about data and noise; the real L is checked at Start.
        data_config = ExperimentConfig(
            dataset=dataset, data_root=data_root, data_options=data_options, noise=spec, seed=seed, L=1
        )

st.markdown("**Preview** - the noise exactly as the run will inject it; nothing trains yet.")
shown = None
if data_config is not None:
    with user_errors():
        shown = preview(json.dumps(data_config.to_dict(), sort_keys=True))
if shown is not None:
    n_col, nominal_col, expected_col, actual_col = st.columns(4)
    n_col.metric("Training samples", f"{shown.n}", help=f"{shown.num_classes} classes")
    nominal_col.metric("Rate asked for", f"{shown.nominal_rate:.1%}")
    expected_col.metric("Expected wrong labels", f"{shown.expected_rate:.1%}")
    actual_col.metric(
        "Wrong labels with this seed", "unknown" if shown.actual_rate is None else f"{shown.actual_rate:.1%}"
    )
    st.caption(
        shown.description
        + (
            ". The paper's symmetric noise redraws a label from all classes, so about r(K-1)/K "
            "of the labels end up wrong."
            if kind == "symmetric" and spec.symmetric_mode != "flip"
            else "."
        )
    )
    matrix_col, examples_col = st.columns([1, 1])
    with matrix_col:
        if shown.labels_known:
            st.plotly_chart(
                plots.transition_matrix_figure(shown.matrix, shown.class_names, counts=shown.counts),
                key="ne_transition",
            )
        else:
            # Nothing is injected: the transition matrix would be the identity; how the labels are spread says more.
            st.plotly_chart(plots.class_counts_figure(shown.class_counts, shown.class_names), key="ne_class_counts")
    with examples_col:
        if not shown.labels_known:
            st.info(
                "These labels come as given and no noise is injected, so which ones are wrong is unknown - "
                "INN will estimate it."
            )
            if shown.example_images is not None and shown.examples.size:
                st.markdown("A few of your images, **with their labels**:")
                st.image(
                    [enlarge(img, max(1, MIN_DISPLAY // img.shape[0])) for img in shown.example_images],
                    caption=[f"#{i}: {shown.class_names[o]}" for i, o in zip(shown.examples, shown.example_observed)],
                    width=MIN_DISPLAY + 16,
                )
        elif shown.examples.size == 0:
            st.info("No label changes with these settings.")
        elif shown.example_images is None:
            st.write(
                {
                    int(i): f"{shown.class_names[t]} -> {shown.class_names[o]}"
                    for i, t, o in zip(shown.examples, shown.example_true, shown.example_observed)
                }
            )
        else:
            st.markdown("Relabelled samples, **true -> observed**:")
            names = shown.class_names
            captions = [
                f"#{i}: {names[t]} -> {names[o]}"
                for i, t, o in zip(shown.examples, shown.example_true, shown.example_observed)
            ]
            st.image(
                [enlarge(img, max(1, MIN_DISPLAY // img.shape[0])) for img in shown.example_images],
                caption=captions,
                width=MIN_DISPLAY + 16,
            )

st.subheader("3 · Training")
own = dataset in OWN_IMAGE_DATASETS
shown_size = None if shown is None or shown.example_images is None else int(shown.example_images.shape[1])
# Photos larger than 32 px: a pretrained backbone is the suggestion, at the size its weights expect.
suggest_backbone = own and shown_size is not None and shown_size > 32
defaults = DATASET_DEFAULTS[dataset]
default_epochs = int(defaults["epochs"])
if own and shown is not None:
    default_epochs = own_data_epochs(shown.n, int(defaults["batch_size"]))
model_col, epochs_col, eval_col, l_col, h_col, folds_col = st.columns(6)
model_choices = ["auto", *(m for m in MODELS if m not in HEADS), BACKBONE]
model = model_col.selectbox(
    "Model",
    model_choices,
    key="ne_model",
    index=model_choices.index(BACKBONE) if suggest_backbone else 0,
    help="auto: small_cnn below 32 px and for own images on a CPU, preact_resnet18 from 32 px. "
    "Pretrained backbone: a torchvision classifier as h and f.",
)
epochs = int(
    epochs_col.number_input(
        "Epochs",
        min_value=1,
        value=default_epochs,
        key="ne_epochs",
        help=f"Own images: about {OWN_DATA_STEPS:,} SGD steps per model, counted from the data's size.",
    )
)
eval_text = eval_col.text_input(
    "Evaluate at epochs",
    key="ne_eval_epochs",
    placeholder="default: the last" if own and kind == "none" else "default: 8 evenly spaced",
    help="Comma-separated, e.g. 5, 10, 20. Every method is scored at each.",
)
L = int(l_col.number_input("Neighbours L", min_value=1, max_value=100, value=10, key="ne_L"))
H = int(h_col.number_input("Trapezoids H", min_value=1, max_value=50, value=10, key="ne_H"))
cleanlab_folds = int(
    folds_col.number_input(
        "cleanlab folds K",
        min_value=0,
        max_value=20,
        value=ExperimentConfig.cleanlab_folds,
        key="ne_cleanlab_folds",
        help="cleanlab's out-of-fold probabilities: K extra CE models, each trained on (K-1)/K of the data "
        "for a quarter of the epochs. 0 = no cleanlab (on the default digits run it costs about 11 s of 66).",
    )
)
model_name, weights, run_options = (None if model == "auto" else model), None, data_options
if model == BACKBONE:
    name_col, weights_col = st.columns([1, 2])
    names = torchvision_models()
    backbone = name_col.selectbox("torchvision model", names, index=names.index("resnet18"), key="ne_backbone")
    weights = (
        weights_col.text_input(
            "Weights file (torch.save(model.state_dict()); empty: random init)", key="ne_weights"
        ).strip()
        or None
    )
    with user_errors():
        model_name, run_options = backbone_choice(backbone, dataset, data_options)
        if own:
            st.caption(
                f"Images read at {run_options['image_size']} px, the size {backbone}'s weights expect"
                f"{', centre-cropped' if run_options.get('resize') == 'crop' else ''}."
            )
elif suggest_backbone:
    st.caption(
        f"These images are {shown_size} px: a pretrained backbone (Model → {BACKBONE}) is usually faster "
        f"and better than training from scratch."
    )
name = st.text_input("Run name", key="ne_name", placeholder="optional, e.g. digits-sym40")

config = None
if shown is not None:
    with user_errors():
        config = ExperimentConfig(
            dataset=dataset,
            data_root=data_root,
            data_options=run_options,
            noise=spec,
            seed=seed,
            model=model_name,
            weights=weights,
            epochs=epochs,
            eval_epochs=parse_epochs(eval_text) or ((epochs,) if own and kind == "none" else None),
            L=L,
            H=H,
            cleanlab_folds=cleanlab_folds,
            name=name.strip(),
        )
start_col, estimate_col = st.columns([1, 4])
estimate = None
if config is not None:
    with estimate_col, user_errors():
        estimate = estimate_run(config, calibration=calibration(calibration_key(config)))
        estimate_col.markdown(
            f"**About {format_duration(estimate.seconds)}** on {estimate.device} "
            f"({estimate.model}; measured with a few real steps here)"
        )
        if estimate.long:
            st.warning("\n".join(estimate.advice(cli=False)))
if start_col.button("Start", type="primary", key="ne_start", disabled=config is None):
    with user_errors():
        with st.spinner("Checking the data…"):
            run_id = submit(store, config)
        st.session_state["current_run"] = run_id
        st.success(f"Started **{config.name or run_id}**. Follow it below, or on **AUC across epochs** as it trains.")

st.subheader("Runs")
live = any(r.status in ACTIVE for r in store.list_runs(kind="experiment"))
st.session_state["ne_live"] = live


@st.fragment(run_every=2.0 if live else None)
def runs_panel() -> None:
    runs = store.list_runs(kind="experiment")
    active = [r for r in runs if r.status in ACTIVE]
    active_runs(store, active, key="ne")
    if runs:
        st.dataframe(
            runs_frame(runs),
            key="ne_runs_table",
            hide_index=True,
            column_config={
                "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            },
        )
    else:
        st.info("No runs yet: set up an experiment above and press **Start**.")
    if bool(active) != st.session_state.get("ne_live", False):
        # A run started or finished elsewhere: redraw the page so polling switches on or off.
        st.rerun()


runs_panel()
