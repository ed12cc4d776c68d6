"""Plotly figures of the Review and Embedding pages: plain functions from arrays and tables to figures.

Nothing here imports Streamlit, so every builder is tested on its own.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

__all__ = ["COLOR_MODES", "paths_figure", "embedding_figure", "color_modes"]

SAME = "#2e7d32"  # neighbour shares the sample's observed label
OTHER = "#c62828"  # neighbour carries another label

#: Two-group colourings: a muted grey for the clean group, a strong red for the suspicious one.
TWO_GROUP_COLORS = {
    "clean component": "#b0bec5",
    "flagged (noisy component)": "#d32f2f",
    "clean": "#b0bec5",
    "noisy (label flipped)": "#d32f2f",
}

#: How the embedding map can be coloured: key -> (legend title, table column it needs).
COLOR_MODES: dict[str, tuple[str, str]] = {
    "score": ("INN score", "score"),
    "flagged": ("Beta-mixture split", "flagged"),
    "noisy": ("Truly noisy (injected)", "is_noisy"),
    "class": ("Observed class", "observed_name"),
    "predicted": ("Suggested class", "predicted_name"),
}


def color_modes(table: pd.DataFrame) -> list[str]:
    """The :data:`COLOR_MODES` keys the sample table has the columns for."""
    return [key for key, (_, column) in COLOR_MODES.items() if column in table.columns]


def _png_data_uri(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def paths_figure(
    alphas: np.ndarray,
    curves: np.ndarray,
    areas: np.ndarray,
    *,
    neighbors: np.ndarray,
    neighbor_names: list[str],
    same_label: np.ndarray,
    strips: list[np.ndarray] | None = None,
    row_height: int = 95,
) -> go.Figure:
    """A sample's neighbour paths, one row per neighbour: the image strip from x to the neighbour and
    ``f_y`` along that path with the area under it shaded.

    One figure for all rows, so the browser draws one chart, not L.

    Parameters
    ----------
    alphas : (H + 1,) float in [0, 1], 0 at the sample, 1 at the neighbour.
    curves : (L, H + 1) float in [0, 1], ``f_y`` along each path.
    areas : (L,) float in [0, 1], trapezoid area under each curve (their mean is the score).
    neighbors : (L,) int neighbour sample indices.
    neighbor_names : L class names of the neighbours' own labels.
    same_label : (L,) bool, the neighbour shares the sample's observed label (green) or not (red).
    strips : L uint8 images (h, W) or (h, W, 3), the frames side by side; None for non-image data.
    """
    L = curves.shape[0]
    cols = 2 if strips is not None else 1
    titles = []
    for l in range(L):
        colour = SAME if same_label[l] else OTHER
        title = (
            f"<b>{l + 1}.</b> neighbour #{int(neighbors[l])} · label <b>{neighbor_names[l]}</b> · "
            f"<span style='color:{colour}'>area {areas[l]:.3f}</span>"
        )
        titles += [title, ""] if cols == 2 else [title]
    fig = make_subplots(
        rows=L,
        cols=cols,
        column_widths=[0.6, 0.4] if cols == 2 else None,
        horizontal_spacing=0.04,
        vertical_spacing=min(0.35 / L, 0.06),
        subplot_titles=titles,
    )
    for l in range(L):
        colour = SAME if same_label[l] else OTHER
        if strips is not None:
            strip = strips[l] if strips[l].ndim == 3 else np.repeat(strips[l][..., None], 3, axis=2)
            fig.add_trace(go.Image(source=_png_data_uri(strip), hoverinfo="skip"), row=l + 1, col=1)
            fig.update_xaxes(visible=False, row=l + 1, col=1)
            fig.update_yaxes(visible=False, row=l + 1, col=1)
        fig.add_trace(
            go.Scatter(
                x=alphas,
                y=curves[l],
                mode="lines+markers",
                fill="tozeroy",
                line={"color": colour, "width": 2},
                marker={"size": 4},
                showlegend=False,
                hovertemplate=f"neighbour {l + 1}<br>α = %{{x:.2f}}<br>f_y = %{{y:.3f}}<extra></extra>",
            ),
            row=l + 1,
            col=cols,
        )
        fig.update_xaxes(range=[0, 1], tickvals=[0, 0.5, 1], showticklabels=l == L - 1, row=l + 1, col=cols)
        fig.update_yaxes(range=[0, 1.05], tickvals=[0, 1], title={"text": "f_y", "standoff": 0}, row=l + 1, col=cols)
    fig.update_xaxes(title={"text": "α  (0 = the sample, 1 = the neighbour)", "standoff": 2}, row=L, col=cols)
    # Subplot titles sit over the whole row, from the left edge: they name the strip and its curve.
    fig.update_annotations(font={"size": 12}, x=0, xanchor="left")
    fig.update_layout(height=row_height * L + 60, margin={"l": 5, "r": 5, "t": 25, "b": 35}, showlegend=False)
    return fig


def embedding_figure(
    coords: np.ndarray,
    table: pd.DataFrame,
    *,
    color: str = "score",
    highlight: np.ndarray | None = None,
    height: int = 600,
) -> go.Figure:
    """The 2-D map of the samples, one marker each, ready for click, box and lasso selection.

    Parameters
    ----------
    coords : (n, 2) float map coordinates, row i for sample i.
    table : the run's sample table (:func:`inn_core.views.review.sample_table`), one row per sample in
        index order: ``index``, ``observed_name``, ``score`` and whichever of ``predicted_name``,
        ``flagged``, ``is_noisy``, ``true_name`` it has.
    color : a :data:`COLOR_MODES` key the table supports.
    highlight : (m,) int samples to ring (e.g. the ones already sent to Review).

    Every marker carries its sample index as ``customdata[0]``, so a selection maps back to samples.
    """
    if color not in color_modes(table):
        raise ValueError(f"cannot colour by {color!r}; this run allows {', '.join(color_modes(table))}")
    if coords.shape != (len(table), 2):
        raise ValueError(f"coords must have shape ({len(table)}, 2), got {coords.shape}")
    title, column = COLOR_MODES[color]
    hover = ["<b>#%{customdata[0]}</b>", "observed: %{customdata[1]}"]
    extra = [table["observed_name"].astype(str)]
    for name, col in (("suggested", "predicted_name"), ("true", "true_name")):
        if col in table.columns:
            hover.append(f"{name}: %{{customdata[{len(extra) + 1}]}}")
            extra.append(table[col].astype(str))
    hover.append(f"score: %{{customdata[{len(extra) + 1}]:.3f}}")
    extra.append(table["score"].astype(float))
    custom = np.column_stack([table["index"].to_numpy(), *[e.to_numpy(dtype=object) for e in extra]]).astype(object)
    template = "<br>".join(hover) + "<extra></extra>"

    fig = go.Figure()
    if color == "score":
        fig.add_trace(
            go.Scattergl(
                x=coords[:, 0],
                y=coords[:, 1],
                mode="markers",
                customdata=custom,
                hovertemplate=template,
                marker={
                    "color": table["score"].to_numpy(),
                    "colorscale": "Viridis",
                    "size": 6,
                    "colorbar": {"title": {"text": title}},
                },
                name="samples",
                showlegend=False,
            )
        )
    else:
        values = table[column]
        if color == "flagged":
            values = values.map({True: "flagged (noisy component)", False: "clean component"})
        elif color == "noisy":
            values = values.map({True: "noisy (label flipped)", False: "clean"})
        labels = values.astype(str)
        # Largest group first, so the minority (usually the flagged or noisy samples) is drawn on top.
        counts = labels.value_counts(sort=False)
        order = sorted(counts.index, key=lambda c: (-counts[c], c))
        for category in order:
            mask = (labels == category).to_numpy()
            marker = {"size": 6}
            if category in TWO_GROUP_COLORS:
                marker["color"] = TWO_GROUP_COLORS[category]
            fig.add_trace(
                go.Scattergl(
                    x=coords[mask, 0],
                    y=coords[mask, 1],
                    mode="markers",
                    customdata=custom[mask],
                    hovertemplate=template,
                    name=f"{category} ({counts[category]})",
                    marker=marker,
                )
            )
        # Below the map: a legend at the top right would sit under Plotly's toolbar.
        fig.update_layout(
            legend={
                "title": {"text": title},
                "orientation": "h",
                "x": 0,
                "xanchor": "left",
                "y": -0.02,
                "yanchor": "top",
            }
        )
    if highlight is not None and len(highlight):
        ring = np.asarray(highlight, dtype=np.int64)
        fig.add_trace(
            go.Scattergl(
                x=coords[ring, 0],
                y=coords[ring, 1],
                mode="markers",
                customdata=custom[ring],
                hovertemplate=template,
                marker={"size": 11, "color": "rgba(0,0,0,0)", "line": {"color": "#ff6f00", "width": 2}},
                name="sent to Review",
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        # No dragmode: Streamlit then pans on drag and selects the point under a click; in
        # lasso or box mode a single click selects nothing (box and lasso stay in the toolbar).
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
    )
    return fig
