"""Plotly figures of the dashboard, built from engine data by plain functions (no Streamlit here).

Each function takes arrays, records or an engine result and returns a ``go.Figure``, so each can be
checked on its own: the traces it draws, their data and their names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard import labels as _labels
from inn_core.views.consistency import model_means
from inn_core.views.toy import ToyResult

__all__ = [
    "METHOD_LABELS",
    "METHOD_COLORS",
    "GROUP_COLORS",
    "ablation_figure",
    "auc_figure",
    "class_counts_figure",
    "consistency_means_figure",
    "robust_curves_figure",
    "score_histogram_figure",
    "toy_curves_figure",
    "toy_surface_figure",
    "transition_matrix_figure",
]

#: Display names of the scoring methods, in the order charts list them (from the engine's method registry).
METHOD_LABELS = _labels.METHOD_LABELS
METHOD_COLORS = {
    "inn": "#1f77b4",
    "ce": "#d62728",
    "ce_ne": "#ff7f0e",
    "deep_knn": "#2ca02c",
    "mixup_fy": "#9467bd",
    "cleanlab": "#8c564b",
}
#: Histogram colours by number of groups: the paper's Figure 6 uses blue, orange, green, red.
GROUP_COLORS = {
    1: ("#7f7f7f",),
    2: ("#1f77b4", "#d62728"),
    4: ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"),
}
_PATH_COLORS = ("#e377c2", "#17becf", "#bcbd22", "#8c564b", "#9467bd", "#ff7f0e", "#2ca02c", "#7f7f7f")
_DASHES = ("solid", "dash", "dot", "dashdot")
_SYMBOLS = ("circle", "triangle-up", "diamond", "cross", "star", "hexagon")
_LABEL_COLORS = ("#f0f0f0", "#4d4d4d", "#a6761d", "#66a61e", "#e7298a", "#7570b3")


def _method_order(methods: Sequence[str]) -> list[str]:
    return _labels.order_methods(methods)


def _epoch_axis(epochs: Sequence[int]) -> dict[str, Any]:
    """An x axis of training epochs: ticks at the evaluated epochs when they are few, never at fractions."""
    axis: dict[str, Any] = {"title": "training epoch", "tickformat": "d"}
    shown = sorted(set(epochs))
    if 0 < len(shown) <= 12:
        axis.update(tickmode="array", tickvals=shown)
    return axis


def toy_surface_figure(toy: ToyResult) -> go.Figure:
    """The paper's Figure 1, left: ``f_y`` as a heatmap with the highlighted points and their paths.

    The clean point is a circle, the noisy point a square (as in the paper); neighbour ``l`` of each
    has the colour of curve ``l`` in :func:`toy_curves_figure` and is joined to it by a dashed line.
    """
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=toy.grid_x,
            y=toy.grid_y,
            z=toy.surface,
            zmin=0.0,
            zmax=1.0,
            colorscale="RdBu",
            colorbar={"title": {"text": f"f_y, y = {toy.label}"}},
            name="f_y",
            hovertemplate="f_y = %{z:.2f}<extra></extra>",
        )
    )
    for k in np.unique(toy.observed_labels):
        members = toy.observed_labels == k
        fig.add_trace(
            go.Scatter(
                x=toy.points[members, 0],
                y=toy.points[members, 1],
                mode="markers",
                name=f"labelled {int(k)}",
                marker={
                    "symbol": _SYMBOLS[int(k) % len(_SYMBOLS)],
                    "size": 6,
                    "color": _LABEL_COLORS[int(k) % len(_LABEL_COLORS)],
                    "line": {"width": 0.5, "color": "black"},
                },
                opacity=0.8,
                hoverinfo="skip",
            )
        )
    for point in toy.highlighted:
        kind = "noisy" if point.is_noisy else "clean"
        x0, y0 = toy.points[point.index]
        for rank, j in enumerate(point.neighbors):
            x1, y1 = toy.points[j]
            fig.add_trace(
                go.Scatter(
                    x=[x0, x1],
                    y=[y0, y1],
                    mode="lines+markers",
                    line={"dash": "dash", "width": 2, "color": "black"},
                    marker={
                        "size": [0, 10],
                        "color": _PATH_COLORS[rank % len(_PATH_COLORS)],
                        "line": {"width": 1, "color": "black"},
                    },
                    showlegend=False,
                    name=f"{kind} path {rank + 1}",
                    hovertemplate=f"{kind} point's neighbour {rank + 1}<extra></extra>",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=[x0],
                y=[y0],
                mode="markers",
                name=f"{kind} point (labelled {point.observed_label}, truly {point.true_label})",
                marker={
                    "symbol": "square" if point.is_noisy else "circle",
                    "size": 16,
                    "color": "#ffd92f",
                    "line": {"width": 2, "color": "black"},
                },
            )
        )
    fig.update_layout(
        xaxis={"title": "x1", "range": [toy.grid_x[0], toy.grid_x[-1]]},
        yaxis={"title": "x2", "range": [toy.grid_y[0], toy.grid_y[-1]], "scaleanchor": "x"},
        legend={"orientation": "h", "y": -0.15},
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        height=560,
    )
    return fig


def toy_curves_figure(toy: ToyResult) -> go.Figure:
    """The paper's Figure 1, right: ``f_y(alpha)`` along each path, the area under it shaded.

    One panel per highlighted point; curve ``l`` belongs to neighbour ``l`` of the surface figure
    (same colour). The INN score is the mean of the shaded areas.
    """
    titles = [
        f"{'noisy point (square)' if p.is_noisy else 'clean point (circle)'}<br>INN score {p.score:.2f}"
        for p in toy.highlighted
    ]
    fig = make_subplots(
        rows=1, cols=len(toy.highlighted), subplot_titles=titles, shared_yaxes=True, horizontal_spacing=0.08
    )
    for col, point in enumerate(toy.highlighted, start=1):
        kind = "noisy" if point.is_noisy else "clean"
        for rank, (curve, area) in enumerate(zip(point.curves, point.areas)):
            color = _PATH_COLORS[rank % len(_PATH_COLORS)]
            fig.add_trace(
                go.Scatter(
                    x=toy.alphas,
                    y=curve,
                    mode="lines",
                    fill="tozeroy",
                    line={"color": color, "width": 2},
                    opacity=0.35,
                    name=f"{kind}: neighbour {rank + 1} (area {area:.2f})",
                    legendgroup=kind,
                    hovertemplate=f"neighbour {rank + 1}: " + "alpha %{x:.2f}, f_y %{y:.2f}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="alpha", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text="f_y along the path", range=[0, 1.02], row=1, col=1)
    fig.update_annotations(font_size=13)
    fig.update_layout(showlegend=False, margin={"t": 60, "b": 10, "l": 10, "r": 10}, height=380)
    return fig


def consistency_means_figure(
    models: Sequence[Mapping[str, Any]], *, model: str = "ce", x_title: str = "training epoch"
) -> go.Figure:
    """The paper's Figure 2: E_cor, E_inc, E^m_cor and E^m_inc of one model against the epoch.

    Parameters
    ----------
    models : the run's ``metrics["models"]`` records (epoch, model, E_cor, E_inc, E_m_cor, E_m_inc, ...).
    model : which model's records to draw ("ce", "ce_ne" or "mixup").
    x_title : the x axis' title (the toy counts full-batch steps).
    """
    rows = model_means(models, model)
    epochs = [r["epoch"] for r in rows]
    fig = go.Figure()
    for key, name, color, dash in (
        ("E_cor", "E_cor: f_y(x), clean", "#1f77b4", "solid"),
        ("E_inc", "E_inc: f_y(x), noisy", "#d62728", "solid"),
        ("E_m_cor", "E^m_cor: halfway to the neighbour, clean", "#1f77b4", "dash"),
        ("E_m_inc", "E^m_inc: halfway to the neighbour, noisy", "#d62728", "dash"),
    ):
        fig.add_trace(
            go.Scatter(
                x=epochs, y=[r[key] for r in rows], mode="lines+markers", name=name, line={"color": color, "dash": dash}
            )
        )
    fig.update_layout(
        xaxis={**_epoch_axis(epochs), "title": x_title},
        yaxis={"title": "mean f_y", "range": [0, 1.02]},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        height=380,
    )
    return fig


def auc_figure(runs: Mapping[str, Sequence[Mapping[str, Any]]], *, methods: Sequence[str] | None = None) -> go.Figure:
    """The paper's Figure 4: clean/noisy AUC of each method against the training epoch.

    Parameters
    ----------
    runs : label -> that run's ``metrics["methods"]`` records (epoch, method, auc, ...); the first
        run's lines are solid, the next ones dashed, dotted, ...; a method keeps its colour.
    methods : which methods to draw (default: every method with an AUC).
    """
    fig = go.Figure()
    epochs: set[int] = set()
    for i, (label, records) in enumerate(runs.items()):
        with_auc = [r for r in records if r.get("auc") is not None and np.isfinite(r["auc"])]
        present = _method_order(sorted({r["method"] for r in with_auc}))
        for method in present if methods is None else [m for m in _method_order(list(methods)) if m in present]:
            rows = sorted((r for r in with_auc if r["method"] == method), key=lambda r: r["epoch"])
            epochs.update(r["epoch"] for r in rows)
            name = _labels.method_label(method) + (f" - {label}" if len(runs) > 1 else "")
            fig.add_trace(
                go.Scatter(
                    x=[r["epoch"] for r in rows],
                    y=[r["auc"] for r in rows],
                    mode="lines+markers",
                    name=name,
                    line={"color": METHOD_COLORS.get(method, "#333333"), "dash": _DASHES[i % len(_DASHES)]},
                )
            )
    fig.update_layout(
        xaxis=_epoch_axis(sorted(epochs)),
        yaxis={"title": "clean/noisy AUC"},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        height=400,
    )
    return fig


def score_histogram_figure(
    scores: np.ndarray,
    groups: np.ndarray,
    group_names: Sequence[str],
    *,
    grid: np.ndarray,
    pdf: np.ndarray,
    threshold: float | None = None,
    bins: int = 40,
) -> go.Figure:
    """Stacked histograms of scores by sample group, with the fitted Beta mixture and the split.

    Parameters
    ----------
    scores : (n,) float in [0, 1].
    groups : (n,) int codes into ``group_names``.
    group_names : names of the groups, coloured as :data:`GROUP_COLORS` says.
    grid : (m,) float in [0, 1], where ``pdf`` was evaluated.
    pdf : (m, 2) weighted densities of the noisy and the clean component; drawn scaled to counts
        (``n * bin width``) so they sit on the bars.
    threshold : the split's score, drawn as a vertical line when given.
    bins : histogram bins across the span of the scores (rounded out to multiples of 0.05), so
        scores crowded in a narrow band still show their shape.
    """
    scores = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(groups)
    colors = GROUP_COLORS.get(len(group_names), _PATH_COLORS)
    low = np.floor(scores.min() * 20) / 20 if scores.size else 0.0
    high = max(np.ceil(scores.max() * 20) / 20, low + 0.05) if scores.size else 1.0
    width = (high - low) / bins
    fig = go.Figure()
    for code, name in enumerate(group_names):
        members = scores[groups == code]
        fig.add_trace(
            go.Histogram(
                x=members,
                name=f"{name} ({members.size})",
                marker={"color": colors[code % len(colors)]},
                xbins={"start": low, "end": high + 1e-9, "size": width},
                opacity=0.75,
            )
        )
    scale = scores.size * width
    pdf = np.asarray(pdf)
    # The mixture first, thin: where one component carries it, that component's dashed line drawn
    # over it stays visible instead of vanishing under the sum.
    fig.add_trace(
        go.Scatter(
            x=grid,
            y=pdf.sum(axis=1) * scale,
            mode="lines",
            name="Beta mixture",
            line={"color": "black", "width": 1.5},
            opacity=0.6,
        )
    )
    for column, name, color in ((0, "noisy component", "#d62728"), (1, "clean component", "#1f77b4")):
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=pdf[:, column] * scale,
                mode="lines",
                name=f"Beta mixture: {name}",
                line={"color": color, "dash": "dash", "width": 2.5},
            )
        )
    if threshold is not None:
        fig.add_vline(x=threshold, line={"color": "black", "dash": "dot"}, annotation_text=f"split {threshold:.2f}")
    top = max(1.0, float(np.histogram(scores, bins=bins, range=(low, high))[0].max()) * 1.15)
    fig.update_layout(
        barmode="stack",
        xaxis={"title": "score (higher = more likely clean)", "range": [low, high]},
        yaxis={"title": "samples", "range": [0, top]},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        height=420,
    )
    return fig


def transition_matrix_figure(
    matrix: np.ndarray, class_names: Sequence[str], *, counts: np.ndarray | None = None
) -> go.Figure:
    """The observed noise transition ``T[true, observed]`` as a heatmap (rows: true class).

    Parameters
    ----------
    matrix : (K, K) float in [0, 1], row-normalised.
    class_names : K names.
    counts : (K, K) int, shown on hover when given.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    names = [str(c) for c in class_names]
    show_text = len(names) <= 20
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            zmin=0.0,
            zmax=1.0,
            colorscale="Blues",
            text=np.round(matrix, 2) if show_text else None,
            texttemplate="%{text}" if show_text else None,
            customdata=counts if counts is not None else None,
            hovertemplate="true %{y} -> observed %{x}: %{z:.3f}"
            + (" (%{customdata} samples)" if counts is not None else "")
            + "<extra></extra>",
            colorbar={"title": {"text": "share"}},
        )
    )
    fig.update_layout(
        xaxis={"title": "observed label", "type": "category"},
        yaxis={"title": "true label", "type": "category", "autorange": "reversed"},
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        height=420,
    )
    return fig


