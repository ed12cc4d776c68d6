"""Review, Embedding and Export pages under AppTest: decisions land in SQLite at once and survive reruns."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.components.review_decide import next_to_review
from inn_core.runs.store import RunStore
from inn_core.views.embedding import EMBEDDING_FILE
from inn_core.views.review import cleaned_labels, flagged_samples

PAGES = Path(__file__).resolve().parent.parent / "dashboard" / "app_pages"
REVIEW, EMBEDDING, EXPORT = (str(PAGES / f"{name}.py") for name in ("review", "embedding", "export"))


def page(path: str, home, monkeypatch) -> AppTest:
    monkeypatch.setenv("INN_LAB_HOME", str(home))
    at = AppTest.from_file(path, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def open_sample(at: AppTest) -> int | None:
    for header in at.subheader:
        if m := re.fullmatch(r"Sample #(\d+)", header.value):
            return int(m.group(1))
    return None


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


@pytest.fixture()
def review(tiny_store, monkeypatch):
    store, run_id = tiny_store
    at = page(REVIEW, store.home, monkeypatch)
    order = [int(i) for i in flagged_samples(store, run_id)["index"]]
    assert len(order) >= 4, "the tiny run should flag a handful of samples"
    return at, store, run_id, order


@pytest.mark.parametrize("path", [REVIEW, EMBEDDING, EXPORT])
def test_empty_store_points_to_new_experiment(path, tmp_path, monkeypatch):
    at = page(path, tmp_path / "empty", monkeypatch)
    assert at.title[0].value in {"Review", "Embedding map", "Export"}
    assert any("New experiment" in i.value for i in at.info)


def test_the_most_suspicious_flagged_sample_opens_with_its_paths(review):
    at, store, run_id, order = review
    assert open_sample(at) == order[0]
    assert metric(at, "Reviewed / to review") == f"0 / {len(order)}"
    assert metric(at, "Really noisy so far") == "0 of 0"
    # One chart: per neighbour (L = 5) an image strip and its f_y curve.
    (chart,) = at.get("plotly_chart")
    traces = [t["type"] for t in json.loads(chart.proto.spec)["data"]]
    assert traces.count("image") == traces.count("scatter") == 5
    assert any("5 neighbour paths" in m.value for m in at.markdown)
    # A grid card per flagged sample (fewer than a page of 24 here) with an Open button.
    opens = [b.key for b in at.button if b.key and b.key.startswith("review_open_")]
    assert opens == [f"review_open_{i}" for i in order[:24]]


def test_decisions_round_trip_into_sqlite_survive_a_rerun_and_undo(review, monkeypatch):
    at, store, run_id, order = review
    s0, s1, s2 = order[:3]

    click(at, "review_keep")
    assert store.current_decisions(run_id)[s0].decision == "keep"
    assert open_sample(at) == s1, "the next sample opens by itself"
    assert [t.value for t in at.toast] == [f"Sample #{s0} kept (saved)."]

    proba = store.read_arrays(run_id, "final.npz")["proba"][s1]
    observed = int(store.read_arrays(run_id, "labels.npz")["observed"][s1])
    suggested = next(int(k) for k in np.argsort(-proba, kind="stable") if k != observed)
    click(at, "review_relabel")
    relabel = store.current_decisions(run_id)[s1]
    assert (relabel.decision, relabel.new_label) == ("relabel", suggested)

    at.text_input(key=f"review_note_{run_id}_{s2}").input("smudged stroke").run()
    click(at, "review_drop")
    assert store.current_decisions(run_id)[s2].note == "smudged stroke"
    assert metric(at, "Reviewed / to review") == f"3 / {len(order)}"

    # A fresh session (a reload, or the server restarted) sees the same decisions.
    again = page(REVIEW, store.home, monkeypatch)
    assert metric(again, "Reviewed / to review") == f"3 / {len(order)}"
    assert any(":green[dropped]" in m.value for m in again.markdown)

    click(at, "review_undo")
    assert [t.value for t in at.toast] == [f"Undid 'drop' on sample #{s2}."]
    assert set(store.current_decisions(run_id)) == {s0, s1}
    assert open_sample(at) == s2, "undo reopens the sample it took back"
    click(at, "review_undo")
    assert set(store.current_decisions(run_id)) == {s0}
    assert metric(at, "Reviewed / to review") == f"1 / {len(order)}"
    log = store.decision_log(run_id)
    assert [(d.sample, d.undone) for d in log] == [(s0, False), (s1, True), (s2, True)]


def test_export_reflects_the_decisions(review, monkeypatch):
    at, store, run_id, order = review
    click(at, "review_keep")
    click(at, "review_relabel")
    click(at, "review_drop")
    export = page(EXPORT, store.home, monkeypatch)
    assert metric(export, "Kept (reviewed)") == "1"
    assert metric(export, "Relabelled") == "1"
    assert metric(export, "Dropped") == "1"
    shown = export.dataframe[0].value
    expected = cleaned_labels(store, run_id)
    expected = expected[expected["decision"] != ""]
    assert shown["index"].tolist() == expected["index"].tolist() == sorted(order[:3])
    assert shown["cleaned_label"].astype("Int64").tolist() == expected["cleaned_label"].tolist()
    labels = [b.label for b in export.get("download_button")]
    assert labels == [
        "Cleaned labels (cleaned_labels.csv)",
        "Decision log (decisions.csv)",
        "Scores (scores.csv)",
        "Configuration (config.json)",
    ]


def test_two_tabs_and_another_writer_all_land(review, monkeypatch):
    tab_a, store, run_id, order = review
    tab_b = page(REVIEW, store.home, monkeypatch)
    other = RunStore(store.home)  # a second, independent writer (another process or tab)

    click(tab_a, "review_keep")  # order[0]
    click(tab_b, f"review_open_{order[2]}")
    click(tab_b, "review_drop")
    other.record_decision(run_id, order[3], "relabel", new_label=0, note="from elsewhere")

    decisions = store.current_decisions(run_id)
    assert {s: d.decision for s, d in decisions.items()} == {order[0]: "keep", order[2]: "drop", order[3]: "relabel"}
    tab_a.run()
    assert metric(tab_a, "Reviewed / to review") == f"3 / {len(order)}"
    # Undo in a tab takes back that tab's own decision, not the other writers'.
    click(tab_b, "review_undo")
    assert set(store.current_decisions(run_id)) == {order[0], order[3]}


def test_concurrent_writers_lose_nothing(tiny_store):
    store, run_id = tiny_store
    writers = [RunStore(store.home) for _ in range(2)]

    def write(w: RunStore, offset: int) -> None:
        for i in range(20):
            w.record_decision(run_id, offset + i, "keep")

    threads = [threading.Thread(target=write, args=(w, 100 * k)) for k, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(store.current_decisions(run_id)) == list(range(20)) + list(range(100, 120))


def test_filter_sort_and_lowest_scores(review):
    at, store, run_id, order = review
    table = flagged_samples(store, run_id)
    cls = table["observed_name"].iloc[0]
    at.multiselect(key="review_classes").select(cls).run()
    cards = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert cards and all(f"label **{cls}**" in c for c in cards)
    assert len(cards) == int((table["observed_name"] == cls).sum())

    at.multiselect(key="review_classes").unselect(cls).run()
    at.selectbox(key="review_sort").set_value("score_desc").run()
    first = next(m.value for m in at.markdown if m.value.startswith("**#"))
    assert first.startswith(f"**#{int(table.loc[table['score'].idxmax(), 'index'])}**")

    at.radio(key="review_source").set_value("lowest").run()
    at.number_input(key="review_top").set_value(7).run()
    assert not at.exception
    assert any(h.value == "7 samples · lowest scores" for h in at.subheader)
    at.selectbox(key="review_method").set_value("deep_knn").run()
    assert not at.exception
    assert any(h.value == "7 samples · lowest scores" for h in at.subheader)


def test_a_selection_from_the_map_becomes_a_review_list(tiny_store, monkeypatch):
    store, run_id = tiny_store
    monkeypatch.setenv("INN_LAB_HOME", str(store.home))
    at = AppTest.from_file(REVIEW, default_timeout=60)
    at.session_state["review_selection"] = {"run_id": run_id, "indices": [11, 5, 42]}
    at.session_state["review_source"] = "map"
    at.run()
    assert not at.exception
    assert any(h.value == "3 samples · selection from the map" for h in at.subheader)
    assert metric(at, "Reviewed / to review") == "0 / 3"
    assert open_sample(at) in {5, 11, 42}
    # Sent from the histograms' detector disagreement, the list says where it came from.
    at.session_state["review_selection"] = {"run_id": run_id, "indices": [11, 5], "origin": "the detectors"}
    at.run()
    assert any(h.value == "2 samples · selection from the detectors" for h in at.subheader)
    assert "Selection from the detectors" in at.radio(key="review_source").options


def test_embedding_page_shows_the_stored_map(tiny_store, monkeypatch):
    store, run_id = tiny_store
    # A stored map (as run_embedding leaves it) is shown without computing UMAP again.
    coords = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    store.write_arrays(run_id, EMBEDDING_FILE, coords=coords)
    stamp = (store.run_dir(run_id) / EMBEDDING_FILE).stat().st_mtime_ns
    at = page(EMBEDDING, store.home, monkeypatch)
    assert at.title[0].value == "Embedding map"
    assert len(at.get("plotly_chart")) == 1
    assert at.radio(key="embedding_color").options == [
        "INN score",
        "Beta-mixture split",
        "Truly noisy (injected)",
        "Observed class",
        "Suggested class",
    ]
    for mode in ("flagged", "noisy", "class", "predicted"):
        at.radio(key="embedding_color").set_value(mode).run()
        assert not at.exception
    assert (store.run_dir(run_id) / EMBEDDING_FILE).stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("order", "current", "decided", "expected"),
    [
        ([3, 1, 4], 3, set(), 1),
        ([3, 1, 4], 4, set(), 3),  # wraps round
        ([3, 1, 4], 3, {1}, 4),  # skips decided samples
        ([3, 1, 4], 9, set(), 3),  # current not in the list: start at the top
        ([3, 1, 4], 3, {3, 1, 4}, None),  # all done
    ],
)
def test_next_to_review(order, current, decided, expected):
    assert next_to_review(order, current, decided) == expected


def upload_app() -> None:
    import streamlit as st

    from dashboard.components.review_upload import upload_data_widget

    st.session_state["chosen"] = upload_data_widget("byod")


def zip_of(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def png(value: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((5, 5), value, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def test_upload_widget_unpacks_an_archive_under_the_store_home(tmp_path, monkeypatch):
    monkeypatch.setenv("INN_LAB_HOME", str(tmp_path))
    at = AppTest.from_function(upload_app, default_timeout=30).run()
    assert at.session_state["chosen"] is None
    assert at.button(key="byod_unpack").disabled
    good = {f"{cls}/{i}.png": png(50 * k + i) for k, cls in enumerate(("ant", "bee")) for i in range(2)}
    at.file_uploader(key="byod_file").set_value(("insects.zip", zip_of(good), "application/zip")).run()
    click(at, "byod_unpack")
    root = tmp_path / "uploads" / "insects"
    assert at.session_state["chosen"] == ("imagefolder", str(root))
    assert "4 images in 2 classes" in at.success[0].value
    at.run()  # the checked data survives reruns
    assert at.session_state["chosen"] == ("imagefolder", str(root))


def test_upload_widget_reports_a_path_escape_and_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("INN_LAB_HOME", str(tmp_path))
    at = AppTest.from_function(upload_app, default_timeout=30).run()
    evil = {"ant/a.png": png(1), "bee/b.png": png(2), "../../escape.png": png(3)}
    at.file_uploader(key="byod_file").set_value(("evil.zip", zip_of(evil), "application/zip")).run()
    click(at, "byod_unpack")
    assert "'../../escape.png'" in at.error[0].value
    assert at.session_state["chosen"] is None
    assert not (tmp_path / "uploads" / "evil").exists()
    assert not list(tmp_path.parent.glob("escape.png"))


def test_upload_widget_checks_a_local_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("INN_LAB_HOME", str(tmp_path / "home"))
    for k, cls in enumerate(("ant", "bee")):
        (tmp_path / "data" / cls).mkdir(parents=True)
        (tmp_path / "data" / cls / "x.png").write_bytes(png(100 * k))
    at = AppTest.from_function(upload_app, default_timeout=30).run()
    at.radio(key="byod_mode").set_value("path").run()
    at.text_input(key="byod_path").input(str(tmp_path / "nowhere")).run()
    click(at, "byod_check")
    assert "does not exist" in at.error[0].value
    assert at.session_state["chosen"] is None
    at.text_input(key="byod_path").input(str(tmp_path / "data")).run()
    click(at, "byod_check")
    assert at.session_state["chosen"] == ("imagefolder", str(tmp_path / "data"))


def test_close_keeps_the_viewer_closed_until_a_sample_is_opened(review):
    at, store, run_id, order = review
    click(at, "review_close")
    assert open_sample(at) is None
    at.run()
    assert open_sample(at) is None
    click(at, f"review_open_{order[3]}")
    assert open_sample(at) == order[3]


def test_a_shorter_list_moves_the_grid_back_to_its_last_page(review):
    at, store, run_id, order = review
    at.radio(key="review_source").set_value("lowest").run()
    at.number_input(key="review_top").set_value(60).run()
    at.number_input(key="review_page").set_value(3).run()
    assert not at.exception
    assert at.number_input(key="review_page").label == "Page (of 3)"  # 60 samples, 24 a page
    at.number_input(key="review_top").set_value(10).run()
    assert not at.exception
    assert at.number_input(key="review_page").value == 1
    assert len([b for b in at.button if b.key and b.key.startswith("review_open_")]) == 10


def test_when_every_sample_is_decided_the_page_says_so(review):
    at, store, run_id, order = review
    for sample in order:
        store.record_decision(run_id, sample, "keep")
    at.run()
    assert open_sample(at) == order[0]  # the sample open before stays open
    click(at, "review_drop")
    assert open_sample(at) is None
    assert any(f"All {len(order)} samples" in s.value for s in at.success)


def test_embedding_page_computes_a_map_only_on_request(tiny_store, monkeypatch):
    store, run_id = tiny_store
    at = page(EMBEDDING, store.home, monkeypatch)
    assert not store.has_file(run_id, EMBEDDING_FILE)
    assert not at.get("plotly_chart")
    assert [b.label for b in at.button] == ["Compute the map"]


def test_hide_reviewed_leaves_only_the_undecided_cards(review):
    at, store, run_id, order = review
    store.record_decision(run_id, order[0], "keep")
    store.record_decision(run_id, order[1], "drop")
    at.toggle(key="review_hide_reviewed").set_value(True).run()
    assert not at.exception
    opens = [b.key for b in at.button if b.key and b.key.startswith("review_open_")]
    assert opens == [f"review_open_{i}" for i in order[2:26]]
    at.toggle(key="review_hide_reviewed").set_value(False).run()
    opens = [b.key for b in at.button if b.key and b.key.startswith("review_open_")]
    assert f"review_open_{order[0]}" in opens
