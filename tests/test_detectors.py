from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from inn_core.errors import InputError
from inn_core.views.detectors import detector_disagreement, score_trajectories

HISTOGRAMS = str(Path(__file__).resolve().parent.parent / "dashboard" / "app_pages" / "histograms.py")


def test_trajectories_follow_the_samples_whose_rank_moved_most(tiny_store):
    store, run_id = tiny_store
    frame = score_trajectories(store, run_id, method="inn", top=5)
    epochs = store.eval_epochs(run_id)
    assert frame["sample"].nunique() == 5 and sorted(frame["epoch"].unique()) == epochs
    scores = {e: store.epoch_scores(run_id, e)["scores_inn"] for e in epochs}
    for row in frame.itertuples():
        assert row.score == pytest.approx(float(scores[row.epoch][row.sample]))
    moved = frame.groupby("sample")["rank"].agg(lambda r: r.max() - r.min())
    ranks = np.stack([np.argsort(np.argsort(scores[e], kind="stable"), kind="stable") for e in epochs])
    all_moves = (ranks.max(0) - ranks.min(0)) / (ranks.shape[1] - 1)
    assert moved.min() >= np.sort(all_moves)[-5] - 1e-9
    chosen = score_trajectories(store, run_id, method="inn", samples=[0, 3])
    assert sorted(chosen["sample"].unique()) == [0, 3]
    with pytest.raises(InputError, match="out of range"):
        score_trajectories(store, run_id, samples=[10_000])


def test_disagreement_lists_samples_only_one_method_flags(tiny_store):
    store, run_id = tiny_store
    frame = detector_disagreement(store, run_id)
    assert {"score_inn", "score_ce", "score_cleanlab"} <= set(frame.columns)
    flags = frame[["flag_inn", "flag_ce", "flag_cleanlab"]].to_numpy()
    only = frame["only"].to_numpy()
    for i in range(len(frame)):
        if flags[i].sum() == 1:
            assert only[i] == ("inn", "ce", "cleanlab")[int(flags[i].argmax())]
        else:
            assert only[i] == ""
    with pytest.raises(InputError, match="at least two"):
        detector_disagreement(store, run_id, methods=("inn", "nothing"))


def test_histograms_page_shows_trajectories_and_disagreement(tiny_store, monkeypatch):
    store, run_id = tiny_store
    monkeypatch.setenv("INN_LAB_HOME", str(store.home))
    at = AppTest.from_file(HISTOGRAMS, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    keys = [c.key for c in at.get("plotly_chart")]
    assert "traj_chart" in keys and "dis_chart" in keys
    assert any("Flagged by one method only" in m.value for m in at.markdown)
    (table,) = [d.value for d in at.dataframe if "flagged only by" in d.value.columns]
    assert "flagged only by" in table.columns and set(table["flagged only by"]) <= {
        "INN",
        "small-loss (CE)",
        "cleanlab",
    }
    assert len(table)  # the tiny run's detectors disagree on some samples
    at.button(key="dis_review").click().run()
    assert at.session_state["review_selection"]["origin"] == "the detectors"
