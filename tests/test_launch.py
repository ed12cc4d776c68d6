"""Tests for inn_core.runs.launch: the front door that submits and resumes runs of every kind."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import pytest

from helpers import TINY_CONFIG
from inn_core.errors import InputError
from inn_core.runs import launch
from inn_core.runs.lifecycle import Cancelled, Reporter, guard_run
from inn_core.runs.store import RunStore

SHORT = dataclasses.replace(TINY_CONFIG, epochs=2, eval_epochs=(2,), name="front-door")


def test_submit_in_the_foreground_runs_to_done_and_resume_refuses_a_finished_run(tmp_path):
    store = RunStore(tmp_path)
    run_id = launch.submit(store, SHORT, background=False)
    record = store.get_run(run_id)
    assert (record.kind, record.status, record.name) == ("experiment", "done", "front-door")
    assert store.eval_epochs(run_id) == [2]
    with pytest.raises(InputError, match="already done"):
        launch.resume(store, run_id)


def test_submit_checks_the_data_first_and_creates_no_run(tmp_path):
    store = RunStore(tmp_path)
    too_many = dataclasses.replace(SHORT, data_options={"max_samples": 30}, L=50)
    with pytest.raises(InputError, match="L = 50 neighbours needs more than 50 training samples"):
        launch.submit(store, too_many)
    assert store.list_runs() == []
    with pytest.raises(InputError, match="no run kind takes a dict"):
        launch.submit(store, {"dataset": "digits"})


def test_resume_dispatches_by_kind_and_continues_a_cancelled_run(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(Cancelled):
        launch.submit(store, SHORT, background=False, should_stop=lambda: True)
    (record,) = store.list_runs()
    assert record.status == "cancelled"
    assert launch.resume(store, record.id) == record.id
    assert store.get_run(record.id).status == "done"


@dataclass(frozen=True)
class CountConfig:
    """A run kind registered by a test: counts to ``steps`` through the shared lifecycle."""

    steps: int = 3
    name: str = ""

    def to_dict(self) -> dict:
        return {"steps": self.steps, "name": self.name}

    @classmethod
    def from_dict(cls, d: dict) -> CountConfig:
        return cls(**d)


def check_count(config: CountConfig) -> None:
    if config.steps < 1:
        raise InputError(f"steps must be at least 1, got {config.steps}")


def run_count(config: CountConfig, *, store: RunStore, callbacks=(), should_stop=None, run_id=None) -> str:
    run_id = run_id or store.create_run(config.to_dict(), name=config.name, kind="count")

    def body() -> None:
        reporter = Reporter(
            store, run_id, total=config.steps, epochs=config.steps, callbacks=callbacks, should_stop=should_stop
        )
        done = store.read_json(run_id, "done.json", 0)
        reporter.start(done)
        for step in range(done + 1, config.steps + 1):
            store.write_json(run_id, "done.json", step)
            reporter.done = step
            reporter.report("counting", step)
        reporter.finish(config.steps)

    guard_run(store, run_id, body)
    return run_id


def test_a_new_run_kind_registers_with_one_entry(tmp_path, monkeypatch):
    monkeypatch.setitem(
        launch.RUN_KINDS,
        "count",
        launch.RunKind(
            config="test_launch:CountConfig", runner="test_launch:run_count", check="test_launch:check_count"
        ),
    )
    store = RunStore(tmp_path)
    with pytest.raises(InputError, match="steps must be at least 1"):
        launch.submit(store, CountConfig(steps=0))
    seen = []
    stop_at_two = iter([False, True])
    with pytest.raises(Cancelled):
        launch.submit(store, CountConfig(name="c"), background=False, should_stop=lambda: next(stop_at_two))
    (record,) = store.list_runs()
    assert (record.kind, record.status) == ("count", "cancelled")
    launch.resume(store, record.id, callbacks=[seen.append])
    assert store.get_run(record.id).status == "done"
    assert [p.epoch for p in seen] == [3, 3] and seen[-1].phase == "done"


@pytest.mark.slow
def test_the_background_worker_resumes_through_the_front_door(tmp_path):
    store = RunStore(tmp_path)
    run_id = launch.submit(store, SHORT)
    assert store.get_run(run_id).pid is not None
    deadline = time.monotonic() + 120
    while store.get_run(run_id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
    log = (store.run_dir(run_id) / "worker.log").read_text(errors="replace")
    assert store.get_run(run_id).status == "done", log