def class_counts_figure(counts: np.ndarray, class_names: Sequence[str]) -> go.Figure:
    """Training samples per label as horizontal bars, the first class on top.

    Parameters
    ----------
    counts : (K,) int, samples per label.
    class_names : K names.
    """
    counts = np.asarray(counts, dtype=np.int64)
    names = [str(c) for c in class_names]
    fig = go.Figure(
        go.Bar(
            x=counts,
            y=names,
            orientation="h",
            marker_color="#1f77b4",
            text=counts,
            textposition="auto",
            hovertemplate="%{y}: %{x} samples<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis={"title": "samples"},
        yaxis={"title": "label", "type": "category", "autorange": "reversed"},
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        height=max(200, min(420, 40 + 24 * len(names))),
    )
    return fig


ROBUST_COLORS = {"inn_dividemix": "#1f77b4", "dividemix": "#d62728", "ce": "#7f7f7f"}
ROBUST_LABELS = {"inn_dividemix": "INN+DivideMix", "dividemix": "DivideMix", "ce": "CE"}


def robust_curves_figure(history: Any, *, value: str, title: str) -> go.Figure:
    """One line per robust run of ``value`` against the epoch, coloured by method.

    Parameters
    ----------
    history : DataFrame with columns ``run``, ``method``, ``epoch`` and ``value`` (one row per run and epoch).
    value : the column to draw, e.g. ``test_accuracy`` or ``labelled_precision``.
    """
    fig = go.Figure()
    for i, (run, rows) in enumerate(history.groupby("run", sort=False)):
        rows = rows.sort_values("epoch")
        method = rows["method"].iloc[0]
        fig.add_trace(
            go.Scatter(
                x=rows["epoch"],
                y=rows[value],
                mode="lines",
                name=f"{ROBUST_LABELS.get(method, method)} - {run}",
                line={"color": ROBUST_COLORS.get(method, "#333333"), "dash": _DASHES[i % len(_DASHES)]},
            )
        )
    fig.update_layout(
        xaxis={"title": "epoch"},
        yaxis={"title": title},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        height=380,
    )
    return fig


def ablation_figure(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Clean/noisy AUC of each ablation variant, one panel per ingredient (the paper's Figure 3).

    Parameters
    ----------
    rows : :func:`inn_core.runs.ablation.ablate`'s ``rows`` (group, value, auc, ...).
    """
    groups = list(dict.fromkeys(r["group"] for r in rows))
    fig = make_subplots(
        rows=1, cols=max(1, len(groups)), subplot_titles=groups, shared_yaxes=True, horizontal_spacing=0.04
    )
    for col, group in enumerate(groups, start=1):
        picked = [r for r in rows if r["group"] == group]
        fig.add_trace(
            go.Bar(
                x=[str(r["value"]) for r in picked],
                y=[r["auc"] for r in picked],
                name=group,
                text=[f"{r['auc']:.3f}" for r in picked],
                textposition="outside",
                cliponaxis=False,  # the labels of bars near AUC 1 stand above the axis' end
                marker_color=METHOD_COLORS["inn"],
                hovertemplate=f"{group} = " + "%{x}: AUC %{y:.3f}<extra></extra>",
            ),
            row=1,
            col=col,
        )
    low = min((r["auc"] for r in rows), default=0.5)
    # Values are categories (L = 1, 5, 10, 20 as four equal bars, not points on a number line).
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[max(0.0, low - 0.05), 1.0], row=1, col=1, title_text="clean/noisy AUC (axis cut)")
    fig.update_layout(
        showlegend=False,
        margin={"t": 60, "b": 10, "l": 10, "r": 10},
        height=380,
        uniformtext={"minsize": 10, "mode": "show"},
    )
    return fig
