"""Faults a long-running lab meets: workers that die, a full disk, a busy database.

Each test provokes the fault for real where it can (a killed process, a second connection holding
SQLite's write lock) and checks that the run or the decision ends in a state the user can act on.
"""

from __future__ import annotations

import builtins
import dataclasses
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import inn_core.runs.store as store_module
from helpers import TINY_CONFIG, resume_in_fresh_process
from inn_core.errors import InputError
from inn_core.runs.experiment import (
    launch_in_background,
    resume_experiment,
    run_experiment,
)
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


# ------------------------------------------------------------------------------------ a full disk


class _FullDisk:
    """``open`` for the store module whose files take ``room`` bytes of ``name`` writes and then raise ENOSPC."""

    def __init__(self, name: str, fail_on: int, room: int = 1000) -> None:
        self.name, self.fail_on, self.room, self.seen = name, fail_on, room, 0

    def __call__(self, path, mode="r", *args, **kwargs):
        fh = builtins.open(path, mode, *args, **kwargs)  # noqa: SIM115 - handed back to the caller, who closes it
        if "w" in mode and Path(path).name.startswith(f".{self.name}."):
            self.seen += 1
            if self.seen == self.fail_on:
                return _FillingFile(fh, self.room)
        return fh


class _FillingFile:
    def __init__(self, fh, room: int) -> None:
        self.fh, self.room = fh, room

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def write(self, data: bytes) -> int:
        self.fh.write(data[: self.room])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.fh, name)


SHORT = dataclasses.replace(TINY_CONFIG, epochs=4, eval_epochs=(2, 4), name="short")


def _same_results(store: RunStore, a: str, b: str) -> None:
    for name in ("final.npz", "epochs/epoch_0004.npz"):
        left, right = store.read_arrays(a, name), store.read_arrays(b, name)
        for key in left:
            np.testing.assert_array_equal(left[key], right[key], err_msg=f"{name}:{key}")
    assert store.metrics(a) == store.metrics(b)


def test_disk_full_while_checkpointing_fails_clearly_and_resumes_exactly(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    straight = run_experiment(SHORT, store=store)
    # The third checkpoint (after epoch 3) hits a full disk a thousand bytes into the file.
    monkeypatch.setattr(store_module, "open", _FullDisk("checkpoint.pt", fail_on=3), raising=False)
    with pytest.raises(InputError, match="the disk is full"):
        run_experiment(SHORT, store=store)
    monkeypatch.undo()
    [victim] = [r for r in store.list_runs() if r.id != straight]
    assert victim.status == "failed" and "the disk is full" in victim.error and "resume" in victim.error
    assert store.read_torch(victim.id, "checkpoint.pt")["epoch"] == 2  # the previous checkpoint, intact
    assert not list(store.run_dir(victim.id).glob(".*.tmp"))  # no half-written file left behind
    resume_experiment(store, victim.id)
    assert store.get_run(victim.id).status == "done"
    _same_results(store, straight, victim.id)


def test_disk_full_in_the_cli_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from inn_core.cli import main

    monkeypatch.setattr(store_module, "open", _FullDisk("config.json", fail_on=1), raising=False)
    code = main(["--home", str(tmp_path / "runs"), "run", "--epochs", "1", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2 and "the disk is full" in err and "Traceback" not in err


# ------------------------------------------------------------------------------- a busy database

_HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE runs SET updated = updated")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def _hold_write_lock(store: RunStore, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(store.db_path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_decision_waits_for_another_writer_and_lands(tiny_store):
    store, run_id = tiny_store
    holder = _hold_write_lock(store, 2.0)
    started = time.monotonic()
    store.record_decision(run_id, 3, "drop")
    waited = time.monotonic() - started
    holder.wait(10)
    assert waited >= 1.0  # it really met the lock
    assert store.current_decisions(run_id)[3].decision == "drop"


def test_decision_behind_a_long_lock_says_so_and_saves_nothing(tiny_store):
    store, run_id = tiny_store
    impatient = RunStore(store.home, busy_timeout=0.5)
    holder = _hold_write_lock(store, 3.0)
    try:
        with pytest.raises(InputError, match="is busy: another process held its write lock.*nothing was saved"):
            impatient.record_decision(run_id, 3, "drop")
    finally:
        holder.wait(10)
    assert 3 not in store.current_decisions(run_id)
    impatient.record_decision(run_id, 3, "drop")  # the retry lands once the lock is gone
    assert store.current_decisions(run_id)[3].decision == "drop"


# ------------------------------------------------------------------- workers killed at bad moments

_KILL_WHILE_WRITING = """
import builtins, os, signal, sys
from pathlib import Path
import inn_core.runs.store as store_module
from inn_core.runs.launch import resume
from inn_core.runs.store import RunStore

home, run_id, name = sys.argv[1:4]

def dying_open(path, mode="r", *args, **kwargs):
    fh = builtins.open(path, mode, *args, **kwargs)
    if "w" in mode and Path(path).name.startswith("." + name + "."):
        fh.write(b"half a file")
        fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return fh

store_module.open = dying_open
resume(RunStore(home), run_id)
"""


@pytest.mark.parametrize(
    "dies_writing", ["checkpoint.pt", "model_mixup.pt"], ids=["before-first-checkpoint", "during-final-write"]
)
def test_worker_killed_at_a_bad_moment_is_resumable(tmp_path, dies_writing):
    store = RunStore(tmp_path / "runs")
    straight = store.create_run(SHORT.to_dict(), name="straight")
    resume_in_fresh_process(store.home, straight)
    victim = store.create_run(SHORT.to_dict(), name="victim")
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_WHILE_WRITING, str(store.home), victim, dies_writing],
        env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        timeout=300,
    )
    assert proc.returncode == -9
    record = [r for r in store.list_runs() if r.id == victim][0]
    assert record.status == "failed" and "resume" in record.error
    if dies_writing == "checkpoint.pt":
        assert not store.has_file(victim, "checkpoint.pt")
    resume_in_fresh_process(store.home, victim)
    assert store.get_run(victim).status == "done"
    _same_results(store, straight, victim)
