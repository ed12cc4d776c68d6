"""The image grid of samples to review: one card per sample with its labels, score and decision."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.components.review_decide import describe, open_sample
from dashboard.components.review_paths import display_factor
from dashboard.images import enlarge
from inn_core.runs.store import Decision

__all__ = ["show_grid", "COLUMNS", "PAGE_SIZE"]

COLUMNS = 6
PAGE_SIZE = 24


def show_grid(
    rows: pd.DataFrame,
    images: np.ndarray | None,
    *,
    run_id: str,
    decisions: dict[int, Decision],
    class_names: Sequence[str],
    open_index: int | None,
) -> None:
    """Cards for ``rows`` (one page of the sample table), ``images`` their uint8 pictures (or None).

    Each card's "Open" button opens the sample in the path viewer.
    """
    factor = display_factor(images.shape[1], 96) if images is not None else 1
    records = list(rows.itertuples(index=False))
    for start in range(0, len(records), COLUMNS):
        for col, pos in zip(st.columns(COLUMNS), range(start, min(start + COLUMNS, len(records)))):
            row = records[pos]
            sample = int(row.index)
            with col, st.container(border=True):
                if images is not None:
                    st.image(enlarge(images[pos], factor), width="stretch")
                suggested = getattr(row, "predicted_name", None)
                lines = [f"**#{sample}** · score **{row.score:.3f}**", f"label **{row.observed_name}**"]
                if suggested is not None and suggested != row.observed_name:
                    lines[-1] += f" → :blue[**{suggested}**]"
                decided = describe(decisions.get(sample), class_names)
                lines.append(f":green[{decided}]" if decided else ":gray[not reviewed]")
                st.markdown("  \n".join(lines))
                st.button(
                    "Open",
                    key=f"review_open_{sample}",
                    width="stretch",
                    type="primary" if sample == open_index else "secondary",
                    on_click=open_sample,
                    args=(run_id, sample),
                )
