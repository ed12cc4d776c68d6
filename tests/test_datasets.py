"""Tests for inn_core.data.datasets: built-in sets, CIFAR pickles, user images and CSVs."""

from __future__ import annotations

import os
import pickle
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image

from inn_core.data.datasets import DATASETS, LabelledData, dataset_options, load_dataset, to_uint8_images
from inn_core.data.pixels import as_model_input
from inn_core.errors import InputError

# ---------------------------------------------------------------------------- fixtures


def _cifar_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)


def _dump(path: Path, content: dict, protocol: int) -> None:
    with path.open("wb") as f:
        pickle.dump(content, f, protocol=protocol)


def write_cifar10(parent: Path, *, protocol: int = 4, bytes_keys: bool = True, per_batch: int = 2) -> dict:
    """Five tiny train batches, a test batch and meta in the real CIFAR-10 layout; returns what was written."""
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    names = ["airplane", "automobile", "bird"]
    train_rows, train_labels = [], []
    for b in range(1, 6):
        rows = _cifar_rows(rng, per_batch)
        labels = [int(v) for v in rng.integers(0, len(names), per_batch)]
        batch = {key("data"): rows, key("labels"): labels, key("batch_label"): f"b{b}"}
        _dump(folder / f"data_batch_{b}", batch, protocol)
        train_rows.append(rows)
        train_labels.extend(labels)
    test_rows = _cifar_rows(rng, 3)
    test_labels = [2, 0, 1]
    _dump(folder / "test_batch", {key("data"): test_rows, key("labels"): test_labels}, protocol)
    _dump(folder / "batches.meta", {key("label_names"): names, key("num_cases_per_batch"): per_batch}, protocol)
    return {
        "folder": folder,
        "train_rows": np.concatenate(train_rows),
        "train_labels": np.asarray(train_labels),
        "test_rows": test_rows,
        "test_labels": np.asarray(test_labels),
        "names": names,
    }


def write_cifar100(parent: Path) -> dict:
    folder = parent / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(11)
    names = ["apple", "aquarium_fish", "baby", "bear"]
    train_rows, test_rows = _cifar_rows(rng, 6), _cifar_rows(rng, 2)
    train_labels, test_labels = [0, 3, 1, 2, 3, 0], [1, 3]
    _dump(folder / "train", {b"data": train_rows, b"fine_labels": train_labels, b"coarse_labels": [0] * 6}, 4)
    _dump(folder / "test", {b"data": test_rows, b"fine_labels": test_labels, b"coarse_labels": [0] * 2}, 4)
    _dump(folder / "meta", {b"fine_label_names": names, b"coarse_label_names": ["x"]}, 4)
    return {
        "train_rows": train_rows,
        "train_labels": np.asarray(train_labels),
        "test_rows": test_rows,
        "test_labels": np.asarray(test_labels),
        "names": names,
    }


def expected_images(rows: np.ndarray) -> np.ndarray:
    """(N, 3, 32, 32) from CIFAR rows, indexed element by element: 1024 R, then G, then B, each row-major."""
    c, r, col = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return rows[:, c * 1024 + r * 32 + col].astype(np.float32) / 255.0


