"""torchrun: a 2-rank gloo run against one process, a killed rank, cancel, bad launches; the world helpers.

The multi-process tests start real ``torchrun`` launches of ``python -m inn_core`` on a small
digits configuration (200 samples, a few epochs) and are bounded by subprocess timeouts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from inn_core.method.distributed import SINGLE, World, global_batch_norm
from inn_core.method.neighbors import nearest_neighbors
from inn_core.runs.experiment import ExperimentConfig, run_experiment
from inn_core.runs.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--data-option", "max_samples=200", "--L", "5", "--H", "4", "--quiet"]
#: 2 ranks vs 1 process, same seed: measured max |difference| 6e-8 after 3 epochs on 300 samples.
#: Only rounding differs (see README, "Scaling out"), so a tolerance far below any score gap.
SCORE_ATOL = 1e-4


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _torchrun(nproc: int, home: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        "-m",
        "inn_core",
        "--home",
        str(home),
        *args,
    ]


def _cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "inn_core", "--home", str(home), *args]


def _only_run(store: RunStore):
    (record,) = store.list_runs()
    return record


def _scores(store: RunStore, run_id: str, epoch: int) -> dict[str, np.ndarray]:
    return store.read_arrays(run_id, f"epochs/epoch_{epoch:04d}.npz")


def _rank_pid(parent_pattern: str, rank: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if parent_pattern in cmdline and "torch.distributed.run" not in cmdline and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the launch ended early with {proc.returncode}: {proc.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.2)


# ---- in-process: the helpers -----------------------------------------------------------------


def test_shards_and_batch_rows_cover_everything_in_order():
    for size in (1, 2, 3, 5):
        worlds = [World(rank=r, size=size) for r in range(size)]
        assert np.array_equal(np.concatenate([w.shard(17) for w in worlds]), np.arange(17))
        slices = [w.batch_rows(10) for w in worlds]
        assert [s.start for s in slices] == sorted(s.start for s in slices)
        assert sum(s.stop - s.start for s in slices) == 10 and slices[-1].stop == 10
        assert max(s.stop - s.start for s in slices) - min(s.stop - s.start for s in slices) <= 1
    assert World(rank=0, size=4).batch_rows(3) is None


def test_single_world_is_the_identity():
    x = np.arange(12).reshape(6, 2)
    assert SINGLE.take(x) is x and SINGLE.gather_rows(x) is x and SINGLE.broadcast("a") == "a"
    assert SINGLE.on_main(lambda: 3) == 3
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    with global_batch_norm(net, SINGLE):
        assert "forward" not in vars(net[1])


def test_neighbours_of_a_row_subset_equal_those_rows_of_the_full_search():
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=(500, 8)), 1)
    x[7] = x[11]  # a duplicate: ties ordered by index in both forms
    full_i, full_d = nearest_neighbors(x, 6)
    rows = np.array([0, 7, 11, 250, 499])
    sub_i, sub_d = nearest_neighbors(x, 6, rows=rows)
    np.testing.assert_array_equal(sub_i, full_i[rows])
    np.testing.assert_array_equal(sub_d, full_d[rows])


def test_a_rank_that_cannot_reach_the_rendezvous_ends_with_one_line(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **_env(),
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "INN_LAB_DIST_TIMEOUT": "3",
    }
    started = time.monotonic()
    out = subprocess.run(
        _cli(tmp_path, "run", *SMALL, "--epochs", "1"), env=env, capture_output=True, text=True, timeout=90
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not join the process group at 127.0.0.1" in lines[0], out.stderr
    assert "INN_LAB_DIST_TIMEOUT" in lines[0]
    assert time.monotonic() - started < 80


# ---- torchrun launches -----------------------------------------------------------------------


#: Rank 0 of a 2-rank run whose collective loses its peer, and torchrun's SIGTERM landing while
#: the run's guard records the failure (the order the agent's monitor makes likely).
_LATE_SIGTERM = """
import os, signal, sys
from inn_core.runs.distributed import as_rank
from inn_core.runs.lifecycle import guard_run
from inn_core.runs.store import RunStore
from inn_core.method.distributed import World

store = RunStore(sys.argv[1])
run_id = store.create_run({}, name="late sigterm")
update = store.update_run

