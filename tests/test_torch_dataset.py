"""torch Datasets (torchvision ImageFolder included) as labelled images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from numpy.testing import assert_array_equal
from PIL import Image

from inn_core.data.torch_dataset import as_labelled_data, from_torch_dataset
from inn_core.errors import InputError


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, n=6, target=None):
        self.n, self.target = n, target

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.full((3, 4, 4), i / 10.0), self.target if self.target is not None else i % 2


def test_plain_dataset_of_float_tensors():
    data = from_torch_dataset(_Pairs())
    assert data.images.dtype == torch.uint8 and data.images.shape == (6, 3, 4, 4)
    assert_array_equal(data.images[:, 0, 0, 0].numpy(), np.round(np.arange(6) / 10 * 255))
    assert data.class_names == ("0", "1")


def test_image_folder_is_read_from_its_files(tmp_path):
    for k, cls in enumerate(("ant", "bee")):
        for j in range(2):
            (tmp_path / cls).mkdir(exist_ok=True)
            Image.new("RGB", (8, 8), (100 * k, 5 * j, 0)).save(tmp_path / cls / f"{j}.png")
    ds = torchvision.datasets.ImageFolder(str(tmp_path))
    data = as_labelled_data(ds, image_size=4)
    assert data.class_names == ("ant", "bee") and data.images.shape == (4, 3, 4, 4)
    assert_array_equal(data.true_labels.numpy(), ds.targets)
    assert_array_equal(data.images[:, 0, 0, 0].numpy(), [0, 0, 100, 100])


def test_bad_target_is_one_clear_error():
    with pytest.raises(InputError, match="target must be an integer class index"):
        from_torch_dataset(_Pairs(target="cat"))


def test_find_noisy_labels_takes_a_dataset_object():
    import inn_core

    result = inn_core.find_noisy_labels(dataset=_Pairs(n=10), epochs=1, L=2, H=1, device="cpu", random_state=0)
    assert result.scores.shape == (10,) and result.neighbor_indices.shape == (10, 2)
    same = inn_core.find_noisy_labels(_Pairs(n=10), epochs=1, L=2, H=1, device="cpu", random_state=0)
    np.testing.assert_array_equal(result.scores, same.scores)
    with pytest.raises(InputError, match="embeddings as features=, or dataset="):
        inn_core.find_noisy_labels(labels=[0, 1])
