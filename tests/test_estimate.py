"""The run-time estimate (a real calibration on the CPU) and the own-data schedule counted in steps."""

from __future__ import annotations

import dataclasses
import math

import pytest

from inn_core.data.noise import NoiseSpec
from inn_core.runs.estimate import LONG_RUN_SECONDS, calibrate, estimate_run, format_duration
from inn_core.runs.experiment import ExperimentConfig
from inn_core.runs.schedule import OWN_DATA_MAX_EPOCHS, OWN_DATA_MIN_EPOCHS, OWN_DATA_STEPS, own_data_epochs

CONFIG = ExperimentConfig(
    dataset="digits",
    data_options={"max_samples": 200},
    noise=NoiseSpec("symmetric", 0.4),
    epochs=4,
    eval_epochs=(2, 4),
    L=5,
    H=3,
    device="cpu",
)


@pytest.fixture(scope="module")
def cal():
    return calibrate(CONFIG)


def test_estimate_adds_up_its_parts_and_scales_with_the_schedule(cal):
    est = estimate_run(CONFIG, calibration=cal)
    assert est.model == "small_cnn" and est.n == 200 and est.device == "cpu"
    assert est.steps == 4 * math.ceil(200 / 64)
    assert est.step_seconds > 0 and est.score_seconds > 0
    assert est.seconds == pytest.approx(est.train_seconds + est.eval_seconds + est.cleanlab_seconds + est.final_seconds)
    assert est.train_seconds == pytest.approx(3 * est.steps * est.step_seconds)
    # cleanlab's K fold models train a quarter of the epochs (here 1 of 4) on (K - 1) / K of the data each.
    fold_training = 5 * 1 * math.ceil(160 / 64) * est.step_seconds
    assert CONFIG.fold_epochs == 1 and est.folds == 5
    assert est.cleanlab_seconds == pytest.approx(fold_training + 200 * cal.forward_seconds)  # + held-out predictions
    full_folds = estimate_run(dataclasses.replace(CONFIG, cleanlab_epochs=4), calibration=cal)
    assert full_folds.cleanlab_seconds - est.cleanlab_seconds == pytest.approx(3 * fold_training)
    assert "5 cleanlab fold models" in est.describe()
    off = estimate_run(dataclasses.replace(CONFIG, cleanlab_folds=0), calibration=cal)
    assert off.cleanlab_seconds == 0 and off.seconds == pytest.approx(est.seconds - est.cleanlab_seconds)
    longer = estimate_run(dataclasses.replace(CONFIG, epochs=40, eval_epochs=(20, 40)), calibration=cal)
    assert longer.train_seconds == pytest.approx(10 * est.train_seconds)
    assert longer.eval_seconds == pytest.approx(est.eval_seconds)
    assert "estimated time: about" in est.describe() and "small_cnn at 8 px on cpu" in est.describe()
    assert not est.long and est.advice() == []


def test_a_long_run_says_so_and_offers_faster_routes(cal):
    huge = dataclasses.replace(CONFIG, epochs=200_000, eval_epochs=tuple(range(1000, 200_001, 1000)))
    est = estimate_run(huge, calibration=cal)
    assert est.long and est.seconds > LONG_RUN_SECONDS
    advice = est.advice()
    assert advice[0].startswith("this run is long") and any("--epochs" in line for line in advice)
    assert any("embeddings" in line for line in advice)
    fewer = [s for what, flags, s in est.faster if flags.startswith("--epochs")]
    assert fewer and fewer[0] < est.seconds
    assert "--epochs" not in "".join(est.advice(cli=False))
    assert any(flags == "--cleanlab-folds 0" for _, flags, _ in est.faster)


def test_format_duration():
    assert format_duration(42) == "42 s"
    assert format_duration(190) == "3 min 10 s"
    assert format_duration(2 * 3600 + 5 * 60) == "2 h 05 min"


def test_own_data_epochs_count_steps():
    assert own_data_epochs(5000, 64) == math.ceil(OWN_DATA_STEPS / 79)
    assert own_data_epochs(100, 64) == OWN_DATA_MAX_EPOCHS  # 2 steps an epoch: capped
    assert own_data_epochs(10_000_000, 64) == OWN_DATA_MIN_EPOCHS
