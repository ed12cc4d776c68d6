"""The evidence behind one sample's INN score: its neighbour paths as images and as ``f_y`` curves.

INN scores a sample ``x`` with observed label ``y`` by integrating ``f_y`` along the straight
paths from ``x`` to each of its ``L`` nearest neighbours ``x̃_l``. :func:`sample_evidence` lays
that out for one sample: per neighbour the ``H + 1`` interpolated inputs (as displayable images,
the first frame ``x`` itself, the last the neighbour), ``f_y`` at each of them and the trapezoid
area under that curve; the score is the mean of the areas. Only this sample is scored, so opening
a sample costs ``1 + L*H`` forward passes, not a pass over the data.

:func:`load_evidence_source` brings a finished run's MixUp model, data and neighbours together
once, so a viewer can cache it and ask for one sample after another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from inn_core._validation import check_int
from inn_core.data.datasets import LabelledData, to_uint8_images
from inn_core.data.pixels import as_model_input
from inn_core.errors import InputError
from inn_core.method.scoring import inn_scores, interpolation_points
from inn_core.runs.embedding_run import KIND as EMBEDDING_KIND
from inn_core.runs.embedding_run import embedding_evidence_data
from inn_core.runs.experiment import ExperimentConfig, load_model, prepare_data
from inn_core.runs.store import RunStore

__all__ = ["SampleEvidence", "EvidenceSource", "sample_evidence", "load_evidence_source"]


@dataclass(frozen=True, eq=False)
class SampleEvidence:
    """One sample's neighbour paths.

    Attributes
    ----------
    sample : the sample's index in the run's training set.
    label : its observed label ``y`` (the one ``f_y`` measures).
    neighbors : (L,) int64 indices of its neighbours, nearest first.
    neighbor_labels : (L,) int64 the neighbours' own observed labels.
    alphas : (H + 1,) float in [0, 1], position along each path (0 = x, 1 = the neighbour).
    curves : (L, H + 1) float in [0, 1], ``f_y`` along each path; ``curves[:, 0]`` is ``f_y(x)``.
    areas : (L,) float in [0, 1], trapezoid area under each curve.
    score : float in [0, 1], the INN score: the mean of ``areas``.
    frames : (L, H + 1, h, w) or (L, H + 1, h, w, 3) uint8, the interpolated images
        (``frames[l, 0]`` is x, ``frames[l, -1]`` the neighbour); ``None`` for non-image data.
    """

    sample: int
    label: int
    neighbors: np.ndarray
    neighbor_labels: np.ndarray
    alphas: np.ndarray
    curves: np.ndarray
    areas: np.ndarray
    score: float
    frames: np.ndarray | None

    @property
    def L(self) -> int:
        return int(self.neighbors.shape[0])

    @property
    def H(self) -> int:
        return int(self.alphas.shape[0] - 1)


def sample_evidence(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: np.ndarray,
    neighbor_indices: np.ndarray,
    sample: int,
    *,
    H: int,
    device: str | torch.device = "cpu",
) -> SampleEvidence:
    """The neighbour paths of one sample, scored with ``model``.

    Parameters
    ----------
    model : the prediction model ``f`` (a run's MixUp model), returning logits.
    inputs : (n, *shape) float32 training inputs; images are (n, C, h, w) in [0, 1].
    labels : (n,) int observed labels.
    neighbor_indices : (n, L) int neighbours of every sample.
    sample : which sample, in [0, n).
    H : trapezoids per path, >= 1.
    device : where to run the ``1 + L*H`` forward passes; one sample is quickest on the CPU.

    Returns
    -------
    SampleEvidence
    """
    n = inputs.shape[0]
    sample = check_int("sample", sample, low=0, high=n - 1)
    labels = np.asarray(labels)
    neighbor_indices = np.asarray(neighbor_indices)
    scores, paths = inn_scores(
        model,
        inputs,
        labels,
        neighbor_indices,
        H=H,
        device=device,
        return_paths=True,
        sample_indices=np.array([sample]),
    )
    curves = paths[0].astype(np.float64)
    areas = ((curves[:, :-1] + curves[:, 1:]) / 2).mean(axis=1)
    neighbors = neighbor_indices[sample].astype(np.int64)
    frames = None
    if inputs.ndim == 4:
        points = interpolation_points(
            as_model_input(inputs[sample : sample + 1]), as_model_input(inputs[torch.from_numpy(neighbors)])[None], H
        )[0]
        L = neighbors.shape[0]
        frames = to_uint8_images(points.reshape(L * (H + 1), *inputs.shape[1:]))
        frames = frames.reshape(L, H + 1, *frames.shape[1:])
    return SampleEvidence(
        sample=sample,
        label=int(labels[sample]),
        neighbors=neighbors,
        neighbor_labels=labels[neighbors].astype(np.int64),
        alphas=np.arange(H + 1) / H,
        curves=curves,
        areas=areas,
        score=float(scores[0]),
        frames=frames,
    )


@dataclass(frozen=True, eq=False)
class EvidenceSource:
    """A finished run's pieces for the path viewer, loaded once.

    Attributes
    ----------
    run_id : the run.
    model : its final MixUp model ``f`` (eval mode, on the CPU).
    data : its training set as trained on (images in [0, 1]).
    observed : (n,) int64 observed labels.
    neighbors : (n, L) int64 neighbours from the final features.
    H : trapezoids per path, as the run was configured.
    """

    run_id: str
    model: nn.Module
    data: LabelledData
    observed: np.ndarray
    neighbors: np.ndarray
    H: int

    @property
    def n(self) -> int:
        return int(self.observed.shape[0])

    def evidence(self, sample: int) -> SampleEvidence:
        """The neighbour paths of ``sample`` (see :func:`sample_evidence`)."""
        return sample_evidence(self.model, self.data.images, self.observed, self.neighbors, sample, H=self.H)

    def thumbnails(self, indices: np.ndarray) -> np.ndarray:
        """Images of ``indices`` ((m,) int in [0, n)): (m, h, w) or (m, h, w, 3) uint8.

        Raises :class:`InputError` for non-image data.
        """
        if not self.data.is_image:
            raise InputError(f"run {self.run_id!r} holds feature vectors, not images, so it has nothing to show")
        indices = np.array(indices, dtype=np.int64)  # a copy: cached arrays are read-only, torch wants writable
        if indices.size and (indices.min() < 0 or indices.max() >= self.n):
            raise InputError(f"sample indices must lie in [0, {self.n}), got range [{indices.min()}, {indices.max()}]")
        return to_uint8_images(self.data.images[torch.from_numpy(indices)])


def load_evidence_source(store: RunStore, run_id: str) -> EvidenceSource:
    """Load a finished run's MixUp model, data and final neighbours.

    Raises
    ------
    InputError : the run is not finished, or its data no longer gives the labels it was trained
        on (files under its data root changed since).
    """
    if not store.has_file(run_id, "final.npz"):
        status = store.get_run(run_id).status
        raise InputError(f"run {run_id!r} has no final results yet (status: {status}); wait until it is done")
    neighbors = store.read_arrays(run_id, "final.npz")["neighbors"].astype(np.int64)
    if store.get_run(run_id).kind == EMBEDDING_KIND:
        # Paths between embeddings, scored by the run's MixUp head: the same viewer, no images.
        config, data, head = embedding_evidence_data(store, run_id)
        observed = store.read_arrays(run_id, "labels.npz")["observed"].astype(np.int64)
        return EvidenceSource(run_id=run_id, model=head, data=data, observed=observed, neighbors=neighbors, H=config.H)
    config = ExperimentConfig.from_dict(store.config(run_id))
    run = prepare_data(config)
    stored = store.read_arrays(run_id, "labels.npz")["observed"]
    if stored.shape != run.observed_labels.shape or not np.array_equal(stored, run.observed_labels):
        raise InputError(
            f"the data of run {run_id!r} changed since it ran ({stored.shape[0]} samples then, {run.n} now); "
            f"restore the files under {config.data_root or config.dataset} or start a new run"
        )
    model = load_model(store, run_id, "mixup", run=run).cpu()
    return EvidenceSource(
        run_id=run_id,
        model=model,
        data=run.data,
        observed=run.observed_labels.astype(np.int64),
        neighbors=neighbors,
        H=config.H,
    )
