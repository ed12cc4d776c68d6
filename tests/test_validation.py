"""Tests for inn_core._validation and inn_core._seeds: one set of checks and one seed derivation for the engine."""

import numpy as np
import pytest
import torch

from inn_core._seeds import role_seed, stream_seed
from inn_core._validation import as_generator, as_labels, check_bool, check_int, check_real, check_settings
from inn_core.data.noise import NoiseSpec, inject_noise
from inn_core.errors import InputError


def test_check_int_names_the_argument_and_the_range():
    assert check_int("epochs", np.int64(3), low=1) == 3 and check_int("x", None, allow_none=True) is None
    for value, kwargs, message in [
        (True, {"low": 1}, "epochs must be a positive integer, got True"),
        (2.0, {"low": 0}, "epochs must be a non-negative integer, got 2.0"),
        (0, {"low": 1, "high": 9}, r"epochs must be an integer in \[1, 9\], got 0"),
        (-1, {"low": 1, "allow_none": True}, "epochs must be a positive integer or None, got -1"),
    ]:
        with pytest.raises(InputError, match=message):
            check_int("epochs", value, **kwargs)


def test_check_real_and_bool():
    assert check_real("rate", 1, low=0, high=1) == 1.0
    with pytest.raises(InputError, match=r"test_fraction must be a number in \[0, 1\), got 1.0"):
        check_real("test_fraction", 1.0, low=0, high=1, high_open=True)
    with pytest.raises(InputError, match="must be a number"):
        check_real("rate", float("nan"))
    with pytest.raises(InputError, match="download must be True or False, got 1"):
        check_bool("download", 1)


def test_as_labels_takes_lists_arrays_and_tensors_and_says_what_is_wrong():
    for given in ([1, 0, 2], np.array([1.0, 0.0, 2.0]), torch.tensor([1, 0, 2])):
        out = as_labels(given)
        assert out.dtype == np.int64 and out.tolist() == [1, 0, 2]
    with pytest.raises(InputError, match="non-negative"):
        as_labels([0, -1])
    with pytest.raises(InputError, match="same length"):
        as_labels([0, 1], n=3)
    with pytest.raises(InputError, match="1-D"):
        as_labels([[0, 1]])


def test_a_negative_seed_is_an_input_error_everywhere():
    rng = np.random.default_rng(0)
    assert as_generator(rng) is rng
    with pytest.raises(InputError, match="random_state must be a non-negative int"):
        as_generator(-1)
    with pytest.raises(InputError, match="random_state must be a non-negative int"):
        inject_noise(np.zeros(10, np.int64), NoiseSpec("symmetric", 0.5), num_classes=2, random_state=-1)


def test_named_streams_keep_the_historic_seeds_and_the_api_matches_an_experiment():
    # Stored runs were seeded with these values: changing a stream would change every result.
    assert [role_seed(3, "model_init", r) for r in ("ce", "ce_ne", "mixup")] == [3011, 3022, 3033]
    assert [role_seed(3, "model_batches", r) for r in ("ce", "ce_ne", "mixup")] == [3017, 3034, 3051]
    assert stream_seed(2, "robust_init", 1) == 2202 and stream_seed(2, "inn_step1_batches", 11) == 2611
    assert stream_seed(0, "gmm", 2 * 7 + 1) == 15


def test_check_settings_names_the_first_unknown_key_and_the_known_ones():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Settings:
        epochs: int = 1
        lr: float = 0.1

    check_settings("toy", {"epochs": 3}, Settings)
    with pytest.raises(InputError, match=r"^unknown toy setting 'colour'; known: epochs, lr$"):
        check_settings("toy", {"lr": 0.2, "colour": "red", "zebra": 1}, Settings)
