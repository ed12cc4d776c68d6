"""New experiment → "My embeddings file" under AppTest: paths or uploads in, a background embedding run out."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from inn_core.runs.store import RunStore

NEW = str(Path(__file__).resolve().parent.parent / "dashboard" / "app_pages" / "new_experiment.py")


def _embeddings_page(home: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("INN_LAB_HOME", str(home))
    at = AppTest.from_file(NEW, default_timeout=60).run()
    at.selectbox(key="ne_dataset").set_value("embeddings").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _files(tmp_path: Path, *, nan: bool = False, rows: int = 60) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    features = (np.eye(3)[labels] * 4 + rng.normal(size=(60, 3))).astype(np.float32)[:rows]
    if nan:
        features[7, 1] = np.nan
    np.save(tmp_path / "emb.npy", features)
    (tmp_path / "labels.txt").write_text("\n".join(str(v) for v in labels))
    return tmp_path / "emb.npy", tmp_path / "labels.txt"


def test_embeddings_route_waits_for_both_files(tmp_path, monkeypatch):
    at = _embeddings_page(tmp_path / "runs", monkeypatch)
    assert at.button(key="emb_start").disabled
    assert any("embeddings file" in i.value for i in at.info)
    assert not at.get("plotly_chart")  # the image route's noise preview is not drawn


@pytest.mark.parametrize(
    ("nan", "rows", "message"),
    [
        (True, 60, "features contain NaN or infinite values in 1 of 60 rows (first: row 7)"),
        (
            False,
            50,
            "the features file has 50 rows but labels file labels.txt has 60 labels; they must match row for row",
        ),
    ],
)
def test_embeddings_route_bad_files_show_one_error_and_start_nothing(tmp_path, monkeypatch, nan, rows, message):
    features, labels = _files(tmp_path, nan=nan, rows=rows)
    at = _embeddings_page(tmp_path / "runs", monkeypatch)
    at.text_input(key="emb_features_path").set_value(str(features))
    at.text_input(key="emb_labels_path").set_value(str(labels)).run()
    at.button(key="emb_start").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [message]
    assert RunStore(tmp_path / "runs").list_runs() == []


@pytest.mark.slow
def test_embeddings_route_starts_a_background_embedding_run_until_done(tmp_path, monkeypatch):
    features, labels = _files(tmp_path)
    home = tmp_path / "runs"
    at = _embeddings_page(home, monkeypatch)
    at.text_input(key="emb_features_path").set_value(str(features))
    at.text_input(key="emb_labels_path").set_value(str(labels)).run()
    at.number_input(key="emb_epochs").set_value(3)
    at.number_input(key="emb_L").set_value(4)
    at.selectbox(key="emb_noise").set_value("symmetric")
    at.text_input(key="emb_name").set_value("my-embeddings")
    at.button(key="emb_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    store = RunStore(home)
    (run,) = store.list_runs()
    assert run.kind == "embedding" and run.name == "my-embeddings" and run.config["noise"]["kind"] == "symmetric"
    deadline = time.monotonic() + 120
    while store.get_run(run.id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)
    log = (store.run_dir(run.id) / "worker.log").read_text(errors="replace")
    assert store.get_run(run.id).status == "done", log
    assert store.read_json(run.id, "data.json")["variant"] == "embedding"
    at.run()
    assert list(at.dataframe[0].value["status"]) == ["done"]


def test_review_and_histogram_pages_read_an_embedding_run(tmp_path, monkeypatch):
    from inn_core.data.noise import NoiseSpec
    from inn_core.runs.embedding_run import EmbeddingConfig, run_embedding

    features, labels = _files(tmp_path)
    store = RunStore(tmp_path / "runs")
    run_embedding(
        EmbeddingConfig(
            features=str(features),
            labels=str(labels),
            noise=NoiseSpec("symmetric", 0.3),
            epochs=3,
            L=4,
            H=3,
            name="emb-run",
        ),
        store=store,
    )
    monkeypatch.setenv("INN_LAB_HOME", str(tmp_path / "runs"))
    pages = Path(NEW).parent
    for name in ("review", "histograms", "auc"):
        at = AppTest.from_file(str(pages / f"{name}.py"), default_timeout=60).run()
        assert not at.exception, (name, [e.value for e in at.exception])
        assert not at.error, (name, [e.value for e in at.error])
        assert any("emb-run" in str(s.options) for s in at.selectbox), name  # the run is offered
