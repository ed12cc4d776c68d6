"""Figure builders of the dashboard: the traces they draw and the data in them, without Streamlit."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dashboard import plots
from inn_core.views.toy import ToyConfig, ToyPoint, ToyResult


def _toy(L: int = 3, H: int = 4, with_noisy: bool = True) -> ToyResult:
    rng = np.random.default_rng(0)
    n, g = 12, 5
    points = rng.normal(size=(n, 2)).astype(np.float32)
    alphas = np.linspace(0, 1, H + 1)

    def point(index: int, noisy: bool) -> ToyPoint:
        curves = rng.uniform(size=(L, H + 1))
        areas = ((curves[:, :-1] + curves[:, 1:]) / 2).mean(axis=1)
        return ToyPoint(
            index=index,
            is_noisy=noisy,
            true_label=1 if noisy else 0,
            observed_label=0,
            neighbors=np.arange(index + 1, index + 1 + L),
            curves=curves,
            areas=areas,
            score=float(areas.mean()),
            fy=float(curves[0, 0]),
        )

    highlighted = (point(0, False), point(5, True)) if with_noisy else (point(0, False),)
    observed = np.array([0, 1] * (n // 2))
    return ToyResult(
        config=ToyConfig(L=L, H=H),
        points=points,
        true_labels=observed.copy(),
        observed_labels=observed,
        is_noisy=np.zeros(n, bool),
        label=0,
        grid_x=np.linspace(-2, 2, g),
        grid_y=np.linspace(-1, 1, g),
        surface=rng.uniform(size=(g, g)),
        highlighted=highlighted,
        alphas=alphas,
        scores=rng.uniform(size=n),
        fy=rng.uniform(size=n),
        auc_inn=0.9,
        auc_fy=0.8,
    )


def test_toy_surface_draws_heatmap_points_and_one_path_per_neighbour():
    toy = _toy(L=3)
    fig = plots.toy_surface_figure(toy)
    heatmap = fig.data[0]
    assert heatmap.type == "heatmap"
    assert_allclose(np.asarray(heatmap.z), toy.surface, atol=0)
    paths = [t for t in fig.data if t.name and " path " in t.name]
    assert len(paths) == 3 * 2
    # Each path starts at its point and ends at the neighbour numbered in order.
    clean_paths = [t for t in paths if t.name.startswith("clean")]
    for rank, trace in enumerate(clean_paths):
        assert_allclose([trace.x[0], trace.y[0]], toy.points[0], atol=1e-6)
        assert_allclose([trace.x[1], trace.y[1]], toy.points[toy.clean.neighbors[rank]], atol=1e-6)
        assert trace.marker.color == plots.toy_curves_figure(toy).data[rank].line.color
    markers = {t.name.split(" ")[0]: t.marker.symbol for t in fig.data if t.name and "point (" in t.name}
    assert markers == {"clean": "circle", "noisy": "square"}


def test_toy_curves_have_one_filled_curve_per_path_with_its_values():
    toy = _toy(L=2, H=4)
    fig = plots.toy_curves_figure(toy)
    assert len(fig.data) == 2 * 2
    for trace, curve in zip(fig.data, [*toy.clean.curves, *toy.noisy.curves]):
        assert trace.fill == "tozeroy"
        assert_allclose(np.asarray(trace.y), curve, atol=0)
        assert_allclose(np.asarray(trace.x), toy.alphas, atol=0)
    assert f"{toy.noisy.score:.2f}" in fig.layout.annotations[1].text


def test_toy_curves_without_noisy_point_have_one_panel():
    fig = plots.toy_curves_figure(_toy(L=2, with_noisy=False))
    assert len(fig.layout.annotations) == 1
    assert len(fig.data) == 2


MODELS = [
    {"epoch": 2, "model": "ce", "E_cor": 0.8, "E_inc": 0.5, "E_m_cor": 0.7, "E_m_inc": 0.2},
    {"epoch": 1, "model": "ce", "E_cor": 0.6, "E_inc": 0.2, "E_m_cor": 0.6, "E_m_inc": 0.1},
    {"epoch": 1, "model": "mixup", "E_cor": 0.1, "E_inc": 0.1, "E_m_cor": 0.1, "E_m_inc": 0.1},
]


def test_consistency_means_draws_the_four_expectations_of_one_model_in_epoch_order():
    fig = plots.consistency_means_figure(MODELS, model="ce")
    assert len(fig.data) == 4
    by_name = {t.name.split(":")[0]: t for t in fig.data}
    assert list(by_name["E_cor"].x) == [1, 2]
    assert_allclose(by_name["E_cor"].y, [0.6, 0.8], atol=0)
    assert_allclose(by_name["E^m_inc"].y, [0.1, 0.2], atol=0)
    assert by_name["E^m_cor"].line.dash == "dash"


METHODS = [
    {"epoch": 3, "method": "inn", "auc": 0.9},
    {"epoch": 1, "method": "inn", "auc": 0.8},
    {"epoch": 1, "method": "ce", "auc": 0.7},
    {"epoch": 3, "method": "ce", "auc": 0.6},
    {"epoch": 1, "method": "deep_knn", "auc": float("nan")},
]


def test_auc_figure_one_line_per_method_sorted_by_epoch():
    fig = plots.auc_figure({"a": METHODS})
    assert [t.name for t in fig.data] == ["INN", "small-loss (CE)"]
    assert list(fig.data[0].x) == [1, 3]
    assert_allclose(fig.data[0].y, [0.8, 0.9], atol=0)
    assert fig.data[0].line.color == plots.METHOD_COLORS["inn"]
    assert list(fig.layout.xaxis.tickvals) == [1, 3]


def test_auc_figure_overlays_runs_with_different_dashes_and_filters_methods():
    fig = plots.auc_figure({"first": METHODS, "second": METHODS}, methods=["inn"])
    assert [t.name for t in fig.data] == ["INN - first", "INN - second"]
    assert fig.data[0].line.dash != fig.data[1].line.dash
    assert fig.data[0].line.color == fig.data[1].line.color


def test_auc_figure_without_auc_is_empty():
    assert len(plots.auc_figure({"a": [{"epoch": 1, "method": "inn", "n_flagged": 3}]}).data) == 0


def test_score_histogram_groups_counts_and_mixture_scaled_to_counts():
    scores = np.array([0.1, 0.2, 0.8, 0.9, 0.95])
    groups = np.array([1, 1, 0, 0, 0])
    grid = np.linspace(0, 1, 5)
    pdf = np.stack([np.full(5, 1.0), np.full(5, 2.0)], axis=1)
    fig = plots.score_histogram_figure(scores, groups, ("clean", "noisy"), grid=grid, pdf=pdf, threshold=0.5, bins=10)
    hists = [t for t in fig.data if t.type == "histogram"]
    assert [t.name for t in hists] == ["clean (3)", "noisy (2)"]
    assert_allclose(np.asarray(hists[0].x), [0.8, 0.9, 0.95], atol=0)
    assert [t.marker.color for t in hists] == list(plots.GROUP_COLORS[2])
    mixture = next(t for t in fig.data if t.name == "Beta mixture")
    names = [t.name for t in fig.data]
    # The components are drawn over the mixture, so neither hides under it.
    assert names.index("Beta mixture") < names.index("Beta mixture: noisy component")
    # Scores span [0.1, 0.95]: 10 bins over [0.1, 0.95] are 0.085 wide.
    assert_allclose(np.asarray(mixture.y), np.full(5, 3.0 * 5 * 0.085), atol=1e-12)
    assert hists[0].xbins.start == pytest.approx(0.1) and hists[0].xbins.size == pytest.approx(0.085)
    assert fig.layout.shapes[0].x0 == pytest.approx(0.5)
    assert fig.layout.barmode == "stack"


def test_score_histogram_four_groups_use_figure_6_colours_and_no_line_without_threshold():
    scores = np.linspace(0, 1, 8)
    fig = plots.score_histogram_figure(
        scores, np.arange(8) % 4, ("a", "b", "c", "d"), grid=np.linspace(0, 1, 3), pdf=np.ones((3, 2))
    )
    assert [t.marker.color for t in fig.data if t.type == "histogram"] == list(plots.GROUP_COLORS[4])
    assert len(fig.layout.shapes) == 0


def test_transition_matrix_heatmap_rows_are_true_labels():
    matrix = np.array([[0.8, 0.2], [0.0, 1.0]])
    fig = plots.transition_matrix_figure(matrix, ["cat", "dog"], counts=np.array([[8, 2], [0, 10]]))
    heat = fig.data[0]
    assert_allclose(np.asarray(heat.z), matrix, atol=0)
    assert list(heat.y) == ["cat", "dog"] and list(heat.x) == ["cat", "dog"]
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.yaxis.title.text == "true label"


def test_ablation_figure_has_category_axes_and_an_auc_axis_ending_at_1():
    rows = [
        {"group": "rule", "value": "trapezoid", "auc": 0.99},
        {"group": "rule", "value": "midpoint", "auc": 0.97},
        *({"group": "L", "value": v, "auc": 0.9 + v / 1000} for v in (1, 5, 10, 20)),
    ]
    fig = plots.ablation_figure(rows)
    assert [list(trace.x) for trace in fig.data] == [["trapezoid", "midpoint"], ["1", "5", "10", "20"]]
    assert fig.layout.xaxis.type == "category" and fig.layout.xaxis2.type == "category"
    assert tuple(fig.layout.yaxis.range) == pytest.approx((0.851, 1.0))
