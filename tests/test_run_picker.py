"""The shared run picker: honest labels, repeated names told apart, the choice kept across reloads."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from inn_core.runs.store import RunStore

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"
AUC, REVIEW = (str(DASHBOARD / "app_pages" / f"{name}.py") for name in ("auc", "review"))


def _copy_run(store: RunStore, run_id: str, *, name: str, config: dict | None = None) -> str:
    new = store.create_run(config or store.config(run_id), name=name)
    shutil.rmtree(store.run_dir(new))
    shutil.copytree(store.run_dir(run_id), store.run_dir(new))
    store.update_run(new, status="done", progress=1.0)
    return new


def _page(path: str, home: Path, monkeypatch, query: dict | None = None) -> AppTest:
    monkeypatch.setenv("INN_LAB_HOME", str(home))
    at = AppTest.from_file(path, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_repeated_names_show_date_and_id_and_noise_none_has_no_rate(tiny_store, monkeypatch):
    store, run_id = tiny_store
    twin = _copy_run(store, run_id, name="tiny")
    own = _copy_run(
        store,
        run_id,
        name="own",
        config={**store.config(run_id), "dataset": "csv", "noise": {"kind": "none", "rate": 0.4}},
    )
    at = _page(AUC, store.home, monkeypatch)
    options = at.selectbox(key="auc_run").options
    tiny_labels = [o for o in options if o.startswith("tiny")]
    assert len(tiny_labels) == 2 and len(set(tiny_labels)) == 2
    assert all(run[-6:] in label for run, label in zip((twin, run_id), tiny_labels))
    [own_label] = [o for o in options if o.startswith("own")]
    assert own_label.endswith("csv, none") and "40%" not in own_label
    assert store.get_run(own).name == "own"


def test_compare_with_lists_only_runs_with_an_auc(tiny_store, monkeypatch):
    store, run_id = tiny_store
    given = _copy_run(store, run_id, name="given-labels")
    data = store.read_json(given, "data.json")
    store.write_json(given, "data.json", {**data, "labels_known": False})
    other = _copy_run(store, run_id, name="other")
    at = _page(AUC, store.home, monkeypatch, {"run": run_id})
    compare = at.selectbox(key="auc_compare").options
    assert "other" in compare and "given-labels" not in compare and store.get_run(other).status == "done"


def test_picker_keeps_the_run_of_the_query_parameter_after_a_reload(tiny_store, monkeypatch):
    store, run_id = tiny_store
    newer = _copy_run(store, run_id, name="newer")
    assert store.list_runs()[0].id == newer  # the picker's default would be the newest
    at = _page(AUC, store.home, monkeypatch, {"run": run_id})
    assert at.selectbox(key="auc_run").value == run_id
    assert at.query_params["run"] == run_id
    at.selectbox(key="auc_run").set_value(newer).run()
    assert at.query_params["run"] == newer
