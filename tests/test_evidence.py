"""The path viewer's evidence: frames from x to each neighbour, f_y along each path, areas that make the score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from torch import nn

from inn_core.data.datasets import to_uint8_images
from inn_core.errors import InputError
from inn_core.method.scoring import inn_scores
from inn_core.views.evidence import load_evidence_source, sample_evidence
from inn_core.views.review import sample_table


def tiny_problem(n: int = 12, channels: int = 1, size: int = 4, L: int = 3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n, channels, size, size, generator=gen)
    labels = np.arange(n) % 3
    model = nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    rng = np.random.default_rng(seed)
    neighbors = np.stack([rng.choice(np.delete(np.arange(n), i), L, replace=False) for i in range(n)])
    return model.eval(), images, labels, neighbors


def test_first_frame_is_x_and_last_is_the_neighbour():
    model, images, labels, neighbors = tiny_problem()
    ev = sample_evidence(model, images, labels, neighbors, 5, H=4)
    shown = to_uint8_images(images)
    assert ev.frames.shape == (3, 5, 4, 4)
    assert ev.frames.dtype == np.uint8
    for l in range(3):
        assert_array_equal(ev.frames[l, 0], shown[5])
        assert_array_equal(ev.frames[l, -1], shown[neighbors[5, l]])
    # The middle frame is the average of the two ends (up to rounding to bytes).
    middle = ev.frames[:, 2].astype(int)
    ends = (shown[5].astype(int) + shown[neighbors[5]].astype(int)) / 2
    assert np.abs(middle - ends).max() <= 1


def test_colour_frames_keep_the_channels_last():
    model, images, labels, neighbors = tiny_problem(channels=3)
    ev = sample_evidence(model, images, labels, neighbors, 0, H=2)
    assert ev.frames.shape == (3, 3, 4, 4, 3)
    assert_array_equal(ev.frames[:, 0], np.broadcast_to(to_uint8_images(images[:1])[0], (3, 4, 4, 3)))


def test_curves_areas_and_score_agree_with_inn_scores():
    model, images, labels, neighbors = tiny_problem()
    all_scores, all_paths = inn_scores(model, images, labels, neighbors, H=5, return_paths=True, device="cpu")
    ev = sample_evidence(model, images, labels, neighbors, 7, H=5)
    assert_allclose(ev.curves, all_paths[7], rtol=0, atol=1e-6)
    assert_allclose(ev.score, all_scores[7], rtol=0, atol=1e-6)
    assert_allclose(ev.areas.mean(), ev.score, rtol=0, atol=1e-6)
    assert_allclose(ev.alphas, np.linspace(0, 1, 6), rtol=0, atol=1e-12)
    assert_array_equal(ev.neighbors, neighbors[7])
    assert_array_equal(ev.neighbor_labels, labels[neighbors[7]])
    assert ev.label == labels[7]
    assert (ev.L, ev.H) == (3, 5)


@settings(max_examples=25, deadline=None)
@given(H=st.integers(1, 6), L=st.integers(1, 5), sample=st.integers(0, 9), seed=st.integers(0, 1000))
def test_evidence_invariants(H, L, sample, seed):
    model, images, labels, neighbors = tiny_problem(n=10, L=L, seed=seed)
    ev = sample_evidence(model, images, labels, neighbors, sample, H=H)
    assert ev.frames.shape[:2] == ev.curves.shape == (L, H + 1)
    assert np.all((ev.curves >= 0) & (ev.curves <= 1))
    assert np.all((ev.areas >= 0) & (ev.areas <= 1))
    # Every path starts at the same point x, so f_y(x) is shared by all curves.
    assert_allclose(ev.curves[:, 0], ev.curves[0, 0], rtol=0, atol=1e-7)
    assert_allclose(ev.areas, ((ev.curves[:, 1:] + ev.curves[:, :-1]) / 2).mean(axis=1), rtol=0, atol=1e-12)


def test_feature_vectors_have_no_frames_and_bad_samples_are_refused():
    gen = torch.Generator().manual_seed(0)
    points = torch.randn(8, 2, generator=gen)
    model = nn.Linear(2, 2).eval()
    labels = np.array([0, 1] * 4)
    neighbors = np.array([[(i + 1) % 8, (i + 2) % 8] for i in range(8)])
    ev = sample_evidence(model, points, labels, neighbors, 3, H=2)
    assert ev.frames is None
    assert ev.curves.shape == (2, 3)
    for bad in (-1, 8, 2.0, True):
        with pytest.raises(InputError, match=r"sample must be an integer in \[0, 7\]"):
            sample_evidence(model, points, labels, neighbors, bad, H=2)


def test_a_finished_run_gives_the_stored_score_and_its_own_images(tiny_store):
    store, run_id = tiny_store
    source = load_evidence_source(store, run_id)
    table = sample_table(store, run_id)
    assert source.n == len(table) == 200
    assert source.H == 3 and source.neighbors.shape == (200, 5)
    sample = int(table["score"].idxmin())
    ev = source.evidence(sample)
    # The tiny run's last evaluation is at its last epoch, with the final model and neighbours.
    assert_allclose(ev.score, table.loc[sample, "score"], rtol=0, atol=1e-5)
    assert_array_equal(ev.frames[0, 0], source.data.display_image(sample))
    for l, neighbour in enumerate(ev.neighbors):
        assert_array_equal(ev.frames[l, -1], source.data.display_image(int(neighbour)))
    assert_array_equal(source.thumbnails(np.array([sample, 3]))[1], source.data.display_image(3))
    with pytest.raises(InputError, match=r"lie in \[0, 200\)"):
        source.thumbnails(np.array([200]))


def test_a_run_whose_data_changed_is_refused(tiny_store):
    store, run_id = tiny_store
    labels = store.read_arrays(run_id, "labels.npz")
    labels["observed"] = (labels["observed"] + 1) % 10
    store.write_arrays(run_id, "labels.npz", **labels)
    with pytest.raises(InputError, match="changed since it ran"):
        load_evidence_source(store, run_id)


def test_an_unfinished_run_is_refused(tmp_path):
    from inn_core.runs.store import RunStore

    store = RunStore(tmp_path)
    run_id = store.create_run({"dataset": "digits"})
    with pytest.raises(InputError, match="no final results yet"):
        load_evidence_source(store, run_id)
