"""Cached reads for the Review, Embedding and Export pages.

A finished run's files never change, so its tables, model and data are cached per
``(home, run_id, ...)``; decisions are read fresh on every rerun, because another tab may have
written one a moment ago.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from inn_core.runs.store import RunStore
from inn_core.views.evidence import EvidenceSource, SampleEvidence, load_evidence_source
from inn_core.views.review import flagged_samples, sample_table

__all__ = [
    "evidence_source",
    "sample_paths",
    "samples",
    "flagged",
    "probabilities",
    "run_methods",
    "run_info",
    "thumbnails",
]


@st.cache_resource(show_spinner="Loading the run's model and data...", max_entries=4)
def evidence_source(home: str, run_id: str) -> EvidenceSource:
    """The run's MixUp model, data and neighbours, loaded once per (home, run)."""
    return load_evidence_source(RunStore(home), run_id)


@st.cache_data(show_spinner=False, max_entries=512)
def sample_paths(home: str, run_id: str, sample: int) -> SampleEvidence:
    """One sample's neighbour paths, computed for that sample only."""
    return evidence_source(home, run_id).evidence(sample)


@st.cache_data(show_spinner=False, max_entries=32)
def samples(home: str, run_id: str, method: str) -> pd.DataFrame:
    """The run's sample table for ``method`` at its last evaluated epoch."""
    return sample_table(RunStore(home), run_id, method=method)


@st.cache_data(show_spinner=False, max_entries=32)
def run_methods(home: str, run_id: str) -> list[str]:
    """The scoring methods the run has scores for, INN first."""
    return RunStore(home).epoch_methods(run_id)


@st.cache_data(show_spinner=False, max_entries=32)
def run_info(home: str, run_id: str) -> dict:
    """The run's data.json: n, num_classes, class_names, labels_known, noise..."""
    return RunStore(home).read_json(run_id, "data.json", {})


def thumbnails(home: str, run_id: str, indices: np.ndarray) -> np.ndarray:
    """uint8 images of the given samples (cheap: a slice of the cached data)."""
    return evidence_source(home, run_id).thumbnails(indices)


@st.cache_data(show_spinner=False, max_entries=64)
def flagged(home: str, run_id: str, method: str, top: int | None) -> pd.DataFrame:
    """The samples to review, most suspicious first: the Beta mixture's noisy component (``top=None``)
    or the ``top`` lowest scores."""
    return flagged_samples(RunStore(home), run_id, method=method, top=top)


@st.cache_data(show_spinner=False, max_entries=8)
def probabilities(home: str, run_id: str) -> np.ndarray:
    """(n, K) the final MixUp model's class probabilities per sample."""
    return RunStore(home).read_arrays(run_id, "final.npz")["proba"]
