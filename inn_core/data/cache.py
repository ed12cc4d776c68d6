"""Decode images once, in parallel, into an on-disk cache reused by later runs.

A cache entry is a folder ``<cache dir>/<key>/`` holding

- ``images.npy``: the decoded pixels, ``(n, C, S, S)`` uint8, opened memory-mapped, so a data set
  larger than memory still goes through (pages are read as batches need them);
- ``index.json``: what it was built from - every file with its size and modification time, the
  decode options and the array's shape.

The key hashes the file list and the decode options; the entry is reused while every file keeps
its size and modification time, and rebuilt (in place, atomically) as soon as one changes.
Decoding runs on a thread pool (Pillow releases the GIL while it decodes and resizes) and reports
``(done, total)`` to the callback installed with :func:`decode_progress` - the CLI shows it as a
tqdm bar.

The cache lives in ``$INN_LAB_CACHE`` if set, else ``~/.cache/inn_lab/images``; a data set's
``cache_dir`` option overrides it, and ``cache_dir=False`` decodes into memory without a cache.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inn_core.data.images import decode_file
from inn_core.errors import InputError

__all__ = ["default_cache_dir", "decode_progress", "cached_file_images", "decode_parallel", "CACHE_VERSION"]

CACHE_VERSION = 1
_PROGRESS: contextvars.ContextVar[Callable[[int, int], None] | None] = contextvars.ContextVar(
    "inn_decode_progress", default=None
)


def default_cache_dir() -> Path:
    """``$INN_LAB_CACHE``, else ``~/.cache/inn_lab/images``."""
    env = os.environ.get("INN_LAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "inn_lab" / "images"


@contextlib.contextmanager
def decode_progress(callback: Callable[[int, int], None] | None) -> Iterator[None]:
    """Within this block, image decoding reports ``callback(done, total)`` as it goes."""
    token = _PROGRESS.set(callback)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def _workers(workers: int | None) -> int:
    return max(1, workers if workers is not None else min(8, os.cpu_count() or 1))


def decode_parallel(
    n: int,
    decode: Callable[[int], tuple[np.ndarray, bool]],
    *,
    size: int,
    grayscale: bool | None,
    out: Path | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Decode ``n`` images with ``decode(i) -> (pixels, was_gray)`` on a thread pool.

    ``decode`` gets ``grayscale`` baked in by the caller: it returns (S, S) pixels when
    ``grayscale`` is True, else (S, S, 3). With ``grayscale=None`` the result is one channel when
    every source was gray, else three.

    Parameters
    ----------
    out : write the array as a ``.npy`` file here (memory-mapped while it fills) instead of memory.

    Returns
    -------
    (n, C, S, S) uint8 - a memory map of ``out`` when given.
    """
    channels = 1 if grayscale else 3
    shape = (n, channels, size, size)
    if out is not None:
        target = np.lib.format.open_memmap(out, mode="w+", dtype=np.uint8, shape=shape)
    else:
        target = np.empty(shape, dtype=np.uint8)
    progress = _PROGRESS.get()
    all_gray = True

    def one(i: int) -> bool:
        pixels, was_gray = decode(i)
        target[i] = pixels[None] if grayscale else pixels.transpose(2, 0, 1)
        return was_gray

    done = 0
    with ThreadPoolExecutor(max_workers=_workers(workers)) as pool:
        # Chunks bound the futures in flight; results come back in order, so errors are reproducible.
        for start in range(0, n, 256):
            for was_gray in pool.map(one, range(start, min(n, start + 256))):
                all_gray &= was_gray
                done += 1
            if progress is not None:
                progress(done, n)
    if grayscale is None and all_gray and n:
        gray = target[:, :1]
        if out is not None:
            target.flush()
            final = out.with_name(out.stem + ".gray.npy")
            g = np.lib.format.open_memmap(final, mode="w+", dtype=np.uint8, shape=(n, 1, size, size))
            for start in range(0, n, 4096):
                g[start : start + 4096] = gray[start : start + 4096]
            g.flush()
            del target, g
            os.replace(final, out)
            return np.load(out, mmap_mode="c")
        return np.ascontiguousarray(gray)
    if out is not None:
        target.flush()
    return target