def update_after_sigterm(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    update(*args, **kwargs)

def body():
    store.update_run = update_after_sigterm
    raise RuntimeError("[gloo] Connection closed by peer [127.0.0.1]:1234")

try:
    guard_run(store, run_id, as_rank(World(rank=0, size=2), body))
except RuntimeError as exc:
    print(type(exc).__name__, exc)
"""


def test_a_late_sigterm_cannot_stop_rank_0_recording_the_lost_rank(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _LATE_SIGTERM, str(tmp_path)], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.startswith("RankStopped lost another rank of this run"), out.stdout
    record = _only_run(RunStore(tmp_path))
    assert record.status == "failed" and "another rank of this run" in record.error


@pytest.mark.slow
def test_two_ranks_match_one_process(tmp_path):
    args = ["run", *SMALL, "--epochs", "3", "--eval-epochs", "3", "--seed", "1"]
    out = subprocess.run(_torchrun(2, tmp_path / "two", *args), env=_env(), capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("clean/noisy AUC") == 1  # rank 0 alone prints
    two = RunStore(tmp_path / "two")
    record = _only_run(two)
    assert record.status == "done" and record.progress == 1.0

    one = RunStore(tmp_path / "one")
    config = ExperimentConfig(data_options={"max_samples": 200}, L=5, H=4, epochs=3, eval_epochs=(3,), seed=1)
    single = run_experiment(config, store=one)

    a, b = _scores(one, single, 3), _scores(two, record.id, 3)
    np.testing.assert_array_equal(a["neighbors"], b["neighbors"])
    for method in ("inn", "mixup_fy", "ce", "ce_ne", "deep_knn"):
        np.testing.assert_allclose(b[f"scores_{method}"], a[f"scores_{method}"], rtol=0, atol=SCORE_ATOL)
    final_one, final_two = one.read_arrays(single, "final.npz"), two.read_arrays(record.id, "final.npz")
    np.testing.assert_array_equal(final_one["neighbors"], final_two["neighbors"])
    np.testing.assert_allclose(final_two["features"], final_one["features"], rtol=0, atol=1e-3)
    assert len(two.metrics(record.id)["models"]) == 3  # rank 0 wrote the per-model records once


@pytest.mark.slow
def test_cancel_reaches_every_rank_and_a_killed_rank_leaves_the_run_resumable(tmp_path):
    home = tmp_path / "runs"
    store = RunStore(home)
    args = ["run", *SMALL, "--epochs", "12", "--eval-epochs", "12"]
    proc = subprocess.Popen(
        _torchrun(2, home, *args), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_for(lambda: store.list_runs() and store.has_file(_only_run(store).id, "checkpoint.pt"), 180, proc)
        run_id = _only_run(store).id
        store.request_cancel(run_id)  # what `python -m inn_core cancel RUN` does
        proc.wait(timeout=120)
    finally:
        proc.kill()
    output = proc.stdout.read()
    assert proc.returncode != 0
    assert output.count(f"run {run_id} cancelled") == 2, output[-3000:]  # both ranks stopped
    assert _only_run(store).status == "cancelled"

    # Resume on two ranks, then kill rank 1 once it has trained an epoch past the resume.
    epoch_at_cancel = store.read_torch(run_id, "checkpoint.pt")["epoch"]
    proc = subprocess.Popen(
        _torchrun(2, home, "resume", run_id, "--quiet"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(
            lambda: (store.read_torch(run_id, "checkpoint.pt") or {}).get("epoch", 0) > epoch_at_cancel, 180, proc
        )
        pid = _rank_pid(f"--home {home} resume", 1)
        assert pid is not None
        os.kill(pid, 9)
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0
    record = store.get_run(run_id)
    assert record.status == "failed", (record, proc.stdout.read()[-3000:])
    assert record.error and "another rank of this run" in record.error, record.error

    # A single process continues from the last checkpoint and finishes.
    checkpoint_epoch = store.read_torch(run_id, "checkpoint.pt")["epoch"]
    assert 0 < checkpoint_epoch < 12
    out = subprocess.run(
        _cli(home, "resume", run_id, "--quiet"), env=_env(), capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert store.get_run(run_id).status == "done"
    methods = {r["method"] for r in store.metrics(run_id)["methods"] if r["epoch"] == 12}
    assert methods == {"inn", "ce", "ce_ne", "deep_knn", "mixup_fy", "cleanlab"}


@pytest.mark.slow
def test_world_larger_than_the_data_ends_with_one_line(tmp_path):
    args = ["run", "--data-option", "max_samples=2", "--L", "1", "--H", "2", "--epochs", "1", "--quiet"]
    out = subprocess.run(_torchrun(3, tmp_path, *args), env=_env(), capture_output=True, text=True, timeout=240)
    assert out.returncode != 0
    assert "error: world size 3 is larger than the data (2 samples)" in out.stderr, out.stderr[-3000:]
    assert _only_run(RunStore(tmp_path)).status == "failed"


# ---- the GPU check's CPU smoke ---------------------------------------------------------------


@pytest.mark.slow
def test_gpu_check_runs_at_toy_size_on_the_cpu():
    # A subprocess, as a user runs it: the script sets torch's process-wide thread count and seed,
    # which must not leak into the tests that follow (bit-identity tests depend on the thread count).
    script = ROOT / "benchmarks" / "gpu_check.py"
    out = subprocess.run(
        [sys.executable, str(script), "--cpu-smoke", "--n", "24", "--L", "2", "--H", "1"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    printed = out.stdout
    assert "exact neighbours 24 x 512" in printed
    assert "INN scores" in printed
    assert "neighbours + INN scores <= 60 s" in printed and "n/a (n = 24, not 50,000)" in printed
    assert "clean/noisy AUC of INN" in printed
