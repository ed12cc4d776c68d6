"""The on-disk image cache: decoded once, reused, rebuilt when a file changes; resize modes; recursion."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from PIL import Image

from inn_core.data.cache import cached_file_images, decode_progress
from inn_core.data.datasets import load_dataset
from inn_core.data.images import fit_image
from inn_core.data.pixels import as_model_input
from inn_core.errors import InputError


def _write(path, value, size=(6, 6), mode="L", fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path, format=fmt)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "data"
    _write(root / "cat" / "a.png", 10)
    _write(root / "cat" / "deep" / "er" / "b.TIF", 20, fmt="TIFF")  # recursive, upper-case extension
    _write(root / "dog" / "c.JPEG", 200, fmt="JPEG")
    _write(root / "dog" / "d.bmp", 150, fmt="BMP")
    _write(root / "dog" / "e.webp", 90, fmt="WEBP")
    _write(root / "dog" / "f.gif", 60, fmt="GIF")
    return root


def test_folder_is_decoded_to_uint8_recursively_at_native_size(folder, tmp_path):
    data = load_dataset("imagefolder", root=folder, cache_dir=tmp_path / "cache", grayscale=True)
    assert data.images.dtype == torch.uint8 and data.images.shape == (6, 1, 6, 6)  # native 6 px, no upscaling
    assert data.sources == ("cat/a.png", "cat/deep/er/b.TIF", "dog/c.JPEG", "dog/d.bmp", "dog/e.webp", "dog/f.gif")
    assert_array_equal(data.true_labels.numpy(), [0, 0, 1, 1, 1, 1])
    assert int(data.images[1].float().mean()) == 20
    assert_array_equal(as_model_input(data.images)[0].numpy(), np.full((1, 6, 6), np.float32(10) / np.float32(255)))


def test_cache_is_reused_and_rebuilt_when_a_file_changes(folder, tmp_path):
    cache = tmp_path / "cache"
    calls = []
    with decode_progress(lambda done, total: calls.append((done, total))):
        first = load_dataset("imagefolder", root=folder, cache_dir=cache, image_size=4)  # GIF is mode P: colour
    assert calls and calls[-1] == (6, 6)
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    index = json.loads((entry / "index.json").read_text())
    assert len(index["files"]) == 6 and all(len(f) == 3 for f in index["files"]) and index["shape"] == [6, 3, 4, 4]
    calls.clear()
    with decode_progress(lambda done, total: calls.append((done, total))):
        again = load_dataset("imagefolder", root=folder, cache_dir=cache, image_size=4)
    assert calls == []  # nothing decoded: read back from the memory-mapped cache
    assert torch.equal(first.images, again.images)
    # Change one file (new content, new mtime): the entry is rebuilt with the new pixels.
    _write(folder / "cat" / "a.png", 99)
    os.utime(folder / "cat" / "a.png", ns=(1, 1))
    with decode_progress(lambda done, total: calls.append((done, total))):
        changed = load_dataset("imagefolder", root=folder, cache_dir=cache, image_size=4)
    assert calls[-1] == (6, 6) and int(changed.images[0, 0, 0, 0]) == 99 and first.images.shape[1] == 3
    assert [p for p in cache.iterdir() if not p.name.startswith(".")] == [entry]


def test_no_cache_decodes_in_memory(folder, tmp_path):
    data = load_dataset("imagefolder", root=folder, cache_dir=False, image_size=3, grayscale=False)
    assert data.images.shape == (6, 3, 3, 3) and data.images.dtype == torch.uint8
    assert not (tmp_path / "cache").exists()


def test_crop_keeps_the_aspect_ratio_and_stretch_does_not():
    img = Image.new("L", (20, 10), 0)
    img.paste(255, (5, 0, 15, 10))  # a centred 10x10 white square on a wide black image
    cropped, _ = fit_image(img, 10, grayscale=True, resize="crop")
    stretched, _ = fit_image(img, 10, grayscale=True, resize="stretch")
    assert cropped.shape == stretched.shape == (10, 10)
    assert cropped.min() == 255  # the centre crop is the white square only
    assert stretched[:, 0].max() == 0 and stretched[:, 5].min() == 255


def test_bad_resize_mode_is_one_clear_error(folder):
    with pytest.raises(InputError, match="resize must be one of 'stretch', 'crop'"):
        load_dataset("imagefolder", root=folder, resize="fit")


def test_unreadable_file_is_one_clear_error(folder, tmp_path):
    (folder / "dog" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"cannot read image .*broken\.png"):
        cached_file_images(
            sorted((folder / "dog").iterdir()), size=4, grayscale=None, resize="stretch", cache_dir=tmp_path / "c"
        )
    assert not any(p.name.endswith("images.npy") for p in (tmp_path / "c").rglob("*"))
