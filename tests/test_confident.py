import dataclasses

import numpy as np
import pytest
import torch
from conftest import TINY_CONFIG
from numpy.testing import assert_allclose, assert_array_equal

from inn_core.data.noise import NoiseSpec
from inn_core.errors import InputError
from inn_core.method.confident import (
    find_label_issues_mask,
    fold_indices,
    out_of_fold_probabilities,
    self_confidence_scores,
)
from inn_core.method.models import create_model
from inn_core.method.training import TrainConfig
from inn_core.runs.experiment import ExperimentConfig, run_experiment
from inn_core.runs.store import RunStore


@pytest.fixture(scope="module")
def fixture_probs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 300)
    pred_probs = rng.dirichlet(np.ones(4) * 0.7, size=300)
    return labels, pred_probs


def test_self_confidence_equals_cleanlab(fixture_probs):
    from cleanlab.rank import get_label_quality_scores

    labels, pred_probs = fixture_probs
    expected = get_label_quality_scores(labels, pred_probs, method="self_confidence")
    assert_allclose(self_confidence_scores(labels, pred_probs), expected, rtol=0, atol=1e-12)


def test_find_label_issues_mask_is_cleanlabs(fixture_probs):
    from cleanlab.filter import find_label_issues

    labels, pred_probs = fixture_probs
    mask = find_label_issues_mask(labels, pred_probs)
    assert mask.dtype == bool and 0 < mask.sum() < labels.size
    assert_array_equal(mask, find_label_issues(labels, pred_probs))


def test_self_confidence_rejects_bad_shapes():
    with pytest.raises(InputError, match=r"\(n, K\)"):
        self_confidence_scores(np.zeros(3, int), np.zeros((4, 2)))
    with pytest.raises(InputError, match="must lie in"):
        self_confidence_scores(np.array([0, 2]), np.full((2, 2), 0.5))


def test_folds_are_disjoint_cover_and_stratify():
    labels = np.repeat(np.arange(3), 20)
    folds = fold_indices(labels, 5, random_state=0)
    assert len(folds) == 5
    assert_array_equal(np.sort(np.concatenate(folds)), np.arange(60))
    for held in folds:
        assert_array_equal(np.bincount(labels[held], minlength=3), [4, 4, 4])
    with pytest.raises(InputError, match="folds must be"):
        fold_indices(labels, 1, random_state=0)


def test_out_of_fold_probabilities_resume_and_determinism():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 30)
    x = torch.from_numpy((rng.normal(size=(60, 2)) + 3 * labels[:, None]).astype(np.float32))
    config = TrainConfig(epochs=3, batch_size=16, lr=0.1)

    def make(k):
        return create_model("mlp", num_classes=2, in_channels=2, image_size=None, seed=k)

    seen = []
    probs = out_of_fold_probabilities(
        make, x, labels, config, folds=3, num_classes=2, device="cpu", on_fold=lambda k, p: seen.append(k)
    )
    assert probs.shape == (60, 2) and seen == [0, 1, 2]
    assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert (probs[np.arange(60), labels] > 0.5).mean() > 0.8  # separable blobs, predicted out of fold
    held = fold_indices(labels, 3, random_state=0)
    again = []
    resumed = out_of_fold_probabilities(
        make,
        x,
        labels,
        config,
        folds=3,
        num_classes=2,
        device="cpu",
        done={0: probs[held[0]]},
        on_fold=lambda k, p: again.append(k),
    )
    assert again == [1, 2]
    assert_array_equal(resumed, probs)


def test_experiment_scores_cleanlab_once_and_can_turn_it_off(tmp_path):
    store = RunStore(tmp_path)
    run_id = run_experiment(dataclasses.replace(TINY_CONFIG, cleanlab_folds=2, eval_epochs=(1, 3)), store=store)
    records = [r for r in store.metrics(run_id)["methods"] if r["method"] == "cleanlab"]
    assert [r["epoch"] for r in records] == [3] and 0 <= records[0]["auc"] <= 1
    (record,) = records
    issues = store.epoch_scores(run_id, 3)["issues_cleanlab"]
    assert record["folds"] == 2 and record["n_issues_cleanlab"] == int(issues.sum())
    assert record["fold_epochs"] == 1  # a quarter of TINY_CONFIG's 3 epochs, rounded up
    assert {"precision", "recall", "f1", "precision_at_noisy", "recall_cleanlab_filter"} <= set(record)
    assert "scores_cleanlab" not in store.epoch_scores(run_id, 1)
    assert store.has_file(run_id, "cleanlab_folds.npz")
    off = run_experiment(dataclasses.replace(TINY_CONFIG, cleanlab_folds=0), store=store)
    assert not any(r["method"] == "cleanlab" for r in store.metrics(off)["methods"])
    with pytest.raises(InputError, match="cleanlab_folds"):
        ExperimentConfig(cleanlab_folds=1)


def test_fold_models_train_a_quarter_of_the_run_half_for_own_images():
    config = ExperimentConfig(epochs=40)
    assert config.cleanlab_epochs is None and config.fold_epochs == 10
    fold = config.cleanlab_config()
    assert fold.objective == "ce" and fold.epochs == 10
    assert (fold.lr, fold.batch_size, fold.lr_milestones) == (config.lr, config.batch_size, config.lr_milestones)
    # Derived, not stored: a shorter run keeps the quarter, an explicit value wins and survives the store.
    assert dataclasses.replace(config, epochs=13, eval_epochs=(13,)).fold_epochs == 4
    assert ExperimentConfig(epochs=2).fold_epochs == 1
    # Own images: half of their step-counted schedule (a quarter undertrains them; see cleanlab_step).
    assert ExperimentConfig(dataset="csv", data_root="labels.csv", epochs=16, noise=NoiseSpec("none")).fold_epochs == 8
    explicit = ExperimentConfig(epochs=40, cleanlab_epochs=25)
    assert ExperimentConfig.from_dict(explicit.to_dict()).fold_epochs == 25
    with pytest.raises(InputError, match="cleanlab_epochs"):
        ExperimentConfig(cleanlab_epochs=0)
