"""Tests for inn_core.runs.store: the SQLite index, atomic files, decisions with undo."""

import sqlite3
import threading

import numpy as np
import pytest

from inn_core.errors import InputError
from inn_core.runs.store import RunStore, atomic_write_bytes


def test_create_list_and_update_runs(tmp_path):
    store = RunStore(tmp_path)
    a = store.create_run({"dataset": "digits"}, name="first")
    b = store.create_run({"dataset": "toy2d"})
    assert [r.id for r in store.list_runs()] == [b, a]
    store.update_run(a, status="running", progress=0.5, phase="training", eta=12.0)
    rec = store.get_run(a)
    assert (rec.status, rec.progress, rec.phase, rec.eta, rec.name) == ("running", 0.5, "training", 12.0, "first")
    assert store.config(a) == {"dataset": "digits"}
    with sqlite3.connect(store.db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_run_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no run with id 'nope'"):
        RunStore(tmp_path).get_run("nope")


def test_invalid_status_is_rejected_by_code_and_database(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run({})
    with pytest.raises(ValueError, match="unknown status"):
        store.update_run(run, status="finished")
    with sqlite3.connect(store.db_path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE runs SET status = 'finished' WHERE id = ?", (run,))


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_bytes(target, b"old")

    def crash(*_):
        raise OSError("disk died mid-write")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"


def test_arrays_and_torch_round_trip(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run({})
    store.write_arrays(run, "epochs/epoch_0003.npz", scores_inn=np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(store.epoch_scores(run, 3)["scores_inn"], [0, 1, 2, 3])
    assert store.eval_epochs(run) == [3]
    store.write_torch(run, "checkpoint.pt", {"epoch": 2, "rng": {"state": 2**100}})
    assert store.read_torch(run, "checkpoint.pt") == {"epoch": 2, "rng": {"state": 2**100}}
    with pytest.raises(InputError, match="no final.npz yet"):
        store.read_arrays(run, "final.npz")


def test_decisions_history_and_undo(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run({})
    store.record_decision(run, 5, "keep")
    store.record_decision(run, 5, "relabel", new_label=3, note="looks like a 3")
    store.record_decision(run, 7, "drop")
    current = store.current_decisions(run)
    assert (current[5].decision, current[5].new_label, current[5].note) == ("relabel", 3, "looks like a 3")
    assert current[7].decision == "drop"
    undone = store.undo_decision(run, 5)
    assert undone.decision == "relabel"
    assert store.current_decisions(run)[5].decision == "keep"
    assert store.undo_decision(run).sample == 7  # run-wide undo takes the latest
    assert 7 not in store.current_decisions(run)
    assert len(store.decision_log(run)) == 3  # history kept
    store.undo_decision(run, 5)
    assert store.undo_decision(run, 5) is None


def test_decision_validation(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run({})
    with pytest.raises(InputError, match="needs the new label"):
        store.record_decision(run, 1, "relabel")
    with pytest.raises(InputError, match="unknown decision"):
        store.record_decision(run, 1, "maybe")
    with pytest.raises(InputError, match="no run"):
        store.record_decision("ghost", 1, "keep")


def test_two_writers_both_land(tmp_path):
    """Two stores on one home (two browser tabs, two processes) writing at once lose nothing."""
    run = RunStore(tmp_path).create_run({})

    def review(offset):
        store = RunStore(tmp_path)
        for i in range(25):
            store.record_decision(run, offset + i, "keep")

    threads = [threading.Thread(target=review, args=(k * 100,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(RunStore(tmp_path).current_decisions(run)) == 50


def test_stale_running_run_is_marked_failed(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run({})
    store.update_run(run, status="running", pid=2**22 + 12345)  # no such process
    [record] = store.list_runs()
    assert record.status == "failed"
    assert "resume" in record.error


def test_delete_run_removes_files_and_decisions(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run({})
    store.record_decision(run, 1, "drop")
    store.delete_run(run)
    assert store.list_runs() == []
    assert not store.run_dir(run).exists()


def test_decision_sample_and_label_must_lie_in_the_run(tiny_store):
    store, run = tiny_store
    data = store.read_json(run, "data.json")
    n, k = data["n"], data["num_classes"]
    store.record_decision(run, n - 1, "relabel", new_label=k - 1)
    for sample in (n, -1, 2.5, "3"):
        with pytest.raises(InputError, match="sample index must be a whole number"):
            store.record_decision(run, sample, "keep")
    for label in (k, -1):
        with pytest.raises(InputError, match=rf"new label must be a class id in 0..{k - 1}"):
            store.record_decision(run, 0, "relabel", new_label=label)
    assert len(store.decision_log(run)) == 1


@pytest.mark.parametrize("run_id", ["../../etc", "..", "a/b", "/tmp", "", "x\\y", "run.id"])
def test_run_ids_with_path_tricks_are_refused(tmp_path, run_id):
    store = RunStore(tmp_path)
    with pytest.raises(InputError, match="is not a run id"):
        store.run_dir(run_id)
    with pytest.raises(InputError, match="is not a run id"):
        store.get_run(run_id)


def test_run_record_experiment_is_the_config_or_its_wrapped_experiment(tmp_path):
    store = RunStore(tmp_path)
    plain = store.create_run({"dataset": "digits", "seed": 1})
    wrapped = store.create_run({"method": "dividemix", "experiment": {"dataset": "toy2d", "seed": 2}}, kind="robust")
    assert store.get_run(plain).experiment == {"dataset": "digits", "seed": 1}
    assert store.get_run(wrapped).experiment == {"dataset": "toy2d", "seed": 2}
