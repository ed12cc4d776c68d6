"""Bring your own data: unpack an uploaded archive of images safely and tell which dataset it is.

An archive (``.zip``, ``.tar``, ``.tar.gz`` / ``.tgz``) is unpacked into its own folder under
``<home>/uploads/<name>/``. Every member is checked before a byte is written: no absolute path,
no ``..``, no symlink, hard link or device, no more than ``max_members`` members and no more than
``max_bytes`` unpacked - a bad member raises :class:`InputError` naming it, and the target folder
is never created. The files land in a temporary folder that is renamed into place only when the
whole archive unpacked, so a failed upload leaves nothing behind and never touches earlier uploads.

The unpacked folder is then either an image folder (one sub-folder of images per class) or a CSV
of ``filepath,label`` rows beside the images; :func:`detect_dataset` says which, and
:func:`import_archive` does all of it and checks that the images load.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tarfile
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np

from inn_core.data.datasets import IMAGE_EXTENSIONS, load_dataset
from inn_core.errors import InputError

__all__ = [
    "ARCHIVE_SUFFIXES",
    "MAX_ARCHIVE_BYTES",
    "MAX_UNPACKED_BYTES",
    "MAX_MEMBERS",
    "UploadedData",
    "unpack_archive",
    "uploads_folder",
    "detect_dataset",
    "describe_dataset",
    "import_archive",
]

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
#: The upload itself; Streamlit's own default upload limit is 200 MB too.
MAX_ARCHIVE_BYTES = 200 * 1024**2
#: Unpacked total: a zip bomb is refused before anything is written.
MAX_UNPACKED_BYTES = 1024**3
MAX_MEMBERS = 50_000

_CHUNK = 1024**2


@dataclass(frozen=True)
class UploadedData:
    """A dataset ready for :class:`~inn_core.runs.experiment.ExperimentConfig`.

    Attributes
    ----------
    dataset : ``"imagefolder"`` or ``"csv"``.
    root : the image folder, or the CSV file (its paths start from the CSV's folder).
    n : number of images.
    class_names : the K class names, in label order.
    class_counts : (K,) images per class.
    """

    dataset: str
    root: Path
    n: int
    class_names: tuple[str, ...]
    class_counts: tuple[int, ...]


def _archive_kind(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tar", ".tar.gz", ".tgz")):
        return "tar"
    raise InputError(f"{name!r} is not a supported archive; upload a {', '.join(ARCHIVE_SUFFIXES)} file")


def _check_member_name(name: str) -> str:
    """The member's path as a relative POSIX path, or :class:`InputError` when it would escape."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        raise InputError(f"archive member {name!r} has an absolute path; archives may only hold relative paths")
    parts = [p for p in PurePosixPath(unified).parts if p not in ("", ".")]
    if ".." in parts:
        raise InputError(
            f"archive member {name!r} leads outside the archive's folder ('..'); remove it from the archive"
        )
    if any("\x00" in p for p in parts):
        raise InputError(f"archive member {name!r} has a NUL byte in its name; rename it")
    return "/".join(parts)


@dataclass(frozen=True)
class _Member:
    name: str  # checked relative path; "" for the archive's root entry
    is_dir: bool
    size: int
    handle: object


def _zip_members(archive: zipfile.ZipFile) -> Iterator[_Member]:
    for info in archive.infolist():
        name = _check_member_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise InputError(
                f"archive member {info.filename!r} is a symbolic link; archives may only hold files and folders"
            )
        # Zips written without Unix file-type bits (Windows tools, writestr) carry no type: a plain file.
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise InputError(
                f"archive member {info.filename!r} is not a regular file or folder; remove it from the archive"
            )
        yield _Member(name, info.is_dir(), info.file_size, info)


def _tar_members(archive: tarfile.TarFile) -> Iterator[_Member]:
    for info in archive.getmembers():
        name = _check_member_name(info.name)
        if info.issym() or info.islnk():
            raise InputError(f"archive member {info.name!r} is a link; archives may only hold files and folders")
        if not (info.isfile() or info.isdir()):
            raise InputError(
                f"archive member {info.name!r} is not a regular file or folder; remove it from the archive"
            )
        _data_filter(info)
        yield _Member(name, info.isdir(), info.size, info)


def _data_filter(info: tarfile.TarInfo) -> None:
    """The standard library's ``data`` extraction filter (Python 3.12+, backported to 3.8.17+) as a second lock."""
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is None:
        return
    try:
        data_filter(info, _FILTER_DESTINATION)
    except tarfile.FilterError as exc:
        raise InputError(f"archive member {info.name!r} is refused by the tar data filter ({exc}); remove it") from exc


# Any folder works: the filter only checks where a member would land relative to it.
_FILTER_DESTINATION = os.path.realpath(os.path.join(os.sep, "inn-lab-archive"))


def unpack_archive(
    source: str | Path | BinaryIO | bytes,
    target: str | Path,
    *,
    name: str | None = None,
    max_bytes: int = MAX_UNPACKED_BYTES,
    max_members: int = MAX_MEMBERS,
) -> Path:
    """Unpack a zip or tar archive into the new folder ``target``, refusing anything unsafe.

    Parameters
    ----------
    source : the archive: a path, an open binary file or its bytes.
    target : the folder to create; must not exist yet (earlier uploads are never overwritten).
    name : the archive's file name, which decides zip or tar (default: the path's name).
    max_bytes : the most bytes the members may unpack to.
    max_members : the most members (files and folders) the archive may hold.

    Returns
    -------
    The target folder, holding the archive's files.

    Raises
    ------
    InputError : an unsupported or corrupt archive, an absolute path, ``..``, a link or special
        file, too many members or too many bytes - naming the member. Nothing is left on disk then.
    """
    target = Path(target)
    if name is None:
        if not isinstance(source, (str, Path)):
            raise InputError("give the archive's file name (name=) so zip and tar can be told apart")
        name = Path(source).name
    kind = _archive_kind(name)
    if target.exists():
        raise InputError(f"{target} already exists; choose another name for the upload")
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        if kind == "zip":
            try:
                with zipfile.ZipFile(source) as archive:
                    _extract(archive, _zip_members(archive), staging, max_bytes, max_members, archive.open)
            # RuntimeError: encrypted members; NotImplementedError: unknown compression methods.
            except (
                zipfile.BadZipFile,
                zipfile.LargeZipFile,
                EOFError,
                RuntimeError,
                NotImplementedError,
                zlib.error,
            ) as exc:
                raise InputError(f"{name!r} is not a readable zip archive ({exc})") from exc
        else:
            try:
                where = {"name": source} if isinstance(source, (str, Path)) else {"fileobj": source}
                with tarfile.open(mode="r:*", **where) as archive:
                    _extract(archive, _tar_members(archive), staging, max_bytes, max_members, archive.extractfile)
            except (tarfile.TarError, EOFError, zlib.error) as exc:
                raise InputError(f"{name!r} is not a readable tar archive ({exc})") from exc
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _extract(archive, members: Iterator[_Member], staging: Path, max_bytes: int, max_members: int, open_member) -> None:
    """Check every member before writing anything, then stream each file out.

    The byte limit is on the members' declared sizes: zipfile and tarfile never read past a
    member's declared size (a zip whose data disagrees fails its CRC check), so it holds.
    """
    checked = []
    declared = 0
    for count, member in enumerate(members, start=1):
        if count > max_members:
            raise InputError(
                f"the archive holds more than {max_members} members; split it or remove files "
                f"(stopped at {member.name!r})"
            )
        declared += member.size
        if declared > max_bytes:
            raise InputError(
                f"the archive unpacks to more than {max_bytes} bytes (at member {member.name!r}); upload less data"
            )
        checked.append(member)
    staging.mkdir(parents=True)
    base = staging.resolve()
    for member in checked:
        if not member.name:
            continue
        path = staging / member.name
        # The name check already excludes escapes; this catches anything the checks missed.
        if not path.resolve().is_relative_to(base):
            raise InputError(f"archive member {member.name!r} leads outside the archive's folder; remove it")
        try:
            if member.is_dir:
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            stream = open_member(member.handle)
            if stream is None:
                raise InputError(f"archive member {member.name!r} cannot be read; repack the archive")
            with stream, open(path, "wb") as out:
                shutil.copyfileobj(stream, out, _CHUNK)
        except OSError as exc:
            # e.g. a file and a folder of the same name in one archive
            raise InputError(f"archive member {member.name!r} cannot be unpacked ({exc}); repack the archive") from exc


def uploads_folder(home: str | Path, name: str) -> Path:
    """``<home>/uploads/<name>`` with ``name`` reduced to letters, digits, ``-``, ``_`` and ``.``.

    Raises :class:`InputError` when nothing usable is left of the name.
    """
    stem = name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._")
    if not safe:
        raise InputError(f"{name!r} leaves no usable folder name; use letters, digits, '-' or '_'")
    return Path(home) / "uploads" / safe[:80]


def _has_images(folder: Path) -> bool:
    return any(
        p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") for p in folder.iterdir()
    )


def _visible(folder: Path) -> list[Path]:
    # Archives made on macOS carry __MACOSX/ and ._* files beside the real ones.
    return [p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]


def detect_dataset(folder: str | Path) -> tuple[str, Path]:
    """Which dataset a folder (or a CSV file) is: ``("csv", csv_file)`` or ``("imagefolder", folder)``.

    A folder holding exactly one sub-folder and nothing else is looked into (archives often wrap
    their content in one). A CSV file at the top wins over class sub-folders.

    Raises
    ------
    InputError : the path does not exist, holds several CSV files, or neither a CSV nor at least
        two class sub-folders of images.
    """
    path = Path(folder).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise InputError(
                f"{path} is a file but not a CSV; give a folder of class sub-folders or a CSV of filepath,label"
            )
        return "csv", path
    if not path.is_dir():
        raise InputError(f"{path} does not exist; give a folder of class sub-folders or a CSV of filepath,label")
    given, entries = path, _visible(path)
    while len(entries) == 1 and entries[0].is_dir():
        path = entries[0]
        entries = _visible(path)
    # Errors name the folder the user gave; the wrapper folder looked into is only a detail.
    inside = "" if path == given else f" (looked inside {path.relative_to(given).as_posix()}/, its only content)"
    tables = sorted(p for p in entries if p.is_file() and p.suffix.lower() == ".csv")
    if len(tables) > 1:
        shown = ", ".join(p.name for p in tables[:3])
        raise InputError(f"{given} holds several CSV files ({shown}){inside}; keep the one with filepath,label")
    if tables:
        return "csv", tables[0]
    classes = [p for p in entries if p.is_dir() and _has_images(p)]
    if len(classes) >= 2:
        return "imagefolder", path
    raise InputError(
        f"{given} holds neither a CSV of filepath,label nor at least two class sub-folders of images{inside}; "
        f"put each class's images in <folder>/<class name>/"
    )


def describe_dataset(dataset: str, root: str | Path) -> UploadedData:
    """Load the data once to check every image reads and every CSV path exists; returns a summary.

    Raises :class:`InputError` from the loader (an unreadable image, a CSV naming missing files...).
    """
    data = load_dataset(dataset, root=root)
    counts = np.bincount(data.true_labels.numpy(), minlength=data.num_classes)
    return UploadedData(
        dataset=dataset,
        root=Path(root),
        n=data.n,
        class_names=data.class_names,
        class_counts=tuple(int(c) for c in counts),
    )


def import_archive(
    home: str | Path,
    filename: str,
    source: str | Path | BinaryIO | bytes,
    *,
    name: str | None = None,
    max_archive_bytes: int = MAX_ARCHIVE_BYTES,
    max_bytes: int = MAX_UNPACKED_BYTES,
    max_members: int = MAX_MEMBERS,
) -> UploadedData:
    """Unpack an uploaded archive into ``<home>/uploads/<name>/``, detect its layout and check it loads.

    Parameters
    ----------
    home : the run store's home folder.
    filename : the uploaded file's name (decides zip or tar; default folder name).
    source : the archive: path, binary file or bytes.
    name : the folder name under ``uploads/`` (default: ``filename`` without its suffix).
    max_archive_bytes, max_bytes, max_members : size and count limits.

    Raises
    ------
    InputError : a bad archive, an existing folder of that name, or data that does not load;
        the unpacked folder is removed again, so nothing half-done stays.
    """
    size = (
        len(source)
        if isinstance(source, bytes)
        else (Path(source).stat().st_size if isinstance(source, (str, Path)) else _stream_size(source))
    )
    if size > max_archive_bytes:
        raise InputError(f"the archive is {size} bytes, more than the {max_archive_bytes} allowed; upload less data")
    target = uploads_folder(home, name or filename)
    unpack_archive(source, target, name=filename, max_bytes=max_bytes, max_members=max_members)
    try:
        dataset, root = detect_dataset(target)
        return describe_dataset(dataset, root)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _stream_size(stream: BinaryIO) -> int:
    position = stream.tell()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(position)
    return size