def save_png(path: Path, colour: int | tuple[int, int, int], *, size: tuple[int, int] = (6, 4)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "L" if isinstance(colour, int) else "RGB"
    Image.new(mode, size, colour).save(path)


@pytest.fixture
def rgb_folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    save_png(root / "dog" / "d1.png", (200, 10, 30))
    save_png(root / "dog" / "d2.PNG", (0, 255, 0))
    save_png(root / "dog" / "d3.jpg", (128, 128, 128))
    save_png(root / "cat" / "c1.png", (10, 20, 30))
    save_png(root / "cat" / "c2.png", 90)  # a gray image among colour ones
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def gray_folder(tmp_path: Path) -> Path:
    root = tmp_path / "gray"
    for k, name in enumerate(["a", "b"]):
        for j in range(2):
            save_png(root / name / f"{j}.png", 40 * k + 10 * j + 5)
    return root


@pytest.fixture
def csv_images(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    save_png(root / "img" / "one.png", (255, 0, 0))
    save_png(root / "img" / "two.png", (0, 0, 255))
    save_png(root / "img" / "three.png", (0, 255, 0))
    return root


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------- registry and options


def test_registry_lists_every_loader_and_its_options():
    assert DATASETS == ("digits", "cifar10", "cifar100", "imagefolder", "csv", "hf", "toy2d")
    assert dataset_options("digits") == {"test_fraction": 0.2, "max_samples": None}
    assert set(dataset_options("csv")) == {
        "csv_path",
        "image_root",
        "image_size",
        "grayscale",
        "test_fraction",
        "resize",
        "cache_dir",
    }


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(InputError, match=r"unknown dataset 'mnist'.*digits.*toy2d"):
        load_dataset("mnist")


def test_unknown_option_names_it_and_the_accepted_ones():
    with pytest.raises(InputError, match=r"no option 'image_size'.*max_samples.*test_fraction"):
        load_dataset("digits", image_size=16)


def test_root_for_a_built_in_set_is_refused():
    with pytest.raises(InputError, match="leave root unset"):
        load_dataset("digits", root="/tmp")


@pytest.mark.parametrize("bad", [-1, 1.5, True, "0"])
def test_bad_random_state_is_refused(bad):
    with pytest.raises(InputError, match="random_state"):
        load_dataset("toy2d", random_state=bad)


# ---------------------------------------------------------------------------- digits


def test_digits_shapes_ranges_and_names():
    data = load_dataset("digits")
    assert data.images.shape == (data.n, 1, 8, 8) and data.images.dtype == torch.float32
    assert data.n + len(data.test_images) == 1797
    assert len(data.test_images) == 360  # ceil(0.2 * 1797)
    assert float(data.images.min()) == 0.0 and float(data.images.max()) == 1.0
    # Raw values are counts 0..16, so every pixel is a multiple of 1/16.
    assert_allclose((data.images * 16).numpy(), np.round(data.images.numpy() * 16), atol=1e-5)
    assert data.class_names == tuple("0123456789")
    assert (data.num_classes, data.in_channels, data.image_size, data.is_image) == (10, 1, 8, True)
    assert data.labels_trusted and data.sources is None


def test_digits_split_is_deterministic_and_seeded():
    a, b = load_dataset("digits", random_state=3), load_dataset("digits", random_state=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.test_labels, b.test_labels)
    c = load_dataset("digits", random_state=4)
    assert not torch.equal(a.images, c.images)
    from_generator = load_dataset("digits", random_state=np.random.default_rng(3))
    assert torch.equal(a.images, from_generator.images)


def test_digits_split_is_stratified():
    data = load_dataset("digits", test_fraction=0.25)
    train = np.bincount(data.true_labels.numpy(), minlength=10)
    test = np.bincount(data.test_labels.numpy(), minlength=10)
    share = test / (train + test)
    assert_allclose(share, 0.25, atol=0.02)


def test_digits_without_test_split():
    data = load_dataset("digits", test_fraction=0.0)
    assert data.n == 1797 and data.test_images is None and data.test_labels is None


@cache
def _digit_counts() -> np.ndarray:
    return np.bincount(load_dataset("digits", test_fraction=0.0).true_labels.numpy(), minlength=10)


@settings(max_examples=25, deadline=None)
@given(max_samples=st.integers(1, 2000))
def test_digits_max_samples_keeps_class_shares(max_samples):
    data = load_dataset("digits", max_samples=max_samples, test_fraction=0.0)
    full = _digit_counts()
    assert data.n == min(max_samples, 1797)
    counts = np.bincount(data.true_labels.numpy(), minlength=10)
    assert np.all(np.abs(counts - full * data.n / 1797) < 1.0 + 1e-9)
    assert data.test_images is None


@pytest.mark.parametrize(("option", "value"), [("test_fraction", 1.0), ("test_fraction", -0.1), ("max_samples", 0)])
def test_digits_bad_options(option, value):
    with pytest.raises(InputError, match=option):
        load_dataset("digits", **{option: value})


# ---------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize(("protocol", "bytes_keys"), [(2, False), (4, True), (5, True)])
def test_cifar10_round_trip(tmp_path, protocol, bytes_keys):
    written = write_cifar10(tmp_path, protocol=protocol, bytes_keys=bytes_keys)
    data = load_dataset("cifar10", root=tmp_path)
    assert data.images.shape == (10, 3, 32, 32) and data.images.dtype == torch.uint8
    assert_allclose(as_model_input(data.images).numpy(), expected_images(written["train_rows"]), rtol=0, atol=1e-7)
    assert_array_equal(data.true_labels.numpy(), written["train_labels"])
    assert_allclose(as_model_input(data.test_images).numpy(), expected_images(written["test_rows"]), rtol=0, atol=1e-7)
    assert_array_equal(data.test_labels.numpy(), written["test_labels"])
    assert data.class_names == tuple(written["names"]) and data.true_labels.dtype == torch.int64


def test_cifar_pickles_written_by_numpy_1_load(tmp_path):
    written = write_cifar10(tmp_path, protocol=2, bytes_keys=False)
    batch = written["folder"] / "data_batch_1"
    # Protocol 2 names globals as text; numpy 1 wrote numpy.core where numpy 2 writes numpy._core.
    raw = batch.read_bytes().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n_reconstruct" in raw
    batch.write_bytes(raw)
    data = load_dataset("cifar10", root=tmp_path)
    assert_allclose(as_model_input(data.images).numpy(), expected_images(written["train_rows"]), rtol=0, atol=1e-7)


def test_cifar_channel_layout_on_a_known_image(tmp_path):
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    row = np.zeros((2, 3072), dtype=np.uint8)
    row[0, 0] = 255  # red, top-left
    row[0, 1024 + 31] = 128  # green, top-right
    row[0, 2048 + 32 * 31] = 64  # blue, bottom-left
    _dump(folder / "data_batch_1", {b"data": row, b"labels": [0, 1]}, 4)
    image = load_dataset("cifar10", root=folder).display_image(0)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == (255, 0, 0)
    assert tuple(image[0, 31]) == (0, 128, 0)
    assert tuple(image[31, 0]) == (0, 0, 64)
    assert int(image.sum()) == 255 + 128 + 64


def test_cifar100_round_trip_with_root_at_the_batches_folder(tmp_path):
    written = write_cifar100(tmp_path)
    data = load_dataset("cifar100", root=tmp_path / "cifar-100-python")
    assert_allclose(as_model_input(data.images).numpy(), expected_images(written["train_rows"]), rtol=0, atol=1e-7)
    assert_array_equal(data.true_labels.numpy(), written["train_labels"])
    assert_allclose(as_model_input(data.test_images).numpy(), expected_images(written["test_rows"]), rtol=0, atol=1e-7)
    assert_array_equal(data.test_labels.numpy(), written["test_labels"])
    assert data.class_names == tuple(written["names"])


def test_cifar_max_samples_subsamples_the_train_split(tmp_path):
    written = write_cifar10(tmp_path, per_batch=6)
    data = load_dataset("cifar10", root=tmp_path, max_samples=9, random_state=1)
    assert data.n == 9 and len(data.test_images) == 3
    # Every kept image is one of the written rows with its own label.
    rows = (as_model_input(data.images).numpy().reshape(9, -1) * 255).round().astype(np.uint8)
    written_rows = written["train_rows"]
    matches = [int(np.flatnonzero((written_rows == r).all(axis=1))[0]) for r in rows]
    assert_array_equal(data.true_labels.numpy(), written["train_labels"][matches])


def test_cifar_missing_root_names_the_path_and_download(tmp_path):
    with pytest.raises(InputError, match=r"cifar-10-batches-py is missing.*download=True"):
        load_dataset("cifar10", root=tmp_path / "nowhere")
    with pytest.raises(InputError, match="root="):
        load_dataset("cifar100")


def test_cifar_missing_file_is_named(tmp_path):
    written = write_cifar10(tmp_path)
    (written["folder"] / "data_batch_4").unlink()
    with pytest.raises(InputError, match=r"data_batch_4 is missing"):
        load_dataset("cifar10", root=tmp_path)


def test_cifar_pickle_cannot_run_code(tmp_path):
    written = write_cifar10(tmp_path)
    target = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.makedirs, (str(target),))

    _dump(written["folder"] / "batches.meta", {b"label_names": Payload()}, 4)
    with pytest.raises(InputError, match="batches.meta is not a readable CIFAR"):
        load_dataset("cifar10", root=tmp_path)
    assert not target.exists()


def test_cifar_download_goes_through_torchvision_then_the_same_reader(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    def fake_cifar10(root, train, download):
        calls.append((root, train, download))
        write_cifar10(Path(root))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fake_cifar10)
    data = load_dataset("cifar10", root=tmp_path, download=True)
    assert calls == [(str(tmp_path), True, True)]
    assert data.n == 10 and data.class_names == ("airplane", "automobile", "bird")


# ---------------------------------------------------------------------------- imagefolder


def test_imagefolder_reads_classes_resizes_and_keeps_sources(rgb_folder):
    data = load_dataset("imagefolder", root=rgb_folder, image_size=8)
    assert data.class_names == ("cat", "dog")
    assert data.images.shape == (5, 3, 8, 8)
    assert_array_equal(data.true_labels.numpy(), [0, 0, 1, 1, 1])
    assert data.sources == ("cat/c1.png", "cat/c2.png", "dog/d1.png", "dog/d2.PNG", "dog/d3.jpg")
    assert not data.labels_trusted and data.test_images is None
    # Solid colours stay exact through resizing; the gray image becomes equal RGB channels.
    assert_allclose(as_model_input(data.images)[0].mean(dim=(1, 2)).numpy(), np.array([10, 20, 30]) / 255, atol=1e-6)
    assert_allclose(as_model_input(data.images)[1].numpy(), np.full((3, 8, 8), 90 / 255, dtype=np.float32), atol=1e-6)
    assert_allclose(as_model_input(data.images)[2].mean(dim=(1, 2)).numpy(), np.array([200, 10, 30]) / 255, atol=1e-6)


def test_imagefolder_all_gray_gives_one_channel(gray_folder):
    data = load_dataset("imagefolder", root=gray_folder, image_size=5)
    assert data.images.shape == (4, 1, 5, 5) and data.in_channels == 1
    assert_allclose(as_model_input(data.images).mean(dim=(1, 2, 3)).numpy(), np.array([5, 15, 45, 55]) / 255, atol=1e-6)
    assert data.display_image(3).shape == (5, 5)


def test_imagefolder_grayscale_can_be_forced(rgb_folder, gray_folder):
    forced = load_dataset("imagefolder", root=rgb_folder, grayscale=True, image_size=4)
    assert forced.images.shape == (5, 1, 4, 4)
    # ITU-R 601 luma of (0, 255, 0) is 0.587 * 255, as PIL converts.
    assert_allclose(float(as_model_input(forced.images)[3].mean()), round(0.587 * 255) / 255, atol=1.5 / 255)
    colour = load_dataset("imagefolder", root=gray_folder, grayscale=False, image_size=4)
    assert colour.images.shape == (4, 3, 4, 4)


def test_imagefolder_test_fraction_is_stratified(rgb_folder):
    data = load_dataset("imagefolder", root=rgb_folder, test_fraction=0.4, image_size=4)
    assert (data.n, len(data.test_images)) == (3, 2)
    assert sorted(data.test_labels.tolist()) == [0, 1]
    assert len(data.sources) == 3


def test_imagefolder_missing_root(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_dataset("imagefolder", root=tmp_path / "nope")


def test_imagefolder_without_class_folders(tmp_path):
    save_png(tmp_path / "loose.png", 3)
    with pytest.raises(InputError, match="no class sub-folders"):
        load_dataset("imagefolder", root=tmp_path)


def test_imagefolder_empty_class_folder_is_named(rgb_folder):
    (rgb_folder / "emu").mkdir()
    (rgb_folder / "emu" / "readme.txt").write_text("no pictures yet")
    with pytest.raises(InputError, match=r"class folder .*emu has no images"):
        load_dataset("imagefolder", root=rgb_folder)


def test_imagefolder_unreadable_file_is_named(rgb_folder):
    (rgb_folder / "dog" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(InputError, match=r"cannot read image .*broken\.png"):
        load_dataset("imagefolder", root=rgb_folder)


def test_imagefolder_needs_two_classes(tmp_path):
    save_png(tmp_path / "only" / "a.png", 1)
    with pytest.raises(InputError, match="only one class"):
        load_dataset("imagefolder", root=tmp_path)


@pytest.mark.parametrize("size", [0, 2000, 3.5])
def test_imagefolder_bad_image_size(gray_folder, size):
    with pytest.raises(InputError, match="image_size"):
        load_dataset("imagefolder", root=gray_folder, image_size=size)


# ---------------------------------------------------------------------------- csv


def test_csv_with_class_names(csv_images):
    rows = "filepath,label\nimg/one.png,zebra\nimg/two.png,ant\nimg/three.png,zebra\n"
    table = write_csv(csv_images / "labels.csv", rows)
    data = load_dataset("csv", csv_path=table, image_size=4)
    assert data.class_names == ("ant", "zebra")
    assert_array_equal(data.true_labels.numpy(), [1, 0, 1])
    assert data.sources == ("img/one.png", "img/two.png", "img/three.png")
    assert not data.labels_trusted and data.images.shape == (3, 3, 4, 4)
    assert_allclose(as_model_input(data.images)[1, :, 0, 0].numpy(), [0.0, 0.0, 1.0], atol=1e-6)


def test_csv_with_integer_labels_sorts_by_value(csv_images):
    table = write_csv(csv_images / "labels.csv", "label,filepath\n10,img/one.png\n2,img/two.png\n10,img/three.png\n")
    data = load_dataset("csv", root=table, image_size=4)
    assert data.class_names == ("2", "10")
    assert_array_equal(data.true_labels.numpy(), [1, 0, 1])


def test_csv_image_root_option(csv_images, tmp_path):
    table = write_csv(tmp_path / "elsewhere.csv", "filepath,label\none.png,a\ntwo.png,b\n")
    data = load_dataset("csv", csv_path=table, image_root=csv_images / "img", image_size=2)
    assert data.n == 2 and data.class_names == ("a", "b")


def test_csv_missing_column_names_it_and_the_columns_found(csv_images):
    table = write_csv(csv_images / "labels.csv", "path,label\nimg/one.png,a\n")
    with pytest.raises(InputError, match=r"no 'filepath' column; found columns \['path', 'label'\]"):
        load_dataset("csv", csv_path=table)


def test_csv_unknown_paths_are_named(csv_images):
    table = write_csv(csv_images / "labels.csv", "filepath,label\nimg/one.png,a\nimg/gone.png,b\nimg/lost.png,b\n")
    with pytest.raises(InputError, match=r"2 image path\(s\).*'img/gone.png', 'img/lost.png'"):
        load_dataset("csv", csv_path=table)


@pytest.mark.parametrize("escape", ["../outside.png", "img/../../outside.png", "/etc/passwd"])
def test_csv_paths_cannot_leave_the_image_root(csv_images, escape):
    save_png(csv_images.parent / "outside.png", 1)
    table = write_csv(csv_images / "labels.csv", f"filepath,label\nimg/one.png,a\n{escape},b\n")
    with pytest.raises(InputError, match="leads outside the image root"):
        load_dataset("csv", csv_path=table)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is empty"), ("filepath,label\n", "no rows"), ("filepath,label\nimg/one.png,\n", "row 2")],
)
def test_csv_empty_or_incomplete(csv_images, text, message):
    table = write_csv(csv_images / "labels.csv", text)
    with pytest.raises(InputError, match=message):
        load_dataset("csv", csv_path=table)


def test_csv_missing_file_and_single_class(csv_images):
    with pytest.raises(InputError, match="does not exist"):
        load_dataset("csv", csv_path=csv_images / "absent.csv")
    table = write_csv(csv_images / "labels.csv", "filepath,label\nimg/one.png,a\nimg/two.png,a\n")
    with pytest.raises(InputError, match="only one class"):
        load_dataset("csv", csv_path=table)


def test_csv_unreadable_image_is_named(csv_images):
    (csv_images / "img" / "bad.png").write_bytes(b"\x89PNG broken")
    table = write_csv(csv_images / "labels.csv", "filepath,label\nimg/one.png,a\nimg/bad.png,b\n")
    with pytest.raises(InputError, match=r"cannot read image .*bad\.png"):
        load_dataset("csv", csv_path=table)


# ---------------------------------------------------------------------------- toy2d


@pytest.mark.parametrize("kind", ["blobs", "moons"])
def test_toy2d_is_seeded_standardised_and_balanced(kind):
    a = load_dataset("toy2d", kind=kind, n_samples=120, random_state=5)
    b = load_dataset("toy2d", kind=kind, n_samples=120, random_state=5)
    c = load_dataset("toy2d", kind=kind, n_samples=120, random_state=6)
    assert torch.equal(a.images, b.images) and torch.equal(a.true_labels, b.true_labels)
    assert not torch.equal(a.images, c.images)
    assert a.images.shape == (120, 2) and a.images.dtype == torch.float32
    assert_allclose(a.images.mean(0).numpy(), 0.0, atol=1e-5)
    assert_allclose(a.images.std(0, unbiased=False).numpy(), 1.0, atol=1e-4)
    k = 3 if kind == "blobs" else 2
    assert a.class_names == tuple(f"class {i}" for i in range(k))
    assert_array_equal(np.bincount(a.true_labels.numpy()), [120 // k] * k)
    assert (a.is_image, a.in_channels, a.image_size, a.test_images) == (False, None, None, None)


def test_toy2d_blobs_separate_when_tight():
    data = load_dataset("toy2d", num_classes=4, spread=0.05, n_samples=200)
    centroids = torch.stack([data.images[data.true_labels == k].mean(0) for k in range(4)])
    nearest = torch.cdist(data.images, centroids).argmin(1)
    assert torch.equal(nearest, data.true_labels)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "moons", "num_classes": 3}, "always has 2"),
        ({"kind": "spiral"}, "kind"),
        ({"spread": 0}, "spread"),
        ({"num_classes": 1}, "num_classes"),
        ({"n_samples": 3}, "n_samples"),
    ],
)
def test_toy2d_bad_options(options, message):
    with pytest.raises(InputError, match=message):
        load_dataset("toy2d", **options)


