"""Tests for inn_core.runs.experiment: configuration, a tiny end-to-end run, cancel/resume and kill -9."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import TINY_CONFIG, resume_in_fresh_process
from inn_core.data.noise import NoiseSpec
from inn_core.errors import InputError
from inn_core.runs.experiment import (
    METHODS,
    Cancelled,
    ExperimentConfig,
    load_model,
    prepare_data,
    resume_experiment,
    run_experiment,
)
from inn_core.runs.store import RunStore

SHORT = dataclasses.replace(TINY_CONFIG, epochs=4, eval_epochs=(2, 4), name="short")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "mnist"}, "unknown dataset 'mnist'"),
        ({"model": "vgg"}, "unknown model 'vgg'"),
        ({"L": 0}, "L .* at least 1"),
        ({"H": 0}, "H .* at least 1"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"epochs": 5, "eval_epochs": (0, 6)}, r"evaluation epochs must lie in 1..5"),
        ({"feature_model": "dino"}, "feature_model must be one of"),
        ({"lr": -1.0}, "learning rate must be positive"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        ExperimentConfig(**kwargs)


def test_config_defaults_and_round_trip():
    config = ExperimentConfig()
    assert (config.dataset, config.epochs, config.batch_size, config.lr, config.weight_decay) == (
        "digits",
        40,
        64,
        0.1,
        0.0,
    )
    assert config.eval_epochs == (5, 10, 15, 20, 25, 30, 35, 40)
    assert config.noise == NoiseSpec("symmetric", 0.4)
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    with pytest.raises(InputError, match="unknown experiment setting 'colour'"):
        ExperimentConfig.from_dict({"colour": "red"})


def test_prepare_data_validates_against_the_data():
    with pytest.raises(InputError, match="L = 50 neighbours needs more than 50 training samples"):
        prepare_data(dataclasses.replace(TINY_CONFIG, data_options={"max_samples": 30}, L=50))
    with pytest.raises(InputError, match="class"):
        prepare_data(dataclasses.replace(TINY_CONFIG, noise=NoiseSpec("asymmetric", 0.4, mapping=((3, 12),))))
    with pytest.raises(InputError, match="cifar"):
        prepare_data(ExperimentConfig(dataset="cifar10", data_root="/nonexistent/cifar"))


def test_prepare_data_imbalanced_keeps_two_classes():
    run = prepare_data(
        dataclasses.replace(TINY_CONFIG, data_options={}, noise=NoiseSpec.imbalanced(classes=(3, 8), rate=0.3))
    )
    assert run.num_classes == 2
    assert set(np.unique(run.true_labels)) == {0, 1}
    assert (run.true_labels == 0).sum() > 5 * (run.true_labels == 1).sum()
    assert set(np.unique(run.test_labels)) == {0, 1}
    assert run.data.class_names == ("3", "8")


def test_tiny_run_stores_everything_it_promises(tiny_run_home):
    home, run_id = tiny_run_home
    store = RunStore(home)
    record = store.get_run(run_id)
    assert record.status == "done" and record.progress == 1.0
    metrics = store.metrics(run_id)
    # cleanlab scores once, at the last evaluation epoch (K fold models trained to the end).
    assert {(r["epoch"], r["method"]) for r in metrics["methods"]} == (
        {(e, m) for e in (1, 3) for m in METHODS if m != "cleanlab"} | {(3, "cleanlab")}
    )
    assert all(0.0 <= r["auc"] <= 1.0 for r in metrics["methods"])
    assert {(r["epoch"], r["model"]) for r in metrics["models"]} == {
        (e, m) for e in (1, 3) for m in ("ce", "ce_ne", "mixup")
    }
    assert all({"E_cor", "E_inc", "E_m_cor", "E_m_inc", "test_accuracy"} <= set(r) for r in metrics["models"])
    final = store.read_arrays(run_id, "final.npz")
    n = store.read_json(run_id, "data.json")["n"]
    assert final["neighbors"].shape == (n, 5) and final["proba"].shape == (n, 10)
    scores = store.epoch_scores(run_id, 3)
    assert scores["scores_inn"].min() >= 0 and scores["scores_inn"].max() <= 1
    assert scores["proba_cleanlab"].shape == (n, 10) and scores["issues_cleanlab"].dtype == bool
    np.testing.assert_allclose(
        scores["scores_cleanlab"],
        scores["proba_cleanlab"][np.arange(n), store.read_arrays(run_id, "labels.npz")["observed"]],
    )
    assert load_model(store, run_id, "mixup").training is False


def _compare_runs(store, a, b):
    assert store.metrics(a) == store.metrics(b)
    for name in ("final.npz", "epochs/epoch_0004.npz"):
        left, right = store.read_arrays(a, name), store.read_arrays(b, name)
        assert left.keys() == right.keys()
        for key in left:
            np.testing.assert_array_equal(left[key], right[key], err_msg=f"{name}:{key}")


def test_cancel_then_resume_equals_uninterrupted(tmp_path):
    store = RunStore(tmp_path)
    straight = run_experiment(SHORT, store=store)
    epochs_seen = []

    def stop_after_epoch_3(progress):
        epochs_seen.append(progress.epoch)

    with pytest.raises(Cancelled):
        run_experiment(
            SHORT,
            store=store,
            callbacks=[stop_after_epoch_3],
            should_stop=lambda: bool(epochs_seen) and epochs_seen[-1] >= 3,
        )
    [interrupted] = [r for r in store.list_runs() if r.id != straight]
    assert interrupted.status == "cancelled"
    assert store.read_torch(interrupted.id, "checkpoint.pt")["epoch"] == 3
    assert not store.has_file(interrupted.id, "final.npz")  # not done, not pretending to be
    resume_experiment(store, interrupted.id)
    assert store.get_run(interrupted.id).status == "done"
    _compare_runs(store, straight, interrupted.id)
    with pytest.raises(InputError, match="already done"):
        resume_experiment(store, interrupted.id)


def test_same_seed_same_scores(tmp_path):
    store = RunStore(tmp_path)
    a = run_experiment(dataclasses.replace(SHORT, epochs=2, eval_epochs=(2,)), store=store)
    b = run_experiment(dataclasses.replace(SHORT, epochs=2, eval_epochs=(2,)), store=store)
    c = run_experiment(dataclasses.replace(SHORT, epochs=2, eval_epochs=(2,), seed=1), store=store)
    np.testing.assert_array_equal(store.epoch_scores(a, 2)["scores_inn"], store.epoch_scores(b, 2)["scores_inn"])
    assert not np.array_equal(store.epoch_scores(a, 2)["scores_inn"], store.epoch_scores(c, 2)["scores_inn"])


def test_failed_run_records_the_reason(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(InputError):
        run_experiment(dataclasses.replace(TINY_CONFIG, data_options={"max_samples": 30}, L=50), store=store)
    [record] = store.list_runs()
    assert record.status == "failed"
    assert "L = 50" in record.error


@pytest.mark.slow
def test_kill_9_then_resume_equals_uninterrupted(tmp_path):
    store = RunStore(tmp_path)
    config = dataclasses.replace(SHORT, epochs=6, eval_epochs=(2, 4, 6))
    straight = store.create_run(config.to_dict(), name="straight")
    resume_in_fresh_process(tmp_path, straight)
    victim = store.create_run(config.to_dict(), name="victim")
    # Same thread count as this process (conftest runs tests single-threaded): float reductions, and so
    # bit-identical results, depend on it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "inn_core", "--home", str(tmp_path), "resume", victim, "--quiet"],
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        checkpoint = store.read_torch(victim, "checkpoint.pt") if store.has_file(victim, "checkpoint.pt") else None
        if checkpoint is not None and checkpoint["epoch"] >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    record = [r for r in store.list_runs() if r.id == victim][0]
    assert record.status == "failed" and "resume" in record.error  # not shown as done
    assert not store.has_file(victim, "final.npz")
    resume_in_fresh_process(tmp_path, victim)
    for name in ("final.npz", "epochs/epoch_0006.npz"):
        left, right = store.read_arrays(straight, name), store.read_arrays(victim, name)
        for key in left:
            np.testing.assert_array_equal(left[key], right[key], err_msg=f"{name}:{key}")
    assert store.metrics(straight) == store.metrics(victim)


@pytest.mark.parametrize("stop_at_call", [5, 9])
def test_cancel_between_batches_then_resume_equals_uninterrupted(tmp_path, stop_at_call):
    """Cancel is seen inside an epoch (between batches); the checkpoint keeps the epoch's progress."""
    store = RunStore(tmp_path)
    config = dataclasses.replace(SHORT, batch_size=32)
    straight = run_experiment(config, store=store)
    calls = []

    def stop_on_call():
        calls.append(1)
        return len(calls) >= stop_at_call

    with pytest.raises(Cancelled):
        run_experiment(config, store=store, should_stop=stop_on_call)
    [interrupted] = [r for r in store.list_runs() if r.id != straight]
    checkpoint = store.read_torch(interrupted.id, "checkpoint.pt")
    assert interrupted.status == "cancelled"
    assert any("partial" in state for state in checkpoint["trainers"].values()), "stopped only at an epoch's end"
    resume_experiment(store, interrupted.id)
    _compare_runs(store, straight, interrupted.id)
