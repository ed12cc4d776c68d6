"""Hugging Face datasets: save_to_disk folders, Dataset objects, columns and class names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from PIL import Image as PILImage

datasets = pytest.importorskip("datasets", reason="datasets is a runtime requirement (requirements.txt)")

from inn_core.data.datasets import load_dataset  # noqa: E402
from inn_core.data.hf import from_hf_dataset  # noqa: E402
from inn_core.errors import InputError  # noqa: E402


def _tiny(n=6, names=("cat", "dog", "eel"), image="image", label="label"):
    images = [PILImage.new("RGB", (5, 5), (10 * i, 0, 0)) for i in range(n)]
    features = datasets.Features({image: datasets.Image(), label: datasets.ClassLabel(names=list(names))})
    return datasets.Dataset.from_dict({image: images, label: [i % len(names) for i in range(n)]}, features=features)


def test_save_to_disk_folder_loads_with_class_names(tmp_path):
    _tiny().save_to_disk(str(tmp_path / "hf"))
    data = load_dataset("hf", root=tmp_path / "hf", cache_dir=tmp_path / "cache")
    assert data.class_names == ("cat", "dog", "eel") and not data.labels_trusted
    assert data.images.dtype == torch.uint8 and data.images.shape == (6, 3, 5, 5)
    assert_array_equal(data.true_labels.numpy(), [0, 1, 2, 0, 1, 2])
    assert_array_equal(data.images[:, 0, 2, 2].numpy(), [0, 10, 20, 30, 40, 50])
    again = load_dataset("hf", root=tmp_path / "hf", cache_dir=tmp_path / "cache")
    assert torch.equal(again.images, data.images)


def test_dataset_dict_uses_train_and_test_splits_and_named_columns(tmp_path):
    dd = datasets.DatasetDict({"train": _tiny(6, image="img", label="y"), "test": _tiny(3, image="img", label="y")})
    dd.save_to_disk(str(tmp_path / "hf"))
    data = load_dataset(
        "hf", root=tmp_path / "hf", image_column="img", label_column="y", image_size=4, cache_dir=tmp_path / "cache"
    )
    assert data.images.shape == (6, 3, 4, 4) and data.test_images.shape == (3, 3, 4, 4)


def test_missing_column_is_one_clear_error(tmp_path):
    _tiny(image="picture").save_to_disk(str(tmp_path / "hf"))
    with pytest.raises(InputError, match=r"no column 'image' \(image_column\).*\['picture', 'label'\]"):
        load_dataset("hf", root=tmp_path / "hf")


def test_not_a_save_to_disk_folder(tmp_path):
    with pytest.raises(InputError, match="not a Hugging Face save_to_disk folder"):
        load_dataset("hf", root=tmp_path)


def test_dataset_object_with_integer_labels_and_array_images():
    ds = datasets.Dataset.from_dict(
        {"image": [np.full((4, 4), 7 * i, np.uint8) for i in range(4)], "label": [3, 5, 3, 5]}
    )
    data = from_hf_dataset(ds)
    assert data.class_names == ("3", "5") and data.images.shape == (4, 1, 4, 4)
    assert_array_equal(data.true_labels.numpy(), [0, 1, 0, 1])
