"""The benchmark scripts still fit the engine they measure.

A benchmark is only run by hand, so an engine refactor can break one unnoticed (``bench_pipeline``
once wrapped an ``inn_scores`` the runner no longer called). These tests import every script and
check that what ``bench_pipeline`` instruments exists, and that its stopwatch adds up; running
the benchmarks themselves is left to ``benchmarks/``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import inn_core.runs.cleanlab_step as cleanlab_step
import inn_core.runs.experiment as experiment
from inn_core.method.registry import METHODS
from inn_core.method.training import Trainer
from inn_core.runs.store import RunStore

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))


def _load(path: Path):
    # The scripts import their siblings (common, own_data) as top-level modules.
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_every_benchmark_script_imports(path):
    module = _load(path)
    assert module.__doc__, f"{path.name} has no docstring saying what it measures"


def test_bench_pipeline_instruments_what_the_runner_calls():
    bench = _load(BENCHMARKS / "bench_pipeline.py")
    missing = [name for name in bench.PHASES if not callable(getattr(experiment, name, None))]
    assert not missing, f"bench_pipeline wraps names the runner no longer has: {missing}"
    assert set(bench.SCORER_PHASES) <= set(METHODS)
    assert callable(getattr(cleanlab_step, "score_with_cleanlab", None))
    assert callable(getattr(Trainer, "train_epoch", None))
    assert all(callable(getattr(RunStore, name, None)) for name in bench.STORE_METHODS)


def test_bench_pipeline_clock_times_nested_calls_once():
    bench = _load(BENCHMARKS / "bench_pipeline.py")
    clock = bench.PhaseClock("cpu")
    inner = clock.wrap("inner", lambda: time.sleep(0.05))

    def outer_body():
        time.sleep(0.05)
        inner()
        inner()

    outer = clock.wrap(bench.CLEANLAB_PHASE, outer_body)
    start = time.perf_counter()
    outer()
    wall = time.perf_counter() - start
    assert clock.calls == {bench.CLEANLAB_PHASE: 1, "inner": 2}
    assert clock.seconds["inner"] >= 0.1
    # Exclusive times: the outer phase holds its own sleep only, and the phases add up to the wall time.
    assert 0.05 <= clock.seconds[bench.CLEANLAB_PHASE] < 0.1
    assert sum(clock.seconds.values()) == pytest.approx(wall, abs=0.01)


def test_bench_pipeline_sets_each_estimate_part_beside_its_phases():
    bench = _load(BENCHMARKS / "bench_pipeline.py")
    estimate = SimpleNamespace(train_seconds=30.0, cleanlab_seconds=40.0, eval_seconds=20.0, final_seconds=1.0)
    estimate.seconds = 91.0
    seconds = {
        "training (ce)": 8.0,
        "training (ce_ne)": 9.0,
        "training (mixup)": 10.0,
        "training (ce, cleanlab folds)": 36.0,
        bench.CLEANLAB_PHASE: 2.0,
        "INN scores": 17.0,
    }
    rows = {row["part"]: row for row in bench.estimate_against(estimate, seconds, wall=90.0)}
    assert rows["training, 3 models"]["measured s"] == 27.0
    assert rows["cleanlab folds"]["measured s"] == 38.0
    assert rows["evaluations and the rest"]["measured s"] == 25.0  # the wall time's remainder
    assert rows["evaluations and the rest"]["estimated s"] == 21.0
    assert rows["total"]["estimated / measured"] == pytest.approx(91 / 90)
