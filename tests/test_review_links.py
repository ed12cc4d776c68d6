"""Deep links, bulk review, keyboard shortcuts and the first-launch demo under AppTest; the app's Streamlit config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest
from test_review_pages import EXPORT, REVIEW, open_sample, page

from dashboard.components.first_run import DEMO_LABEL, DEMO_NAME
from inn_core.runs.store import RunStore
from inn_core.views.review import cleaned_labels, flagged_samples

ROOT = Path(__file__).resolve().parent.parent


def linked(path: str, home, monkeypatch, **params) -> AppTest:
    monkeypatch.setenv("INN_LAB_HOME", str(home))
    at = AppTest.from_file(path, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_deep_link_opens_its_run_and_sample_and_the_url_follows(tiny_store, monkeypatch):
    store, run_id = tiny_store
    order = flagged_samples(store, run_id)["index"].tolist()
    target = int(order[2])
    at = linked(REVIEW, store.home, monkeypatch, run=run_id, sample=str(target))
    assert open_sample(at) == target  # not the first flagged sample, which opens without a link
    at.button(key="review_keep").click().run()
    assert store.current_decisions(run_id)[target].decision == "keep"
    now = open_sample(at)
    assert now != target and at.query_params["sample"] == str(now) and at.query_params["run"] == run_id


def test_bad_deep_links_say_so_in_one_line(tiny_store, monkeypatch):
    store, run_id = tiny_store
    at = linked(REVIEW, store.home, monkeypatch, run="no-such-run")
    assert any("does not have" in e.value for e in at.error)
    assert open_sample(at) is not None  # the page still works on the run it has
    at = linked(REVIEW, store.home, monkeypatch, run=run_id, sample="99999")
    assert any("is not a sample of run" in e.value for e in at.error)


def test_the_export_page_puts_its_run_in_the_url(tiny_store, monkeypatch):
    store, run_id = tiny_store
    at = page(EXPORT, store.home, monkeypatch)
    assert at.query_params["run"] == run_id
    at.selectbox(key="export_format").set_value("datalab").run()
    at.button(key="export_build").click().run()
    assert not at.exception and at.get("download_button")


def test_bulk_rule_previewed_applied_as_one_batch_and_undone_as_one(tiny_store, monkeypatch):
    store, run_id = tiny_store
    at = page(REVIEW, store.home, monkeypatch)
    at.radio(key="review_bulk_which").set_value("rule").run()
    at.slider(key="review_bulk_max_score").set_value(0.6).run()
    at.slider(key="review_bulk_min_prob").set_value(0.1).run()
    assert at.selectbox(key="review_bulk_action").value == "accept"
    preview = next(m.value for m in at.markdown if "selected samples would change" in m.value)
    count = int(preview.split("**")[1])
    assert count > 1 and not store.current_decisions(run_id)  # previewed, nothing written
    at.button(key="review_bulk_apply").click().run()
    assert not at.exception, at.exception
    log = store.decision_log(run_id)
    assert len(log) == count and len({d.batch for d in log}) == 1 and log[0].batch is not None
    cleaned = cleaned_labels(store, run_id)
    assert (cleaned["decision"] != "").sum() == count
    at.button(key="review_undo").click().run()
    assert not store.current_decisions(run_id)  # one Undo took the whole batch back


def test_bulk_on_every_sample_of_the_list_drops_them(tiny_store, monkeypatch):
    store, run_id = tiny_store
    at = page(REVIEW, store.home, monkeypatch)
    at.radio(key="review_bulk_which").set_value("list").run()
    at.selectbox(key="review_bulk_action").set_value("drop").run()
    at.button(key="review_bulk_apply").click().run()
    flagged = set(flagged_samples(store, run_id)["index"].tolist())
    assert {s for s, d in store.current_decisions(run_id).items() if d.decision == "drop"} == flagged


def test_decision_buttons_have_keyboard_shortcuts(tiny_store, monkeypatch):
    store, _ = tiny_store
    at = page(REVIEW, store.home, monkeypatch)
    shortcuts = {
        key: at.button(key=key).proto.shortcut
        for key in ("review_keep", "review_relabel", "review_drop", "review_undo")
    }
    assert shortcuts == {"review_keep": "k", "review_relabel": "l", "review_drop": "d", "review_undo": "u"}


def test_the_demo_button_starts_the_default_run_and_shows_its_progress(tmp_path, monkeypatch):
    home = tmp_path / "empty"
    at = page(REVIEW, home, monkeypatch)
    (button,) = [b for b in at.button if b.label == DEMO_LABEL]
    button.click().run(timeout=60)
    store = RunStore(home)
    (run,) = store.list_runs()
    try:
        assert run.name == DEMO_NAME and run.config["dataset"] == "digits" and run.pid
        assert not [b for b in at.button if b.label == DEMO_LABEL]
        assert any("under way" in i.value for i in at.info)
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the worker runs in its own session; a resume could finish it


def test_the_streamlit_config_hides_the_deploy_button_when_run_from_the_repo_root():
    code = (
        "from streamlit import config; config.get_config_options(force_reparse=True); "
        "print(config.get_option('client.toolbarMode'))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "minimal"
    assert "dashboard/app.py" in (ROOT / "Makefile").read_text()  # `make run` starts from the root, where it is read


def _map_selection_panel(home: str, run_id: str, selection: list[int]) -> None:
    import numpy as np

    from dashboard.components.review_bulk import bulk_panel
    from inn_core.runs.store import RunStore
    from inn_core.views.review import sample_table

    store = RunStore(home)
    bulk_panel(
        store,
        run_id,
        None,
        sample_table(store, run_id),
        store.read_arrays(run_id, "final.npz")["proba"],
        [str(k) for k in range(10)],
        key="embedding_bulk",
        selection=np.asarray(selection),
    )


def test_a_map_selection_is_decided_as_one_batch_and_undone_from_the_panel(tiny_store):
    store, run_id = tiny_store
    chosen = [4, 8, 15, 16, 23, 42]
    at = AppTest.from_function(_map_selection_panel, args=(str(store.home), run_id, chosen), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="embedding_bulk_action").set_value("drop").run()
    assert any(m.value.startswith("**6** of 6 selected") for m in at.markdown)
    at.button(key="embedding_bulk_apply").click().run()
    assert sorted(store.current_decisions(run_id)) == chosen
    assert len({d.batch for d in store.decision_log(run_id)}) == 1
    assert any("Last batch: 6 decisions" in s.value for s in at.success)
    at.button(key="embedding_bulk_undo").click().run()
    assert not store.current_decisions(run_id)