def test_display_image_refuses_features_and_bad_indices():
    with pytest.raises(InputError, match="feature vectors"):
        load_dataset("toy2d").display_image(0)
    digits = load_dataset("digits", max_samples=20)
    image = digits.display_image(19)
    assert image.dtype == np.uint8 and image.shape == (8, 8)
    assert_array_equal(image, np.round(digits.images[19, 0].numpy() * 255).astype(np.uint8))
    with pytest.raises(InputError, match=r"\[0, 20\)"):
        digits.display_image(20)


# ---------------------------------------------------------------------------- to_uint8_images


def test_to_uint8_images_layouts_and_clipping():
    gray = torch.tensor([[[[-0.5, 0.0], [0.5, 1.7]]]])
    assert_array_equal(to_uint8_images(gray), [[[0, 0], [128, 255]]])
    rgb = torch.zeros(2, 3, 2, 2)
    rgb[1, 2, 0, 1] = 1.0
    out = to_uint8_images(rgb)
    assert out.shape == (2, 2, 2, 3) and out.dtype == np.uint8
    assert out[1, 0, 1, 2] == 255 and int(out.sum()) == 255
    with pytest.raises(InputError, match="C in"):
        to_uint8_images(torch.zeros(1, 2, 4, 4))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, width=32), min_size=3, max_size=3))
