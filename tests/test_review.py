"""Tests for inn_core.views.review: flagged tables, cleaned labels and export."""

import numpy as np
import pandas as pd
import pytest

from inn_core.errors import InputError
from inn_core.views.review import (
    cleaned_labels,
    decision_log,
    export_run,
    flagged_samples,
    review_progress,
    sample_table,
)


def test_sample_table_columns_and_truth(tiny_store):
    store, run = tiny_store
    table = sample_table(store, run)
    assert {"index", "observed_label", "predicted_label", "score", "clean_posterior", "flagged", "is_noisy"} <= set(
        table
    )
    labels = store.read_arrays(run, "labels.npz")
    np.testing.assert_array_equal(table["is_noisy"], labels["is_noisy"])
    np.testing.assert_array_equal(table["flagged"], table["clean_posterior"] < 0.5)
    with pytest.raises(InputError, match="unknown method 'magic'"):
        sample_table(store, run, method="magic")
    with pytest.raises(InputError, match="not at 2"):
        sample_table(store, run, epoch=2)


def test_flagged_is_sorted_and_top_n(tiny_store):
    store, run = tiny_store
    flagged = flagged_samples(store, run)
    assert flagged["flagged"].all()
    assert flagged["score"].is_monotonic_increasing
    top = flagged_samples(store, run, method="ce", top=5)
    assert len(top) == 5
    assert top["score"].max() <= sample_table(store, run, method="ce")["score"].nsmallest(5).max()


def test_cleaned_labels_apply_standing_decisions(tiny_store):
    store, run = tiny_store
    store.record_decision(run, 0, "relabel", new_label=4)
    store.record_decision(run, 1, "drop")
    store.record_decision(run, 2, "keep")
    store.record_decision(run, 2, "drop")
    store.undo_decision(run, 2)
    table = cleaned_labels(store, run)
    assert table.loc[0, "cleaned_label"] == 4
    assert table.loc[1, "dropped"] and pd.isna(table.loc[1, "cleaned_label"])
    assert table.loc[2, "decision"] == "keep" and table.loc[2, "cleaned_label"] == table.loc[2, "observed_label"]
    log = decision_log(store, run)
    assert list(log["decision"]) == ["relabel", "drop", "keep", "drop"]
    assert list(log["undone"]) == [False, False, False, True]


def test_review_progress_counts_really_noisy(tiny_store):
    store, run = tiny_store
    labels = store.read_arrays(run, "labels.npz")
    noisy_idx = np.flatnonzero(labels["is_noisy"])[:2]
    clean_idx = np.flatnonzero(~labels["is_noisy"])[:1]
    flagged = np.concatenate([noisy_idx, clean_idx, [int(np.flatnonzero(~labels["is_noisy"])[5])]])
    for i in (*noisy_idx, *clean_idx):
        store.record_decision(run, int(i), "keep")
    assert review_progress(store, run, flagged) == {"reviewed": 3, "flagged": 4, "really_noisy": 2}


def test_export_files_match_tables(tiny_store, tmp_path):
    store, run = tiny_store
    store.record_decision(run, 3, "drop")
    files = export_run(store, run, tmp_path / "export")
    assert set(files) == {"cleaned_labels", "decisions", "scores", "config"}
    cleaned = pd.read_csv(files["cleaned_labels"])
    assert bool(cleaned.loc[3, "dropped"]) and cleaned["dropped"].sum() == 1
    assert len(pd.read_csv(files["scores"])) == len(cleaned)
