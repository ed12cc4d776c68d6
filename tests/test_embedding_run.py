"""Tests for inn_core.runs.embedding_run and `python -m inn_core run --features`: embedding runs in the store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from inn_core.cli import main
from inn_core.data.datasets import load_dataset
from inn_core.errors import InputError
from inn_core.runs.embedding_run import EmbeddingConfig, resume_embedding, run_embedding
from inn_core.runs.lifecycle import Cancelled
from inn_core.runs.store import RunStore
from inn_core.views.evidence import load_evidence_source
from inn_core.views.review import flagged_samples


@pytest.fixture()
def digits_pixels(tmp_path):
    """The digits training split's pixels as 64-d "embeddings", rows in the split's order."""
    data = load_dataset("digits", random_state=0, max_samples=300)
    path = tmp_path / "digits.npy"
    np.save(path, data.images.reshape(len(data.images), -1).numpy())
    return path


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_embedding_run_with_dataset_labels_is_stored_like_an_experiment(tmp_path, digits_pixels):
    store = RunStore(tmp_path / "runs")
    config = EmbeddingConfig(
        features=str(digits_pixels), dataset="digits", data_options={"max_samples": 300}, epochs=6, L=5, H=4
    )
    run_id = run_embedding(config, store=store)
    record = store.get_run(run_id)
    assert record.kind == "embedding" and record.status == "done" and record.config["variant"] == "embedding"
    info = store.read_json(run_id, "data.json")
    assert info["variant"] == "embedding" and info["neighbor_backend"] == "exact" and info["feature_dim"] == 64
    methods = pd.DataFrame(store.metrics(run_id)["methods"])
    last = methods[methods.epoch == 6].set_index("method")["auc"]
    assert set(last.index) == {"inn", "mixup_fy", "ce", "deep_knn"} and last["inn"] > 0.85
    assert store.eval_epochs(run_id) == list(config.eval_epochs)
    table = flagged_samples(store, run_id)
    assert len(table) and table["is_noisy"].mean() > 0.5
    # The review page's path viewer works on embedding runs: paths between embeddings, no images.
    source = load_evidence_source(store, run_id)
    evidence = source.evidence(int(table["index"][0]))
    assert evidence.frames is None and evidence.curves.shape == (5, 5)
    np.testing.assert_allclose(evidence.score, table["score"][0], atol=1e-5)


def test_embedding_run_resumes_to_the_same_scores(tmp_path, digits_pixels):
    labels = tmp_path / "labels.npy"
    np.save(labels, load_dataset("digits", random_state=0, max_samples=300).true_labels.numpy())
    config = EmbeddingConfig(features=str(digits_pixels), labels=str(labels), epochs=4, eval_epochs=(2, 4), L=4, H=3)
    assert config.noise.kind == "none"
    store = RunStore(tmp_path / "runs")
    straight = run_embedding(config, store=store)

    def stop_after_epoch_2() -> bool:
        return len(store.metrics(interrupted)["methods"]) > 0 if store.has_file(interrupted, "metrics.json") else False

    interrupted = store.create_run(config.to_dict(), kind="embedding")
    with pytest.raises(Cancelled):
        run_embedding(config, store=store, run_id=interrupted, should_stop=stop_after_epoch_2)
    assert store.get_run(interrupted).status == "cancelled"
    resume_embedding(store, interrupted)
    for epoch in (2, 4):
        a, b = store.epoch_scores(straight, epoch), store.epoch_scores(interrupted, epoch)
        np.testing.assert_array_equal(a["scores_inn"], b["scores_inn"])
    assert "auc" not in store.metrics(straight)["methods"][0]  # labels as given: truth unknown


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "give a labels file, or the dataset"),
        ({"dataset": "digits"}, "has 300 rows but the digits training split has 1437 labels"),
        ({"labels": "y.npy", "dataset": "digits"}, "not both"),
        ({"labels": "y.npy", "head": "resnet"}, "unknown head"),
        ({"labels": "y.npy", "neighbor_backend": "annoy"}, "neighbor_backend must be one of"),
    ],
)
def test_embedding_config_and_data_errors(tmp_path, digits_pixels, settings, message):
    from inn_core.runs.embedding_run import prepare_embeddings

    np.save(tmp_path / "y.npy", np.zeros(300, dtype=np.int64))
    settings = {k: (str(tmp_path / v) if k == "labels" else v) for k, v in settings.items()}
    with pytest.raises(InputError, match=message):
        prepare_embeddings(EmbeddingConfig(features=str(digits_pixels), **settings))


def test_cli_run_features_with_a_labels_file_then_show_and_list(capsys, tmp_path, digits_pixels):
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"label": load_dataset("digits", random_state=0, max_samples=300).true_labels.numpy()}).to_csv(
        labels, index=False
    )
    home = str(tmp_path / "runs")
    code, out, err = _cli(
        capsys,
        "--home",
        home,
        "run",
        "--features",
        str(digits_pixels),
        "--labels",
        str(labels),
        "--epochs",
        "3",
        "--L",
        "4",
        "--H",
        "2",
        "--quiet",
    )
    assert code == 0, err
    assert "variant: embedding" in out and "no clean/noisy AUC" in out
    (run,) = RunStore(home).list_runs()
    assert run.kind == "embedding" and run.config["noise"]["kind"] == "none"
    code, out, _ = _cli(capsys, "--home", home, "show", run.id, "--json")
    assert code == 0 and json.loads(out)["run"]["data"]["variant"] == "embedding"
    code, out, _ = _cli(capsys, "--home", home, "list")
    assert code == 0 and "embedding" in out


def test_cli_run_features_with_dataset_labels_and_noise_prints_auc(capsys, tmp_path, digits_pixels):
    code, out, err = _cli(
        capsys,
        "--home",
        str(tmp_path / "runs"),
        "run",
        "--features",
        str(digits_pixels),
        "--data-option",
        "max_samples=300",
        "--epochs",
        "3",
        "--L",
        "4",
        "--H",
        "2",
        "--quiet",
        "--neighbor-backend",
        "faiss-hnsw",
    )
    assert code == 0, err
    assert "clean/noisy AUC" in out and "neighbours faiss-hnsw" in out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: np.save(p / "f.npy", np.array([[np.nan, 1.0]] * 5)), "NaN or infinite values in 5 of 5 rows"),
        (lambda p: np.save(p / "f.npy", np.zeros((7, 2))), "features file has 7 rows but labels file y.txt has 5"),
        (lambda p: np.save(p / "f.npy", np.zeros((5, 2, 2))), "2-D (n, d)"),
        (lambda p: (p / "f.npy").write_bytes(b"garbage"), "cannot read features file f.npy"),
    ],
)
def test_cli_bad_features_exit_2_with_one_line(capsys, tmp_path, make, message):
    make(tmp_path)
    (tmp_path / "y.txt").write_text("0\n1\n0\n1\n0\n")
    code, out, err = _cli(
        capsys,
        "--home",
        str(tmp_path / "runs"),
        "run",
        "--features",
        str(tmp_path / "f.npy"),
        "--labels",
        str(tmp_path / "y.txt"),
        "--L",
        "2",
        "--quiet",
    )
    assert code == 2
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_cli_labels_without_features_exit_2(capsys, tmp_path):
    code, _, err = _cli(capsys, "--home", str(tmp_path / "runs"), "run", "--labels", "y.txt")
    assert code == 2 and "--labels goes with --features" in err