def _stamp(files: Sequence[Path]) -> list[list[Any]]:
    stamps = []
    for f in files:
        st = f.stat()
        stamps.append([str(f), st.st_size, st.st_mtime_ns])
    return stamps


def cached_images(
    key_parts: dict[str, Any],
    stamps: list[list[Any]],
    n: int,
    decode: Callable[[int], tuple[np.ndarray, bool]],
    *,
    size: int,
    grayscale: bool | None,
    cache_dir: str | Path | None | bool = None,
    workers: int | None = None,
) -> torch.Tensor:
    """The (n, C, S, S) uint8 images, from the cache when ``stamps`` still match, else decoded now.

    Parameters
    ----------
    key_parts : JSON-able description of the source and the decode options (the cache key).
    stamps : ``[name, size, mtime_ns]`` of every file the images depend on (the validity check).
    cache_dir : the cache folder; None: :func:`default_cache_dir`; False: no cache (in memory).
    """
    if cache_dir is False:
        return torch.from_numpy(decode_parallel(n, decode, size=size, grayscale=grayscale, workers=workers))
    if cache_dir is True or cache_dir == "":
        cache_dir = None
    if cache_dir is not None and not isinstance(cache_dir, (str, Path)):
        raise InputError(
            f"cache_dir must be a folder path, None (the default cache) or False (no cache), got {cache_dir!r}"
        )
    base = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
    key = hashlib.sha256(json.dumps({"v": CACHE_VERSION, **key_parts}, sort_keys=True).encode()).hexdigest()[:24]
    entry = base / key
    index = {"version": CACHE_VERSION, "key": key_parts, "files": stamps, "n": n}
    cached = _read_entry(entry, index)
    if cached is not None:
        return torch.from_numpy(cached)
    try:
        base.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=base))
    except OSError as exc:
        raise InputError(
            f"cannot write the image cache in {base} ({exc}); set INN_LAB_CACHE or cache_dir "
            f"to a writable folder, or cache_dir=False"
        ) from exc
    try:
        images = decode_parallel(n, decode, size=size, grayscale=grayscale, out=build / "images.npy", workers=workers)
        index["shape"] = list(images.shape)
        del images
        (build / "index.json").write_text(json.dumps(index))
        # Swap the finished entry in: readers see the old one or the new one, never half of one.
        old = entry.with_name(entry.name + f".old.{os.getpid()}")
        if entry.exists():
            os.replace(entry, old)
        os.replace(build, entry)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return torch.from_numpy(np.load(entry / "images.npy", mmap_mode="c"))


def _read_entry(entry: Path, index: dict[str, Any]) -> np.ndarray | None:
    try:
        stored = json.loads((entry / "index.json").read_text())
        if any(stored.get(k) != index[k] for k in ("version", "key", "files", "n")):
            return None
        # Copy-on-write: the tensor is writable for torch, but nothing is ever written back.
        images = np.load(entry / "images.npy", mmap_mode="c")
    except (OSError, ValueError):
        return None
    return images if list(images.shape) == stored.get("shape") else None


def cached_file_images(
    files: Sequence[Path],
    *,
    size: int,
    grayscale: bool | None,
    resize: str,
    cache_dir: str | Path | None | bool = None,
    workers: int | None = None,
) -> torch.Tensor:
    """Image files decoded to (n, C, size, size) uint8 through the cache (see the module docstring)."""
    files = [Path(os.path.abspath(f)) for f in files]
    stamps = _stamp(files)
    key = {"kind": "files", "files": [str(f) for f in files], "size": size, "grayscale": grayscale, "resize": resize}
    gray = bool(grayscale)

    def decode(i: int) -> tuple[np.ndarray, bool]:
        return decode_file(files[i], size, grayscale=gray, resize=resize)

    return cached_images(
        key, stamps, len(files), decode, size=size, grayscale=grayscale, cache_dir=cache_dir, workers=workers
    )