def test_to_uint8_images_is_within_half_a_step(values):
    x = torch.tensor(values, dtype=torch.float32).reshape(1, 3, 1, 1)
    out = to_uint8_images(x).astype(np.float64).reshape(3)
    assert_allclose(out / 255, np.asarray(values, dtype=np.float64), atol=0.5 / 255 + 1e-7, rtol=0)


# ---------------------------------------------------------------------------- LabelledData and subset


def _tiny(**overrides) -> LabelledData:
    fields = dict(
        name="tiny",
        images=torch.linspace(0, 1, 4 * 4).reshape(4, 1, 2, 2),
        true_labels=torch.tensor([0, 1, 2, 1]),
        class_names=("a", "b", "c"),
        test_images=torch.zeros(2, 1, 2, 2),
        test_labels=torch.tensor([2, 0]),
        sources=("w.png", "x.png", "y.png", "z.png"),
    )
    return LabelledData(**{**fields, **overrides})


def test_subset_selects_samples_and_keeps_the_test_split():
    data = _tiny()
    part = data.subset([3, 0])
    assert torch.equal(part.images, data.images[[3, 0]])
    assert part.true_labels.tolist() == [1, 0] and part.sources == ("z.png", "w.png")
    assert part.test_images is data.test_images and part.class_names == data.class_names
    masked = data.subset(np.array([False, True, True, False]))
    assert masked.true_labels.tolist() == [1, 2]


