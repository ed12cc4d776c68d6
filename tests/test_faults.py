"""Faults a long-running lab meets: workers that die, a full disk, a busy database.

Each test provokes the fault for real where it can (a killed process, a second connection holding
SQLite's write lock) and checks that the run or the decision ends in a state the user can act on.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from inn_core.errors import InputError
from inn_core.runs.experiment import launch_in_background
from inn_core.runs.store import RunStore


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_queued_run_whose_worker_died_is_failed_and_resumable(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run({"dataset": "digits"})
    store.update_run(run_id, pid=_dead_pid())
    [record] = store.list_runs()
    assert record.status == "failed"
    assert "resume it to continue" in record.error


def test_queued_run_without_a_process_yet_stays_queued(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run({"dataset": "digits"})
    assert store.list_runs()[0].status == "queued"
    assert store.get_run(run_id).pid is None


def test_worker_that_cannot_start_leaves_a_failed_run(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run({"dataset": "digits"})
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(InputError, match="could not start the worker process"):
        launch_in_background(store, run_id)
    record = store.get_run(run_id)
    assert record.status == "failed" and "could not start" in record.error


def _is_zombie_or_present(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").exists()
    except OSError:
        return False


def test_finished_worker_is_reaped(tmp_path):
    store = RunStore(tmp_path / "runs")
    # A config the worker rejects at once: it exits quickly with status 2.
    run_id = store.create_run({"dataset": "no-such-dataset"})
    proc = launch_in_background(store, run_id)
    deadline = time.monotonic() + 60
    while _is_zombie_or_present(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _is_zombie_or_present(proc.pid), "the finished worker is still in the process table (zombie)"
    [record] = store.list_runs()
    assert record.status == "failed" and "unknown dataset 'no-such-dataset'" in record.error
