"""The consistency, New experiment, AUC and Histograms pages under AppTest, and the app frame over every page."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.components.progress import format_eta, runs_frame
from inn_core.data.noise import NoiseSpec
from inn_core.runs.experiment import ExperimentConfig
from inn_core.runs.store import RunStore
from inn_core.views.preview import noise_preview

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"
APP = str(DASHBOARD / "app.py")
CONSISTENCY, NEW, AUC, HISTOGRAMS = (
    str(DASHBOARD / "app_pages" / f"{name}.py") for name in ("consistency", "new_experiment", "auc", "histograms")
)
#: Every page app.py navigates to, with its heading.
APP_PAGES = [
    ("consistency", "The consistency effect"),
    ("new_experiment", "New experiment"),
    ("auc", "AUC across epochs"),
    ("robust", "Robust training"),
    ("histograms", "Score histograms"),
    ("review", "Review"),
    ("embedding", "Embedding map"),
    ("export", "Export"),
    ("ablations", "Ablations"),
]


def page(path: str, home: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("INN_LAB_HOME", str(home))
    at = AppTest.from_file(path, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def run_ids(store: RunStore) -> list[tuple[str, str]]:
    return [(r.id, r.status) for r in store.list_runs()]


@pytest.fixture()
def empty_home(tmp_path) -> Path:
    return tmp_path / "empty-runs"


# --------------------------------------------------------------------------- components


def test_format_eta():
    assert format_eta(None) == "estimating…"
    assert format_eta(float("nan")) == "estimating…"
    assert format_eta(42.4) == "about 42 s"
    assert format_eta(65) == "about 1 min 05 s"
    assert format_eta(3 * 3600 + 120) == "about 3 h 02 min"


def test_runs_frame_lists_status_and_progress(tiny_store):
    store, run_id = tiny_store
    frame = runs_frame(store.list_runs())
    assert list(frame["id"]) == [run_id]
    assert frame.loc[0, "status"] == "done" and frame.loc[0, "progress"] == 1.0
    assert frame.loc[0, "setting"] == "digits, symmetric 40%"
    assert runs_frame([]).empty and "status" in runs_frame([]).columns


# --------------------------------------------------------------------------- consistency


def test_consistency_page_draws_the_toy_and_the_shipped_demo(empty_home, monkeypatch):
    at = page(CONSISTENCY, empty_home, monkeypatch)
    assert at.title[0].value == "The consistency effect"
    assert [s.key for s in at.slider] == ["toy_rate", "toy_L", "toy_H", "toy_epochs"]
    # Figure 1's two panels, Figure 2 over the toy's training, and the demo's two charts.
    assert [c.key for c in charts(at)][:3] == ["toy_surface", "toy_curves", "toy_means"] and len(charts(at)) == 5
    clean, noisy = metric(at, "INN score: clean vs noisy point").split(" vs ")
    assert float(clean) > float(noisy)
    fy_clean, fy_noisy = metric(at, "f_y at the point: clean vs noisy").split(" vs ")
    # The page's sentence states the numbers the metrics show, and that the wrong label is memorised.
    [text] = [m.value for m in at.markdown if "What to look at" in m.value and "square" in m.value]
    assert f"f_y = {fy_noisy}" in text and f"**{noisy}**" in text and "memorised" in text
    assert any("assets/demo" in c.value for c in at.caption)


def test_consistency_page_follows_the_sliders(empty_home, monkeypatch):
    at = page(CONSISTENCY, empty_home, monkeypatch)
    at.slider(key="toy_rate").set_value(0.0).run()
    assert not at.exception
    assert any("no noisy point" in i.value for i in at.info)
    assert len(charts(at)) == 4


def test_consistency_page_prefers_a_demo_run_in_the_store(tiny_store, monkeypatch):
    store, run_id = tiny_store
    store.update_run(run_id, name="demo")
    at = page(CONSISTENCY, store.home, monkeypatch)
    assert any(run_id in c.value for c in at.caption)
    assert at.selectbox(key="demo_model").value == "ce"


# --------------------------------------------------------------------------- new experiment


def test_new_experiment_on_an_empty_store_shows_settings_preview_and_no_runs(empty_home, monkeypatch):
    at = page(NEW, empty_home, monkeypatch)
    assert at.title[0].value == "New experiment"
    assert at.selectbox(key="ne_dataset").value == "digits"
    assert at.selectbox(key="ne_noise_kind").value == "symmetric"
    for key in ("ne_rate", "ne_seed", "ne_epochs", "ne_L", "ne_H"):
        at.number_input(key=key)
    assert any("No runs yet" in i.value for i in at.info)
    assert not at.button(key="ne_start").disabled
    # The symmetric mode's select box is a sixth of the page wide: its choices must fit in it.
    mode = at.selectbox(key="ne_symmetric_mode")
    assert max(len(o) for o in mode.options) <= 12 and "floor(r n)" in mode.help


def test_new_experiment_preview_numbers_are_the_engines(empty_home, monkeypatch):
    at = page(NEW, empty_home, monkeypatch)
    at.number_input(key="ne_rate").set_value(0.3)
    at.number_input(key="ne_seed").set_value(2).run()
    expected = noise_preview(ExperimentConfig(noise=NoiseSpec("symmetric", 0.3), seed=2, L=1))
    assert metric(at, "Training samples") == "1437"
    assert metric(at, "Rate asked for") == "30.0%"
    assert metric(at, "Expected wrong labels") == "27.0%"
    assert metric(at, "Wrong labels with this seed") == f"{expected.actual_rate:.1%}"
    assert len(at.image[0].proto.imgs) == 12 and len(charts(at)) == 1


def test_new_experiment_matrix_upload_previews_its_rate(empty_home, monkeypatch):
    at = page(NEW, empty_home, monkeypatch)
    at.selectbox(key="ne_noise_kind").set_value("matrix").run()
    matrix = np.eye(10) * 0.5 + 0.05
    at.file_uploader(key="ne_matrix_file").set_value(
        ("t.csv", "\n".join(",".join(f"{v:g}" for v in row) for row in matrix).encode(), "text/csv")
    ).run()
    assert not at.exception and not at.error
    assert metric(at, "Expected wrong labels") == "45.0%"


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"ne_rate": 1.5}, "rate must be in [0, 1], got 1.5"),
        ({"ne_dataset": "cifar10", "ne_root": "/no/such/folder"}, "missing"),
        ({"ne_noise_kind": "matrix", "ne_matrix_text": "0.5,0.4\n0.2,0.8"}, "row 0 sums to 0.9"),
        ({"ne_dataset": "csv", "ne_root": "EMPTY_CSV"}, "is empty"),
        ({"ne_noise_kind": "asymmetric", "ne_mapping": "custom", "ne_mapping_pairs": "3 to 5"}, "cannot read '3 to 5'"),
    ],
)
def test_new_experiment_bad_input_shows_the_reason_and_keeps_the_store(
    settings, message, tiny_store, tmp_path, monkeypatch
):
    store, _ = tiny_store
    before = run_ids(store)
    empty_csv = tmp_path / "empty.csv"
    empty_csv.write_text("")
    at = page(NEW, store.home, monkeypatch)
    for key, value in settings.items():
        value = str(empty_csv) if value == "EMPTY_CSV" else value
        widget = next(
            w
            for kind in ("selectbox", "number_input", "text_input", "text_area")
            for w in getattr(at, kind)
            if w.key == key
        )
        widget.set_value(value)
        at.run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="ne_start").disabled
    assert run_ids(store) == before


def test_new_experiment_offers_the_download_its_cifar_error_suggests(empty_home, tmp_path, monkeypatch):
    at = page(NEW, empty_home, monkeypatch)
    at.selectbox(key="ne_dataset").set_value("cifar10").run()
    at.text_input(key="ne_root").input(str(tmp_path / "nowhere")).run()
    [error] = [e.value for e in at.error]
    assert "download=True" in error
    assert "download=True" in at.checkbox(key="ne_download").label


def test_new_experiment_start_refuses_bad_training_settings(tiny_store, monkeypatch):
    store, _ = tiny_store
    before = run_ids(store)
    at = page(NEW, store.home, monkeypatch)
    at.number_input(key="ne_max_samples").set_value(50)
    at.number_input(key="ne_L").set_value(60)
    at.button(key="ne_start").click().run()
    assert any("L = 60 neighbours needs more than 60 training samples" in e.value for e in at.error)
    at.number_input(key="ne_L").set_value(5)
    at.text_input(key="ne_eval_epochs").set_value("5, ten")
    at.button(key="ne_start").click().run()
    assert any("whole numbers" in e.value for e in at.error)
    at.text_input(key="ne_eval_epochs").set_value("")
    at.number_input(key="ne_cleanlab_folds").set_value(1).run()
    # Shown as soon as it is set, and nothing can start until it is fixed.
    assert any("cleanlab_folds must be 0 (off) or an integer >= 2" in e.value for e in at.error)
    assert at.button(key="ne_start").disabled
    assert run_ids(store) == before


def _estimate_seconds(at) -> float:
    (text,) = [m.value for m in at.markdown if m.value.startswith("**About ")]
    duration = re.match(r"\*\*About ([^*]+)\*\*", text).group(1)
    units = {"h": 3600, "min": 60, "s": 1}
    return sum(float(value) * units[unit] for value, unit in re.findall(r"([\d.]+) (h|min|s)\b", duration))


def test_new_experiment_cleanlab_folds_change_the_estimate(empty_home, monkeypatch):
    at = page(NEW, empty_home, monkeypatch)
    assert at.number_input(key="ne_cleanlab_folds").value == 5
    with_folds = _estimate_seconds(at)
    at.number_input(key="ne_cleanlab_folds").set_value(0).run()
    assert not at.error
    # The calibration is shared (folds do not change a step's cost): only the folds' share goes.
    without = _estimate_seconds(at)
    assert 0 < without < with_folds


def test_new_experiment_shows_progress_and_cancels_a_running_run(tiny_store, monkeypatch):
    store, done_id = tiny_store
    running = store.create_run({"dataset": "digits", "epochs": 40}, name="busy")
    store.update_run(running, status="running", progress=0.25, phase="training", eta=90.0)
    at = page(NEW, store.home, monkeypatch)
    (bar,) = at.get("progress")
    assert bar.proto.value == 25 and "about 1 min 30 s" in bar.proto.text
    table = at.dataframe[0].value
    assert set(table["status"]) == {"running", "done"}
    at.button(key=f"ne_cancel_{running}").click().run()
    assert not at.exception
    assert store.get_run(running).cancel_requested and not store.get_run(done_id).cancel_requested
    assert at.button(key=f"ne_cancel_{running}").disabled


@pytest.mark.slow
def test_new_experiment_start_runs_in_the_background_until_done(empty_home, monkeypatch):
    at = page(NEW, empty_home, monkeypatch)
    at.number_input(key="ne_max_samples").set_value(100)
    at.number_input(key="ne_epochs").set_value(2)
    at.text_input(key="ne_eval_epochs").set_value("1, 2")
    at.number_input(key="ne_L").set_value(3)
    at.number_input(key="ne_H").set_value(2)
    at.number_input(key="ne_cleanlab_folds").set_value(2)
    at.text_input(key="ne_name").set_value("from-the-page")
    at.button(key="ne_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    store = RunStore(empty_home)
    (run,) = store.list_runs()
    assert run.name == "from-the-page" and run.config["epochs"] == 2 and run.config["eval_epochs"] == [1, 2]
    assert run.config["cleanlab_folds"] == 2
    assert at.session_state["current_run"] == run.id
    deadline = time.monotonic() + 180
    while store.get_run(run.id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)
    record = store.get_run(run.id)
    log = (store.run_dir(run.id) / "worker.log").read_text(errors="replace")
    assert record.status == "done", log
    at.run()
    assert not at.get("progress")
    assert list(at.dataframe[0].value["status"]) == ["done"]


# --------------------------------------------------------------------------- AUC


def test_auc_page_on_an_empty_store_points_to_new_experiment(empty_home, monkeypatch):
    at = page(AUC, empty_home, monkeypatch)
    assert at.title[0].value == "AUC across epochs"
    assert any("New experiment" in i.value for i in at.info)
    assert not charts(at)


def test_auc_page_shows_the_runs_auc_and_consistency_means(tiny_store, monkeypatch):
    store, run_id = tiny_store
    at = page(AUC, store.home, monkeypatch)
    assert at.selectbox(key="auc_run").value == run_id
    assert len(charts(at)) == 2
    table = at.dataframe[0].value
    records = {r["method"]: r for r in store.metrics(run_id)["methods"] if r["epoch"] == 3}
    assert len(table) == len(records)
    inn = table[table["method"] == "INN"].iloc[0]
    assert inn["AUC"] == pytest.approx(records["inn"]["auc"])
    figure = json.loads(charts(at)[0].proto.spec)
    assert len(figure["data"]) == len(records)
    # cleanlab is a method of every run: in the table, and its own find_label_issues numbers in a caption.
    cleanlab = table[table["method"] == "cleanlab"].iloc[0]
    assert cleanlab["AUC"] == pytest.approx(records["cleanlab"]["auc"])
    assert any("find_label_issues" in c.value and "out-of-fold" in c.value for c in at.caption)


def _copy_run(store: RunStore, run_id: str, name: str) -> str:
    copy = store.create_run(store.config(run_id), name=name)
    for item in store.run_dir(run_id).iterdir():
        target = store.run_dir(copy) / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        elif item.name != "config.json":
            shutil.copyfile(item, target)
    store.update_run(copy, status="done", progress=1.0)
    return copy


def test_auc_page_overlays_a_second_run(tiny_store, monkeypatch):
    store, run_id = tiny_store
    other = _copy_run(store, run_id, "twin")
    at = page(AUC, store.home, monkeypatch)
    at.selectbox(key="auc_run").set_value(run_id).run()
    at.selectbox(key="auc_compare").set_value(other).run()
    assert not at.exception
    figure = json.loads(charts(at)[0].proto.spec)
    names = [t["name"] for t in figure["data"]]
    assert "INN - tiny" in names and "INN - twin" in names
    assert {t["line"]["dash"] for t in figure["data"]} == {"solid", "dash"}


# --------------------------------------------------------------------------- histograms


def test_histograms_page_on_an_empty_store_points_to_new_experiment(empty_home, monkeypatch):
    at = page(HISTOGRAMS, empty_home, monkeypatch)
    assert at.title[0].value == "Score histograms"
    assert any("New experiment" in i.value for i in at.info)


def test_histograms_page_shows_a_methods_split_at_an_epoch(tiny_store, monkeypatch):
    store, run_id = tiny_store
    at = page(HISTOGRAMS, store.home, monkeypatch)
    method = at.selectbox(key="hist_method")
    assert method.value == "inn"
    assert {"INN", "small-loss (CE)", "small-loss (CE+NE)", "Deep k-NN"} <= set(method.options)
    assert list(at.select_slider(key="hist_epoch").options) == ["1", "3"]
    assert [c.key for c in charts(at)].count("hist_chart") == 1
    method.set_value("ce_ne")
    at.select_slider(key="hist_epoch").set_value(1).run()
    assert not at.exception
    record = next(r for r in store.metrics(run_id)["methods"] if r["epoch"] == 1 and r["method"] == "ce_ne")
    assert metric(at, "Precision") == f"{record['precision']:.1%}"
    assert metric(at, "Recall") == f"{record['recall']:.1%}"
    assert metric(at, "Flagged as noisy") == str(record["n_flagged"])
    figure = json.loads(next(c for c in charts(at) if c.key == "hist_chart").proto.spec)
    hist_names = [t["name"] for t in figure["data"] if t["type"] == "histogram"]
    noisy = int(store.read_arrays(run_id, "labels.npz")["is_noisy"].sum())
    assert hist_names == [f"clean ({200 - noisy})", f"noisy ({noisy})"]


# --------------------------------------------------------------------------- the app frame


def test_every_page_of_the_app_renders(tiny_store, monkeypatch):
    store, _ = tiny_store
    at = page(APP, store.home, monkeypatch)
    assert at.title[0].value == "The consistency effect"
    for name, heading in APP_PAGES:
        at.switch_page(f"app_pages/{name}.py").run()
        assert not at.exception, (name, [e.value for e in at.exception])
        assert at.title[0].value == heading


def test_new_experiment_own_data_from_a_local_folder(tmp_path, monkeypatch):
    """Bring your own data: a class-per-folder tree checked on the page, previewed with no noise injected."""
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (10, 10), color=40 * i + (100 if cls == "dog" else 0)).save(
                tmp_path / "pics" / cls / f"{i}.png"
            )
    at = page(NEW, tmp_path / "runs", monkeypatch)
    at.selectbox(key="ne_dataset").set_value("own").run()
    assert not at.exception
    at.radio(key="ne_byod_mode").set_value("path").run()
    at.text_input(key="ne_byod_path").input(str(tmp_path / "pics")).run()
    at.button(key="ne_byod_check").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="ne_noise_kind").value == "none"
    assert metric(at, "Training samples") == "12"
    # The user's own images with their labels, and the labels' spread - not an identity transition matrix.
    assert [c.key for c in charts(at)] == ["ne_class_counts"]
    assert any("A few of your images" in m.value for m in at.markdown)
    (images,) = at.get("image")
    captions = list(images.captions)
    assert len(captions) == 12 and {c.split(": ")[1] for c in captions} == {"cat", "dog"}


def test_new_experiment_rate_follows_the_noise_kind(empty_home, monkeypatch):
    at = page(NEW, empty_home, monkeypatch)
    assert at.number_input(key="ne_rate").value == 0.4
    at.selectbox(key="ne_noise_kind").set_value("imbalanced").run()
    assert at.number_input(key="ne_rate").value == 0.3
    at.selectbox(key="ne_noise_kind").set_value("symmetric").run()
    assert at.number_input(key="ne_rate").value == 0.4


def test_consistency_caption_reports_how_much_the_toy_memorised(empty_home, monkeypatch):
    from inn_core.views.toy import ToyConfig, consistency_toy

    at = page(CONSISTENCY, empty_home, monkeypatch)
    captions = " ".join(c.value for c in at.caption)
    assert "hardly memorises" not in captions
    result = consistency_toy(
        ToyConfig(
            noise_rate=at.slider(key="toy_rate").value,
            L=at.slider(key="toy_L").value,
            H=at.slider(key="toy_H").value,
            epochs=at.slider(key="toy_epochs").value,
        )
    )
    assert f"fits **{result.memorised:.0%}** of the wrong labels" in captions