def test_subset_relabels_and_drops_the_old_test_split():
    data = _tiny()
    pair = data.subset(torch.tensor([0, 2, 2]), true_labels=[0, 1, 1], class_names=["a", "c"])
    assert pair.class_names == ("a", "c") and pair.true_labels.tolist() == [0, 1, 1]
    assert pair.test_images is None and pair.test_labels is None
    assert data.n == 4  # the original is untouched


@pytest.mark.parametrize("indices", [[4], [-1], [0.5]])
def test_subset_rejects_bad_indices(indices):
    with pytest.raises(InputError, match="indices"):
        _tiny().subset(indices)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"class_names": ("a",), "true_labels": torch.zeros(4, dtype=torch.int64)}, "at least two classes"),
        ({"class_names": ("a", "a", "b")}, "distinct"),
        ({"true_labels": torch.tensor([0, 1, 3, 1])}, r"in \[0, 3\)"),
        ({"true_labels": torch.tensor([0.0, 1.0, 2.0, 1.0])}, "int64"),
        ({"images": torch.full((4, 1, 2, 2), 1.5)}, r"\[0, 1\]"),
        ({"images": torch.zeros(4, 2, 2, 2)}, "1 or 3 channels"),
        ({"test_images": torch.zeros(2, 1, 3, 3)}, "per-sample shape"),
        ({"test_labels": None}, "together"),
        ({"sources": ("one",)}, "one file per sample"),
    ],
)
def test_labelled_data_validation(overrides, message):
    with pytest.raises(InputError, match=message):
        _tiny(**overrides)


def test_labelled_data_properties_and_repr():
    data = _tiny(class_names=["a", "b", "c"])
    assert data.class_names == ("a", "b", "c")
    assert (data.n, data.num_classes, data.in_channels, data.image_size) == (4, 3, 1, 2)
    assert "n=4" in repr(data) and "tensor" not in repr(data)
