"""Tests for the Robust training page and inn_core.views.robust_results, over a real tiny DivideMix run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from helpers import TINY_CONFIG
from inn_core.runs.robust import RobustConfig, train_robust
from inn_core.runs.store import RunStore
from inn_core.views.robust_results import robust_history, robust_table

PAGE = str(Path(__file__).resolve().parent.parent / "dashboard" / "app_pages" / "robust.py")


@pytest.fixture(scope="module")
def robust_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("robust")
    store = RunStore(home)
    config = RobustConfig(experiment=TINY_CONFIG, method="dividemix", epochs=3, warmup_epochs=1, name="dm-tiny")
    run_id = train_robust(config, store=store)
    return home, run_id


def test_tables_from_a_finished_run(robust_home):
    home, run_id = robust_home
    store = RunStore(home)
    history = robust_history(store, [run_id])
    assert list(history["epoch"]) == [1, 2, 3]
    assert history["test_accuracy"].between(0, 1).all()
    assert np.isnan(history["labelled_precision"].iloc[0])  # warm-up: no split yet
    assert history["labelled_precision"].iloc[1:].between(0, 1).all()
    [row] = robust_table(store).to_dict("records")
    assert (row["method"], row["status"], row["epochs"]) == ("dividemix", "done", 3)
    assert row["best"] >= row["last"] and row["gap"] == pytest.approx(row["best"] - row["last"])
    # Training time reads as a duration, not as "seconds 524.7731".
    assert re.fullmatch(r"\d+ s|\d+ min \d\d s", row["training time"]) and "seconds" not in row


def test_page_with_empty_store(tmp_path, monkeypatch):
    monkeypatch.setenv("INN_LAB_HOME", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Robust training"
    assert any("No robust training runs yet" in i.value for i in at.info)


def test_page_shows_table_and_curves_for_a_run(robust_home, monkeypatch):
    home, run_id = robust_home
    monkeypatch.setenv("INN_LAB_HOME", str(home))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert at.dataframe[0].value["id"].tolist() == [run_id]
    assert len(at.get("plotly_chart")) == 2


def test_page_rejects_a_bad_rate_without_starting(tmp_path, monkeypatch):
    monkeypatch.setenv("INN_LAB_HOME", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.number_input(key="rb_rate_symmetric").set_value(1.5).run()
    at.button(key="rb_start").click().run()
    assert not at.exception
    assert any("rate must be in [0, 1]" in e.value for e in at.error)
    assert RunStore(tmp_path).list_runs() == []


def test_schedule_caption_is_computed_from_the_configs(tmp_path, monkeypatch):
    from inn_core.runs.experiment import ExperimentConfig
    from inn_core.views.robust_results import schedule_text

    inn = RobustConfig(experiment=ExperimentConfig(), method="inn_dividemix")
    assert f"then {inn.T1 + inn.T2 * inn.T3} for the final networks" in schedule_text(inn)
    monkeypatch.setenv("INN_LAB_HOME", str(tmp_path / "runs"))
    at = AppTest.from_file(
        str(Path(__file__).resolve().parent.parent / "dashboard" / "app_pages" / "robust.py"), default_timeout=60
    ).run()
    captions = " ".join(c.value for c in at.caption)
    assert schedule_text(inn) in captions and "every final network trains 40 epochs" not in captions


def test_precision_comparison_says_what_the_result_shows():
    import pandas as pd

    from inn_core.views.robust_results import precision_comparison

    def history(inn, dm):
        return pd.DataFrame(
            [
                {"run_id": "a", "method": "inn_dividemix", "epoch": 3, "labelled_precision": inn},
                {"run_id": "b", "method": "dividemix", "epoch": 3, "labelled_precision": dm},
            ]
        )

    assert "is not cleaner than" in precision_comparison(history(0.80, 0.90))
    assert "is cleaner than" in precision_comparison(history(0.95, 0.90))
    assert precision_comparison(history(0.9, 0.9).iloc[:1]) is None
