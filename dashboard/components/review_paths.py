"""The neighbour-path viewer: why a sample got its INN score.

For each of the L neighbours: a strip of the H+1 images from the sample to the neighbour, the
neighbour's own label, and ``f_y`` along that path with the area under it. The score is the mean
of the areas, so the paths that pull it down are the red ones (neighbours of another class).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from dashboard.images import enlarge, path_strip
from dashboard.review_plots import paths_figure
from inn_core.views.evidence import SampleEvidence

__all__ = ["show_paths", "display_factor"]


def display_factor(height: int, target: int) -> int:
    """Integer upscaling that brings an image of ``height`` pixels near ``target`` pixels."""
    return max(1, target // max(1, height))


def show_paths(evidence: SampleEvidence, class_names: Sequence[str], *, key: str) -> None:
    """Draw every neighbour path of one sample: image strip, neighbour label, ``f_y`` curve and area."""
    names = [class_names[k] for k in evidence.neighbor_labels]
    same = evidence.neighbor_labels == evidence.label
    st.markdown(
        f"**{evidence.L} neighbour paths**, H = {evidence.H}: f_y is the model's probability for the observed "
        f"label **{class_names[evidence.label]}** along each path from x (left) to the neighbour (right); "
        f"the score is the mean area, **{evidence.score:.3f}**. {int(same.sum())} of {evidence.L} neighbours "
        f"share the label (:green[green]), the others do not (:red[red])."
    )
    strips = None
    if evidence.frames is not None:
        factor = display_factor(evidence.frames.shape[2], 48)
        strips = [enlarge(path_strip(frames, gap=1), factor) for frames in evidence.frames]
    fig = paths_figure(
        evidence.alphas,
        evidence.curves,
        evidence.areas,
        neighbors=evidence.neighbors,
        neighbor_names=names,
        same_label=same,
        strips=strips,
    )
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})
