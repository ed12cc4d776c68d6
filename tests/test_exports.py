"""Exports read back with the consumer's own library: datasets.load_from_disk, torchvision ImageFolder,
pandas for the CSVs, and Label Studio's task JSON checked by shape."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from inn_core.data.noise import NoiseSpec
from inn_core.errors import InputError
from inn_core.runs.experiment import ExperimentConfig, run_experiment
from inn_core.runs.store import RunStore
from inn_core.views.exports import EXPORT_FORMATS, export
from inn_core.views.review import flagged_samples, sample_table


@pytest.fixture()
def reviewed(tiny_store):
    """The tiny run with sample 3 dropped and sample 5 relabelled to another class."""
    store, run = tiny_store
    observed = store.read_arrays(run, "labels.npz")["observed"]
    new = int((observed[5] + 1) % 10)
    store.record_decision(run, 3, "drop")
    store.record_decision(run, 5, "relabel", new_label=new)
    return store, run, observed, new


def test_csv_has_class_names_next_to_label_ids(reviewed, tmp_path):
    store, run, _observed, new = reviewed
    files = export(store, run, tmp_path, format="csv")
    cleaned = pd.read_csv(files["cleaned_labels"], keep_default_na=False)
    columns = list(cleaned.columns)
    assert columns[columns.index("observed_label") + 1] == "observed_name"
    assert columns[columns.index("cleaned_label") + 1] == "cleaned_name"
    assert cleaned.loc[5, "cleaned_name"] == str(new) and cleaned.loc[3, "cleaned_name"] == ""
    log = pd.read_csv(files["decisions"], keep_default_na=False)
    assert log["new_name"].tolist() == ["", str(new)]


def test_imagefolder_reads_back_with_torchvision(reviewed, tmp_path):
    from torchvision.datasets import ImageFolder

    store, run, observed, new = reviewed
    root = export(store, run, tmp_path, format="imagefolder")["imagefolder"]
    folder = ImageFolder(str(root))
    assert len(folder) == len(observed) - 1  # the dropped sample is left out
    by_index = {int(os.path.basename(p)[:6]): folder.classes[t] for p, t in folder.samples}
    assert 3 not in by_index
    assert by_index[5] == str(new)  # relabelled: in its new class
    assert all(by_index[i] == str(observed[i]) for i in by_index if i != 5)
    image, _ = folder[0]
    assert image.size == (8, 8)


def test_hf_reads_back_with_datasets(reviewed, tmp_path):
    import datasets

    store, run, observed, new = reviewed
    ds = datasets.load_from_disk(str(export(store, run, tmp_path, format="hf")["hf"]))
    assert {"image", "given_label", "cleaned_label", "inn_score", "is_label_issue", "decision"} <= set(ds.column_names)
    assert ds.features["cleaned_label"].names == [str(k) for k in range(10)]
    assert len(ds) == len(observed)
    assert ds[3]["decision"] == "drop" and ds[3]["cleaned_label"] == -1
    assert ds[5]["cleaned_label"] == new and ds[5]["given_label"] == observed[5]
    np.testing.assert_allclose(ds["inn_score"], sample_table(store, run)["score"], atol=1e-6)
    assert isinstance(ds[0]["image"], Image.Image) and ds[0]["image"].size == (8, 8)


def test_labelstudio_tasks_have_the_import_shape(reviewed, tmp_path):
    store, run, _observed, _new = reviewed
    files = export(store, run, tmp_path, format="labelstudio")
    tasks = json.loads(files["tasks"].read_text())
    flagged = flagged_samples(store, run)
    assert [t["data"]["index"] for t in tasks] == flagged["index"].tolist()
    for task in tasks:
        assert task["data"]["image"].startswith("data:image/png;base64,")
        (prediction,) = task["predictions"]
        assert isinstance(prediction["score"], float) and 0 <= prediction["score"] <= 1
        (result,) = prediction["result"]
        assert (result["from_name"], result["to_name"], result["type"]) == ("label", "image", "choices")
        assert result["value"]["choices"][0] in [str(k) for k in range(10)]
    config = files["label_config"].read_text()
    assert '<Image name="image" value="$image"/>' in config and config.count("<Choice ") == 10


def test_datalab_columns(reviewed, tmp_path):
    store, run, observed, _ = reviewed
    table = pd.read_csv(export(store, run, tmp_path, format="datalab")["label_issues"])
    assert list(table.columns) == ["index", "is_label_issue", "label_score", "given_label", "predicted_label"]
    assert table["given_label"].tolist() == observed.tolist()
    assert table["is_label_issue"].sum() == len(flagged_samples(store, run))


def test_unknown_format_is_one_clear_error(reviewed, tmp_path):
    store, run, *_ = reviewed
    with pytest.raises(InputError, match="choose one of csv, imagefolder"):
        export(store, run, tmp_path, format="parquet")
    assert set(EXPORT_FORMATS) == {"csv", "imagefolder", "hf", "labelstudio", "datalab"}
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    for fmt in ("csv", "datalab"):
        with pytest.raises(InputError, match="it is a file, not a folder"):
            export(store, run, taken, format=fmt)


def test_an_embedding_run_has_no_images_to_export(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create_run({}, name="embeddings", kind="embedding")
    for fmt in ("imagefolder", "hf", "labelstudio"):
        with pytest.raises(InputError, match="has no images to write as .*; export it as csv or datalab"):
            export(store, run, tmp_path / "out", format=fmt)


def test_image_files_are_hard_linked_into_their_cleaned_class(tmp_path):
    rng = np.random.default_rng(0)
    source = tmp_path / "photos"
    for k, name in enumerate(["cat", "dog"]):
        (source / name).mkdir(parents=True)
        for j in range(12):
            pixels = (rng.random((8, 8, 3)) * 80 + 170 * k).astype(np.uint8)
            Image.fromarray(pixels).save(source / name / f"{name}{j:02d}.png")
    store = RunStore(tmp_path / "runs")
    config = ExperimentConfig(
        dataset="imagefolder",
        data_root=str(source),
        data_options={"image_size": 8, "test_fraction": 0.0},
        noise=NoiseSpec("none"),
        epochs=1,
        eval_epochs=(1,),
        L=3,
        H=2,
        device="cpu",
    )
    run = run_experiment(config, store=store)
    sources = store.read_json(run, "sources.json")
    store.record_decision(run, 0, "relabel", new_label=1 - int(store.read_arrays(run, "labels.npz")["observed"][0]))
    root = export(store, run, tmp_path / "out", format="imagefolder")["imagefolder"]
    moved = next(root.glob(f"*/000000_{os.path.basename(sources[0])}"))
    assert moved.parent.name != sources[0].split("/")[0]  # in its new class
    assert os.stat(moved).st_ino == os.stat(source / sources[0]).st_ino  # a hard link, not a copy
    copied = export(store, run, tmp_path / "copy", format="imagefolder", link="copy")["imagefolder"]
    assert os.stat(next(copied.glob("*/000000_*"))).st_ino != os.stat(source / sources[0]).st_ino
