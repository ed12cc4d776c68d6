"""Uploaded archives: unpacked only inside their folder, within limits, and recognised as a dataset."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from inn_core.data.archive import detect_dataset, import_archive, unpack_archive, uploads_folder
from inn_core.errors import InputError


def png_bytes(value: int, size: int = 6) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def make_tar(
    members: dict[str, bytes], *, mode: str = "w:gz", links: dict[str, tuple[bytes, str]] | None = None
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            archive.addfile(info)
    return buf.getvalue()


def class_folders(prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}{cls}/{i}.png": png_bytes(40 * k + i) for k, cls in enumerate(("cat", "dog")) for i in range(3)}


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_zip_of_class_folders_becomes_an_imagefolder(tmp_path):
    data = import_archive(tmp_path, "pets.zip", make_zip(class_folders("pets/")))
    assert data.dataset == "imagefolder"
    assert data.root == tmp_path / "uploads" / "pets" / "pets"
    assert data.n == 6
    assert data.class_names == ("cat", "dog")
    assert data.class_counts == (3, 3)


def test_tar_gz_with_a_csv_becomes_a_csv_dataset(tmp_path):
    members = {
        "img/a.png": png_bytes(10),
        "img/b.png": png_bytes(200),
        "img/c.png": png_bytes(90),
        "labels.csv": b"filepath,label\nimg/a.png,0\nimg/b.png,1\nimg/c.png,1\n",
    }
    data = import_archive(tmp_path, "mine.tar.gz", make_tar(members), name="my data")
    assert data.dataset == "csv"
    assert data.root == tmp_path / "uploads" / "my_data" / "labels.csv"
    assert data.class_counts == (1, 2)


@pytest.mark.parametrize("bad", ["../evil.png", "cat/../../evil.png", "/etc/evil.png", "C:/evil.png", "..\\evil.png"])
def test_members_escaping_the_folder_are_refused_and_nothing_is_written(tmp_path, bad):
    target = tmp_path / "home" / "uploads" / "x"
    with pytest.raises(InputError, match="archive member") as info:
        unpack_archive(make_zip({"cat/a.png": png_bytes(1), bad: b"pwned"}), target, name="x.zip")
    assert repr(bad) in str(info.value)
    assert not target.exists()
    assert files_under(tmp_path) == set()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_links_are_refused(tmp_path, kind):
    archive = make_tar({"cat/a.png": png_bytes(1)}, links={"cat/link.png": (kind, "/etc/passwd")})
    with pytest.raises(InputError, match="'cat/link.png' is a link"):
        unpack_archive(archive, tmp_path / "x", name="x.tgz")
    assert not (tmp_path / "x").exists()


def test_zip_symlinks_are_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        info = zipfile.ZipInfo("cat/link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(InputError, match="'cat/link.png' is a symbolic link"):
        unpack_archive(buf.getvalue(), tmp_path / "x", name="x.zip")
    assert not (tmp_path / "x").exists()


def test_size_and_member_limits(tmp_path):
    archive = make_zip({f"c/{i}.png": b"x" * 100 for i in range(5)})
    with pytest.raises(InputError, match="more than 4 members"):
        unpack_archive(archive, tmp_path / "a", name="a.zip", max_members=4)
    with pytest.raises(InputError, match="more than 450 bytes"):
        unpack_archive(archive, tmp_path / "b", name="b.zip", max_bytes=450)
    with pytest.raises(InputError, match="more than the 10 allowed"):
        import_archive(tmp_path, "c.zip", archive, max_archive_bytes=10)
    assert not (tmp_path / "uploads").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert files_under(unpack_archive(archive, tmp_path / "d", name="d.zip", max_members=5, max_bytes=500)) == {
        f"c/{i}.png" for i in range(5)
    }


def test_corrupt_and_unsupported_archives(tmp_path):
    with pytest.raises(InputError, match="not a readable zip archive"):
        unpack_archive(b"not a zip at all", tmp_path / "a", name="a.zip")
    with pytest.raises(InputError, match="not a readable tar archive"):
        unpack_archive(b"not a tar at all" * 40, tmp_path / "b", name="b.tar.gz")
    with pytest.raises(InputError, match="not a supported archive"):
        unpack_archive(b"", tmp_path / "c", name="c.rar")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_upload_is_never_overwritten(tmp_path):
    first = import_archive(tmp_path, "pets.zip", make_zip(class_folders()))
    before = files_under(first.root)
    with pytest.raises(InputError, match="already exists"):
        import_archive(tmp_path, "pets.zip", make_zip({"a/x.png": png_bytes(3), "b/y.png": png_bytes(4)}))
    assert files_under(first.root) == before


def test_bad_data_inside_a_good_archive_is_reported_and_removed(tmp_path):
    unreadable = {**class_folders(), "dog/broken.png": b"this is not a png"}
    with pytest.raises(InputError, match="cannot read image"):
        import_archive(tmp_path, "broken.zip", make_zip(unreadable))
    missing = {"a.png": png_bytes(1), "labels.csv": b"filepath,label\na.png,0\nmissing.png,1\n"}
    with pytest.raises(InputError, match="do not exist"):
        import_archive(tmp_path, "missing.zip", make_zip(missing))
    with pytest.raises(InputError, match="neither a CSV"):
        import_archive(tmp_path, "flat.zip", make_zip({"a.png": png_bytes(1), "b.png": png_bytes(2)}))
    assert list((tmp_path / "uploads").iterdir()) == []


def test_detect_dataset_on_local_paths(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        detect_dataset(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match="not a CSV"):
        detect_dataset(tmp_path / "notes.txt")
    (tmp_path / "t.csv").write_text("filepath,label\n")
    assert detect_dataset(tmp_path / "t.csv") == ("csv", tmp_path / "t.csv")


def test_an_empty_folder_is_named_as_given_not_by_its_only_sub_folder(tmp_path):
    given = tmp_path / "photos"
    (given / "train").mkdir(parents=True)
    with pytest.raises(InputError) as caught:
        detect_dataset(given)
    message = str(caught.value)
    assert message.startswith(f"{given} holds neither a CSV") and "looked inside train/" in message


def test_upload_folder_names_are_sanitised(tmp_path):
    assert uploads_folder(tmp_path, "My Photos!.tar.gz") == tmp_path / "uploads" / "My_Photos"
    assert uploads_folder(tmp_path, "../../etc") == tmp_path / "uploads" / "etc"
    with pytest.raises(InputError, match="no usable folder name"):
        uploads_folder(tmp_path, "../..")


segment = st.sampled_from(["a", "b", "..", ".", "c.png", "d"])


@settings(max_examples=25, deadline=None)
@given(parts=st.lists(segment, min_size=1, max_size=5))
def test_unpacking_never_writes_outside_the_target(tmp_path_factory, parts):
    home = tmp_path_factory.mktemp("h")
    name = "/".join(parts)
    target = home / "uploads" / "x"
    try:
        unpack_archive(make_zip({name: b"data"}), target, name="x.zip")
    except InputError as exc:
        assert ".." in parts and "outside" in str(exc)
        assert files_under(home) == set()
    else:
        assert ".." not in parts
        assert all(p.resolve().is_relative_to(target.resolve()) for p in home.rglob("*") if p.is_file())


def test_a_file_and_a_folder_of_the_same_name_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot be unpacked"):
        unpack_archive(make_zip({"cat": b"file", "cat/a.png": png_bytes(1)}), tmp_path / "x", name="x.zip")
    assert not (tmp_path / "x").exists()


def test_tar_data_filter_is_a_second_lock_behind_the_name_checks(tmp_path, monkeypatch):
    """With the guard's own name check switched off, the standard library's data filter still refuses."""
    import inn_core.data.archive as archive

    assert hasattr(tarfile, "data_filter")  # Python >= 3.12 here; older ones skip the second lock
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    monkeypatch.setattr(archive, "_check_member_name", lambda name: name)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar, pytest.raises(InputError, match="refused by the tar data filter"):
        list(archive._tar_members(tar))
