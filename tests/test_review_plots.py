"""Plot builders of the Review and Embedding pages, without Streamlit."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image

from dashboard.review_plots import OTHER, SAME, color_modes, embedding_figure, paths_figure


def sample_table(n: int = 12, *, truth: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    observed = np.arange(n) % 3
    table = pd.DataFrame(
        {
            "index": np.arange(n),
            "observed_label": observed,
            "observed_name": [f"c{k}" for k in observed],
            "predicted_name": [f"c{(k + 1) % 3}" for k in observed],
            "score": rng.uniform(size=n),
            "flagged": np.arange(n) % 4 == 0,
        }
    )
    if truth:
        table["true_name"] = table["observed_name"]
        table["is_noisy"] = np.arange(n) % 5 == 0
    return table


def test_paths_figure_has_a_strip_and_a_curve_per_neighbour():
    alphas = np.linspace(0, 1, 4)
    curves = np.array([[0.9, 0.8, 0.7, 0.6], [0.9, 0.5, 0.2, 0.1]])
    areas = ((curves[:, 1:] + curves[:, :-1]) / 2).mean(axis=1)
    strips = [np.full((8, 35), 30 * (l + 1), dtype=np.uint8) for l in range(2)]
    fig = paths_figure(
        alphas,
        curves,
        areas,
        neighbors=np.array([7, 3]),
        neighbor_names=["a", "b"],
        same_label=np.array([True, False]),
        strips=strips,
    )
    images = [t for t in fig.data if t.type == "image"]
    lines = [t for t in fig.data if t.type == "scatter"]
    assert len(images) == len(lines) == 2
    assert_allclose(lines[1].y, curves[1], rtol=0, atol=1e-12)
    assert [t.line.color for t in lines] == [SAME, OTHER]
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(images[0].source.split(",", 1)[1]))))
    assert decoded.shape == (8, 35, 3)
    assert_array_equal(decoded[..., 0], strips[0])
    titles = [a.text for a in fig.layout.annotations]
    assert "neighbour #7" in titles[0] and f"area {areas[0]:.3f}" in titles[0]
    assert "label <b>b</b>" in titles[1]
    # The curves' y axes (the second column: yaxis2, yaxis4) are named; the strips' are hidden.
    assert fig.layout.yaxis2.title.text == fig.layout.yaxis4.title.text == "f_y" and not fig.layout.yaxis.visible


def test_paths_figure_without_images_draws_only_curves():
    curves = np.full((3, 2), 0.5)
    fig = paths_figure(
        np.array([0.0, 1.0]),
        curves,
        curves.mean(axis=1),
        neighbors=np.arange(3),
        neighbor_names=["a", "a", "b"],
        same_label=np.array([True, True, False]),
    )
    assert [t.type for t in fig.data] == ["scatter"] * 3


def test_color_modes_follow_the_columns():
    assert color_modes(sample_table()) == ["score", "flagged", "noisy", "class", "predicted"]
    assert color_modes(sample_table(truth=False)) == ["score", "flagged", "class", "predicted"]


@pytest.mark.parametrize("mode", ["score", "flagged", "noisy", "class", "predicted"])
def test_every_marker_carries_its_sample_index(mode):
    table = sample_table()
    coords = np.column_stack([np.arange(12.0), np.arange(12.0) ** 2])
    fig = embedding_figure(coords, table, color=mode)
    indices = np.concatenate([np.asarray([row[0] for row in t.customdata], dtype=int) for t in fig.data])
    assert sorted(indices) == list(range(12))
    for trace in fig.data:
        ids = np.asarray([row[0] for row in trace.customdata], dtype=int)
        assert_allclose(trace.x, coords[ids, 0], rtol=0, atol=1e-12)
        assert_allclose(trace.y, coords[ids, 1], rtol=0, atol=1e-12)
    # Left to Streamlit, which then makes a single click select the point under it.
    assert fig.layout.dragmode is None and fig.layout.clickmode is None


def test_categorical_colouring_gives_a_legend_entry_per_category():
    fig = embedding_figure(np.zeros((12, 2)), sample_table(), color="noisy")
    assert sorted(t.name for t in fig.data) == ["clean (9)", "noisy (label flipped) (3)"]
    fig = embedding_figure(np.zeros((12, 2)), sample_table(), color="class")
    assert [t.name for t in fig.data] == ["c0 (4)", "c1 (4)", "c2 (4)"]


def test_two_group_map_draws_the_minority_on_top_in_distinct_colours():
    fig = embedding_figure(np.zeros((12, 2)), sample_table(), color="flagged")
    clean, flagged = fig.data  # drawn in this order: the 9 clean first, the 3 flagged over them
    assert (len(clean.x), len(flagged.x)) == (9, 3)
    assert clean.marker.color != flagged.marker.color and flagged.marker.color == "#d32f2f"
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0  # below the map, clear of the toolbar


def test_highlighted_samples_get_a_ring_and_bad_input_is_refused():
    table = sample_table()
    fig = embedding_figure(np.zeros((12, 2)), table, highlight=np.array([2, 5]))
    ring = fig.data[-1]
    assert ring.name == "sent to Review"
    assert [row[0] for row in ring.customdata] == [2, 5]
    with pytest.raises(ValueError, match="cannot colour by 'noisy'"):
        embedding_figure(np.zeros((12, 2)), sample_table(truth=False), color="noisy")
    with pytest.raises(ValueError, match=r"shape \(12, 2\)"):
        embedding_figure(np.zeros((11, 2)), table)
