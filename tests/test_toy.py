"""The 2-D consistency toy, the demo run's metrics and a run's score split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from inn_core.data.noise import NoiseSpec
from inn_core.errors import InputError
from inn_core.method.metrics import flag_metrics
from inn_core.runs.experiment import ExperimentConfig
from inn_core.runs.store import RunStore
from inn_core.views.demo import DEMO_FILES, load_demo, write_demo_assets
from inn_core.views.score_split import IMBALANCED_GROUPS, score_split
from inn_core.views.toy import ToyConfig, consistency_toy, toy_summary

SMALL = ToyConfig(noise_rate=0.3, L=4, H=5, epochs=15, n_samples=90, grid_size=12, seed=1)


@pytest.fixture(scope="module")
def toy():
    return consistency_toy(SMALL)


# --------------------------------------------------------------------------- toy


@pytest.mark.parametrize(
    "kwargs",
    [
        {"noise_rate": 0.95},
        {"noise_rate": -0.1},
        {"L": 0},
        {"H": 0},
        {"epochs": 0},
        {"n_samples": 10},
        {"grid_size": 5},
        {"spread": 0.0},
        {"seed": -1},
        {"objective": "ce_ne"},
        {"L": True},
    ],
)
def test_toy_config_rejects_bad_values(kwargs):
    with pytest.raises(InputError):
        ToyConfig(**kwargs)


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=-2, max_value=2, allow_nan=False))
def test_toy_config_accepts_exactly_rates_in_0_to_0_9(rate):
    if 0 <= rate <= 0.9:
        assert ToyConfig(noise_rate=rate).noise_rate == rate
    else:
        with pytest.raises(InputError, match="noise_rate"):
            ToyConfig(noise_rate=rate)


def test_toy_shapes_and_ranges(toy):
    n, g = SMALL.n_samples, SMALL.grid_size
    assert toy.points.shape == (n, 2)
    assert toy.surface.shape == (g, g) and toy.grid_x.shape == (g,) and toy.grid_y.shape == (g,)
    assert np.all((toy.surface >= 0) & (toy.surface <= 1))
    assert_allclose(toy.alphas, np.linspace(0, 1, SMALL.H + 1), atol=0)
    assert toy.is_noisy.sum() > 0
    np.testing.assert_array_equal(toy.is_noisy, toy.observed_labels != toy.true_labels)
    assert 0 <= toy.auc_inn <= 1 and 0 <= toy.auc_fy <= 1


def test_toy_highlights_a_clean_and_a_noisy_point_of_the_shown_label(toy):
    clean, noisy = toy.clean, toy.noisy
    assert not clean.is_noisy and noisy.is_noisy
    for p in (clean, noisy):
        assert p.observed_label == toy.label == toy.observed_labels[p.index]
        assert p.true_label == toy.true_labels[p.index]
    # The noisy point is the wrongly labelled one of that label that the model fits best.
    candidates = np.flatnonzero(toy.is_noisy & (toy.observed_labels == toy.label))
    assert toy.fy[noisy.index] == pytest.approx(toy.fy[candidates].max())


def test_toy_neighbours_are_the_nearest_other_points(toy):
    for p in toy.highlighted:
        distances = np.linalg.norm(toy.points - toy.points[p.index], axis=1)
        distances[p.index] = np.inf
        assert p.index not in p.neighbors
        assert_allclose(np.sort(distances[p.neighbors]), np.sort(distances)[: SMALL.L], rtol=1e-6)


def test_toy_curves_start_at_the_point_and_areas_give_the_inn_score(toy):
    for p in toy.highlighted:
        assert p.curves.shape == (SMALL.L, SMALL.H + 1)
        assert_allclose(p.curves[:, 0], p.fy, atol=1e-6)
        assert_allclose(p.areas, np.trapezoid(p.curves, toy.alphas, axis=1), atol=1e-6)
        assert p.score == pytest.approx(p.areas.mean(), abs=1e-6)
        assert p.score == pytest.approx(toy.scores[p.index], abs=1e-6)


def test_toy_surface_covers_the_points_and_spans_their_f_y(toy):
    assert toy.surface.min() - 1e-6 <= toy.clean.fy <= toy.surface.max() + 1e-6
    assert toy.grid_x[0] < toy.points[:, 0].min() and toy.grid_x[-1] > toy.points[:, 0].max()


def test_toy_is_deterministic(toy):
    again = consistency_toy(SMALL)
    assert_allclose(again.surface, toy.surface, atol=0)
    assert [p.index for p in again.highlighted] == [p.index for p in toy.highlighted]


def test_toy_without_noise_has_only_the_clean_point():
    result = consistency_toy(ToyConfig(noise_rate=0.0, L=3, H=2, epochs=3, n_samples=60, grid_size=10))
    assert result.noisy is None and len(result.highlighted) == 1
    assert np.isnan(result.auc_inn)


@pytest.fixture(scope="module")
def default_toys():
    return {objective: consistency_toy(ToyConfig(objective=objective)) for objective in ("ce", "mixup")}


def test_toy_at_defaults_shows_the_consistency_effect(default_toys):
    # The CE network memorises the noisy point's wrong label, yet f_y falls along its paths.
    ce = default_toys["ce"]
    assert ToyConfig().objective == "ce"
    assert ce.noisy.fy >= 0.8
    assert ce.noisy.score <= 0.5
    assert ce.clean.score >= 0.8 and ce.clean.fy >= 0.8
    # The island: the surface cell nearest the square predicts its wrong label.
    x, y = ce.points[ce.noisy.index]
    assert ce.surface[np.abs(ce.grid_y - y).argmin(), np.abs(ce.grid_x - x).argmin()] >= 0.5


def test_toy_mixup_is_smoother_than_ce(default_toys):
    ce, mixup = default_toys["ce"], default_toys["mixup"]

    def roughness(surface):
        return np.abs(np.diff(surface, axis=0)).mean() + np.abs(np.diff(surface, axis=1)).mean()

    assert roughness(mixup.surface) < roughness(ce.surface)
    assert mixup.noisy.fy < ce.noisy.fy


def test_toy_records_figure_2_over_training(default_toys):
    means = default_toys["ce"].means
    assert set(means) == {"epochs", "E_cor", "E_inc", "Em_cor", "Em_inc"}
    assert means["epochs"][-1] == ToyConfig().epochs and (np.diff(means["epochs"]) > 0).all()
    assert all(len(means[k]) == len(means["epochs"]) for k in means)
    # While the CE network memorises, the point means draw together more than the midpoint means.
    assert means["E_inc"][-1] > means["E_inc"][0]
    assert means["Em_cor"][-1] - means["Em_inc"][-1] > means["E_cor"][-1] - means["E_inc"][-1]


def test_toy_summary_has_the_documented_schema(default_toys):
    summary = toy_summary(default_toys["ce"])
    assert set(summary["clean_point"]) == set(summary["noisy_point"]) == {"fy_at_point", "inn_score"}
    assert set(summary["means"]) == {"E_cor", "E_inc", "Em_cor", "Em_inc", "epochs"}
    assert set(summary["auc"]) == {"inn", "fy"}
    assert summary["noisy_point"]["fy_at_point"] == pytest.approx(default_toys["ce"].noisy.fy, abs=1e-6)
    json.dumps(summary)


# --------------------------------------------------------------------------- demo run


def test_load_demo_prefers_a_finished_demo_run_in_the_store(tiny_store, tmp_path):
    store, run_id = tiny_store
    assert load_demo(store, assets_dir=tmp_path / "none") is None
    store.update_run(run_id, name="demo")
    demo = load_demo(store, assets_dir=tmp_path / "none")
    assert demo.source == "store" and demo.run_id == run_id
    assert demo.metrics == store.metrics(run_id)
    assert demo.config["L"] == 5


def test_load_demo_falls_back_to_the_shipped_files(tiny_store, tmp_path):
    store, run_id = tiny_store
    for name in DEMO_FILES:
        (tmp_path / name).write_text((store.run_dir(run_id) / name).read_text())
    demo = load_demo(RunStore(tmp_path / "empty"), assets_dir=tmp_path)
    assert demo.source == "assets" and demo.run_id is None
    assert demo.metrics == store.metrics(run_id)
    assert demo.data["n"] == 200


def test_write_demo_assets_copies_the_runs_files(tmp_path):
    config = ExperimentConfig(
        dataset="digits", data_options={"max_samples": 60}, epochs=1, eval_epochs=(1,), L=3, H=1, device="cpu"
    )
    store = RunStore(tmp_path / "runs")
    out = write_demo_assets(tmp_path / "demo", store=store, config=config)
    assert out == tmp_path / "demo"
    (run,) = store.list_runs()
    assert run.name == "demo" and run.status == "done"
    for name in DEMO_FILES:
        assert json.loads((out / name).read_text()) == store.read_json(run.id, name)
    assert load_demo(store).run_id == run.id


# --------------------------------------------------------------------------- score split


def test_score_split_of_a_run_matches_its_stored_flags_and_metrics(tiny_store):
    store, run_id = tiny_store
    labels = store.read_arrays(run_id, "labels.npz")
    result = score_split(store, run_id, method="inn", epoch=1)
    stored = store.epoch_scores(run_id, 1)
    np.testing.assert_array_equal(result.flagged, stored["posterior_inn"] < 0.5)
    np.testing.assert_array_equal(result.groups, labels["is_noisy"].astype(int))
    assert result.group_names == ("clean", "noisy")
    record = next(r for r in store.metrics(run_id)["methods"] if r["epoch"] == 1 and r["method"] == "inn")
    assert result.precision == pytest.approx(record["precision"]) and result.recall == pytest.approx(record["recall"])
    assert result.n_flagged == record["n_flagged"]
    assert result.pdf.shape == (result.grid.size, 2) and np.all(result.pdf >= 0)
    if result.threshold is not None:
        assert 0 <= result.threshold <= 1


def test_score_split_normalises_small_loss_scores(tiny_store):
    store, run_id = tiny_store
    result = score_split(store, run_id, method="ce")
    assert result.epoch == 3
    assert result.scores.min() == pytest.approx(0.0) and result.scores.max() == pytest.approx(1.0)


def test_score_split_rejects_unknown_method_and_epoch(tiny_store):
    store, run_id = tiny_store
    with pytest.raises(InputError, match="unknown method"):
        score_split(store, run_id, method="magic")
    with pytest.raises(InputError, match="not at 2"):
        score_split(store, run_id, epoch=2)


def _fake_run(store: RunStore, *, kind: str, known: bool, true, observed, scores) -> str:
    noise = NoiseSpec.imbalanced() if kind == "imbalanced" else NoiseSpec("none")
    run_id = store.create_run({"dataset": "digits", "noise": noise.to_dict()})
    true, observed = np.asarray(true), np.asarray(observed)
    store.write_arrays(
        run_id,
        "labels.npz",
        observed=observed,
        true=true,
        indices=np.arange(true.size),
        is_noisy=(true != observed) if known else np.zeros(0, bool),
    )
    store.write_json(run_id, "data.json", {"labels_known": known})
    store.write_arrays(
        run_id,
        "epochs/epoch_0002.npz",
        scores_inn=np.asarray(scores, np.float32),
        posterior_inn=np.asarray(scores, np.float32),
    )
    return run_id


def test_score_split_uses_figure_6_groups_for_imbalanced_runs(tmp_path):
    store = RunStore(tmp_path)
    true = np.array([0, 0, 1, 1] * 5)
    observed = np.array([0, 1, 1, 0] * 5)
    run_id = _fake_run(
        store, kind="imbalanced", known=True, true=true, observed=observed, scores=np.linspace(0.05, 0.95, 20)
    )
    result = score_split(store, run_id)
    assert result.group_names == IMBALANCED_GROUPS
    np.testing.assert_array_equal(result.groups, np.array([0, 1, 2, 3] * 5))
    flags = flag_metrics(result.flagged, true != observed)
    assert result.precision == flags["precision"]


def test_score_split_without_known_truth_has_one_group_and_no_precision(tmp_path):
    store = RunStore(tmp_path)
    run_id = _fake_run(
        store,
        kind="none",
        known=False,
        true=np.zeros(12, int),
        observed=np.zeros(12, int),
        scores=np.linspace(0, 1, 12),
    )
    result = score_split(store, run_id)
    assert result.group_names == ("all samples",)
    assert result.precision is None and result.recall is None
    np.testing.assert_array_equal(result.groups, np.zeros(12))


def test_score_split_needs_an_evaluated_epoch(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run({"dataset": "digits"})
    with pytest.raises(InputError, match="no evaluated epoch"):
        score_split(store, run_id)


def test_imbalanced_groups_are_named_by_the_chosen_classes(tmp_path):
    store = RunStore(tmp_path)
    true, observed = np.array([0, 0, 1, 1] * 5), np.array([0, 1, 1, 0] * 5)
    run_id = _fake_run(
        store, kind="imbalanced", known=True, true=true, observed=observed, scores=np.linspace(0.05, 0.95, 20)
    )
    store.write_json(run_id, "data.json", {"labels_known": True, "class_names": ["3", "8"]})
    assert score_split(store, run_id).group_names == (
        "(y*, y) = (3, 3)",
        "(y*, y) = (3, 8)",
        "(y*, y) = (8, 8)",
        "(y*, y) = (8, 3)",
    )
