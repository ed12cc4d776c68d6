"""Bulk review: a selection previewed, written as one batch in one SQLite transaction, undone as one."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from inn_core.errors import InputError
from inn_core.runs.store import RunStore
from inn_core.views.bulk import apply_bulk, preview_bulk, rule_selection
from inn_core.views.review import cleaned_labels, sample_table


def test_batch_is_all_or_nothing_in_one_transaction(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run({})
    store.record_decision(run, 2, "keep")
    # A real SQLite trigger that fails the third insert: if the batch were several transactions,
    # the first two rows would stay behind.
    with sqlite3.connect(store.db_path) as conn:
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON decisions WHEN NEW.sample = 7 BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        store.record_decisions(run, [(5, "drop", None), (6, "relabel", 1), (7, "keep", None)])
    assert set(store.current_decisions(run)) == {2}
    with sqlite3.connect(store.db_path) as conn:
        conn.execute("DROP TRIGGER boom")
    batch = store.record_decisions(run, [(5, "drop", None), (6, "relabel", 1), (2, "drop", None)], note="bulk")
    log = store.decision_log(run)
    assert [d.batch for d in log[1:]] == [batch] * 3 and log[0].batch is None


def test_one_undo_takes_the_whole_batch_back_and_earlier_decisions_stand_again(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run({})
    store.record_decision(run, 2, "keep")
    batch = store.record_decisions(run, [(2, "drop", None), (3, "relabel", 4), (9, "drop", None)])
    assert {s: d.decision for s, d in store.current_decisions(run).items()} == {2: "drop", 3: "relabel", 9: "drop"}
    undone = store.undo_decision(run)  # run-wide undo: the latest action was the batch
    assert undone.batch == batch
    assert {s: d.decision for s, d in store.current_decisions(run).items()} == {2: "keep"}
    assert len(store.decision_log(run)) == 4  # history kept
    # Undo by batch id, and per-sample undo inside a batch, keep their meaning.
    batch = store.record_decisions(run, [(4, "keep", None), (5, "keep", None)])
    store.undo_decision(run, 4)
    assert set(store.current_decisions(run)) == {2, 5}
    assert [d.sample for d in store.undo_batch(run, batch)] == [5]
    assert store.undo_batch(run, batch) == []


def test_batch_validation(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run({})
    with pytest.raises(InputError, match="empty"):
        store.record_decisions(run, [])
    with pytest.raises(InputError, match="needs the new label"):
        store.record_decisions(run, [(1, "relabel", None)])
    with pytest.raises(InputError, match="repeats"):
        store.record_decisions(run, [(1, "keep", None), (1, "drop", None)])
    with pytest.raises(InputError, match="unknown decision"):
        store.record_decisions(run, [(1, "burn", None)])


def test_old_store_without_batch_column_is_migrated(tmp_path):
    with sqlite3.connect(tmp_path / "index.sqlite") as conn:
        conn.executescript("""
            CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'experiment',
              created REAL NOT NULL, updated REAL NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL,
              progress REAL NOT NULL DEFAULT 0, phase TEXT NOT NULL DEFAULT '', eta REAL, error TEXT, pid INTEGER,
              cancel_requested INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, sample INTEGER NOT NULL,
              decision TEXT NOT NULL, new_label INTEGER, note TEXT NOT NULL DEFAULT '', created REAL NOT NULL,
              undone INTEGER NOT NULL DEFAULT 0);
            INSERT INTO runs VALUES ('r1', 'old', 'experiment', 0, 0, '{}', 'done', 1, '', NULL, NULL, NULL, 0);
            INSERT INTO decisions (run_id, sample, decision, created) VALUES ('r1', 4, 'keep', 0);
        """)
    store = RunStore(tmp_path)
    assert store.current_decisions("r1")[4].batch is None
    store.record_decisions("r1", [(5, "drop", None)])
    assert set(store.current_decisions("r1")) == {4, 5}


def test_rule_preview_apply_on_a_real_run(tiny_store):
    store, run = tiny_store
    table = sample_table(store, run)
    proba = store.read_arrays(run, "final.npz")["proba"]
    t = float(np.quantile(table["score"], 0.5))
    chosen = rule_selection(table, proba, max_score=t, min_probability=0.1)
    suggested = proba.argmax(1)
    expected = [
        i
        for i in range(len(table))
        if table["score"][i] < t and proba[i, suggested[i]] > 0.1 and suggested[i] != table["observed_label"][i]
    ]
    assert sorted(chosen.tolist()) == expected and len(expected) > 0
    assert np.all(np.diff(table["score"].to_numpy()[chosen]) >= 0)  # lowest score first

    store.record_decision(run, int(chosen[0]), "relabel", new_label=int(suggested[chosen[0]]))
    preview = preview_bulk(store, run, chosen, "accept", proba=proba)
    assert len(preview) == len(chosen) and set(preview["decision"]) == {"relabel"}
    # Without proba, the run's stored probabilities: the same preview.
    pd.testing.assert_frame_equal(preview_bulk(store, run, chosen, "accept"), preview)
    assert not preview.set_index("index").loc[int(chosen[0]), "changes"]
    assert store.current_decisions(run).keys() == {int(chosen[0])}  # a preview writes nothing

    batch = apply_bulk(store, run, preview)
    cleaned = cleaned_labels(store, run).set_index("index")
    assert (cleaned.loc[chosen, "cleaned_label"].to_numpy() == suggested[chosen]).all()
    assert sum(d.batch == batch for d in store.decision_log(run)) == len(chosen) - 1
    store.undo_decision(run)
    assert store.current_decisions(run).keys() == {int(chosen[0])}
    with pytest.raises(InputError, match="in \\[0, 1\\]"):
        rule_selection(table, proba, max_score=0.5, min_probability=2)
