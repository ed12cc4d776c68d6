"""The noise preview shown before an experiment trains, and the settings form's text parsers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from inn_core.data.noise import NoiseSpec
from inn_core.errors import InputError
from inn_core.forms import parse_epochs, parse_mapping
from inn_core.runs.experiment import ExperimentConfig, prepare_data
from inn_core.views.preview import noise_preview


def _config(noise: NoiseSpec, **kwargs) -> ExperimentConfig:
    return ExperimentConfig(dataset="digits", noise=noise, L=1, **kwargs)


@pytest.fixture(scope="module")
def symmetric():
    config = _config(NoiseSpec("symmetric", 0.4), seed=3)
    return config, noise_preview(config, examples=5)


def test_preview_numbers_match_the_run_that_would_train(symmetric):
    config, preview = symmetric
    run = prepare_data(config)
    assert preview.n == run.n == 1437 and preview.num_classes == 10
    assert preview.nominal_rate == 0.4
    assert preview.expected_rate == pytest.approx(0.4 * 9 / 10)
    assert preview.actual_rate == pytest.approx(run.is_noisy.mean())
    # Binomial spread of the actual rate around the expected one: sd ~ 0.013 for n = 1437.
    assert abs(preview.actual_rate - preview.expected_rate) < 0.06
    assert preview.labels_known and "symmetric 40%" in preview.description


def test_preview_transition_matrix_counts_every_sample(symmetric):
    config, preview = symmetric
    run = prepare_data(config)
    assert preview.counts.sum() == preview.n
    assert preview.counts.trace() == int((~run.is_noisy).sum())
    assert_allclose(preview.matrix.sum(axis=1), 1.0, atol=1e-12)
    assert_allclose(preview.matrix, preview.counts / preview.counts.sum(axis=1, keepdims=True), atol=1e-12)


def test_preview_examples_are_relabelled_images(symmetric):
    config, preview = symmetric
    run = prepare_data(config)
    assert preview.examples.size == 5
    assert np.all(np.diff(preview.examples) > 0)
    assert np.all(run.is_noisy[preview.examples])
    np.testing.assert_array_equal(preview.example_true, run.true_labels[preview.examples])
    np.testing.assert_array_equal(preview.example_observed, run.observed_labels[preview.examples])
    assert np.all(preview.example_true != preview.example_observed)
    assert preview.example_images.shape == (5, 8, 8) and preview.example_images.dtype == np.uint8
    np.testing.assert_array_equal(preview.example_images[0], run.data.display_image(int(preview.examples[0])))


def test_preview_is_deterministic_for_a_seed(symmetric):
    config, preview = symmetric
    again = noise_preview(config, examples=5)
    np.testing.assert_array_equal(again.examples, preview.examples)
    np.testing.assert_array_equal(again.counts, preview.counts)


def test_preview_of_imbalanced_noise_is_two_class():
    preview = noise_preview(_config(NoiseSpec.imbalanced((3, 8), rate=0.3)), examples=3)
    assert preview.num_classes == 2 and preview.class_names == ("3", "8")
    assert preview.expected_rate == 0.3
    assert preview.counts.sum() == preview.n


def test_preview_of_a_transition_matrix_reports_its_expected_rate():
    matrix = np.eye(10) * 0.7 + 0.3 / 10
    preview = noise_preview(_config(NoiseSpec("matrix", matrix=matrix.tolist())), examples=0)
    assert preview.expected_rate == pytest.approx(0.27)
    assert preview.examples.size == 0 and preview.example_images.shape == (0, 8, 8)


def test_preview_without_noise_has_nothing_wrong():
    preview = noise_preview(_config(NoiseSpec("none")), examples=4)
    assert preview.actual_rate == 0.0 and preview.examples.size == 0
    assert_allclose(np.diag(preview.matrix), 1.0, atol=0)


def test_preview_of_own_labels_shows_images_of_every_class_with_their_labels(tmp_path):
    from PIL import Image

    sizes = {"cat": 7, "dog": 2, "owl": 5}
    for k, (cls, count) in enumerate(sizes.items()):
        (tmp_path / cls).mkdir()
        for i in range(count):
            Image.new("L", (6, 6), color=30 * i + 60 * k).save(tmp_path / cls / f"{i}.png")
    config = ExperimentConfig(
        dataset="imagefolder", data_root=str(tmp_path), noise=NoiseSpec("none"), L=1, data_options={"test_fraction": 0}
    )
    preview = noise_preview(config, examples=7)
    run = prepare_data(config)
    assert not preview.labels_known
    assert preview.class_counts.tolist() == [7, 2, 5]
    # Round robin over the classes: both of the small class's samples, the rest split between the others.
    assert preview.examples.size == 7 and np.all(np.diff(preview.examples) > 0)
    assert np.bincount(run.observed_labels[preview.examples], minlength=3).tolist() == [3, 2, 2]
    np.testing.assert_array_equal(preview.example_observed, run.observed_labels[preview.examples])
    assert preview.example_images.shape == (7, 6, 6)
    np.testing.assert_array_equal(preview.example_images[-1], run.data.display_image(int(preview.examples[-1])))
    np.testing.assert_array_equal(noise_preview(config, examples=7).examples, preview.examples)


def test_preview_reports_bad_data_as_input_errors(tmp_path):
    with pytest.raises(InputError, match="missing"):
        noise_preview(ExperimentConfig(dataset="cifar10", data_root=str(tmp_path / "nowhere"), L=1))
    empty = tmp_path / "labels.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        noise_preview(ExperimentConfig(dataset="csv", data_root=str(empty), noise=NoiseSpec("none"), L=1))
    with pytest.raises(InputError, match="examples"):
        noise_preview(_config(NoiseSpec("none")), examples=-1)


def test_parse_mapping_reads_names_and_pairs():
    assert parse_mapping(" digits ") == "digits"
    assert parse_mapping("3->5, 5:3") == ((3, 5), (5, 3))
    for bad in ("", "3-5", "a->b", "3->5,"):
        with pytest.raises(InputError):
            parse_mapping(bad)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=8))
def test_parse_mapping_round_trips_written_pairs(pairs):
    text = ", ".join(f"{a}->{b}" for a, b in pairs)
    assert parse_mapping(text) == tuple(pairs)


def test_parse_epochs():
    assert parse_epochs("") is None and parse_epochs(" , ") is None
    assert parse_epochs("5, 10,20") == (5, 10, 20)
    with pytest.raises(InputError, match="whole numbers"):
        parse_epochs("5, ten")
