"""Which folders of this machine a served dashboard may read.

A dashboard reachable from a network must not read any path its process can: with
``INN_LAB_DATA_ROOTS`` (folders separated by ``os.pathsep``) only paths inside them are accepted,
symbolic links resolved first; without it, local paths are accepted only while the server listens
on the loopback interface. The pages ask :func:`local_paths_off_reason` before drawing a path field
and call :func:`check_local_path` on every path typed into one.
"""

from __future__ import annotations

import os
from pathlib import Path

from inn_core.errors import InputError

__all__ = ["ROOTS_ENV", "data_roots", "is_loopback", "local_paths_off_reason", "check_local_path"]

ROOTS_ENV = "INN_LAB_DATA_ROOTS"


def data_roots() -> tuple[Path, ...] | None:
    """The resolved folders of ``$INN_LAB_DATA_ROOTS``, or ``None`` when it is unset or empty."""
    raw = os.environ.get(ROOTS_ENV, "")
    roots = tuple(Path(part).expanduser().resolve() for part in raw.split(os.pathsep) if part.strip())
    return roots or None


def is_loopback(address: str | None) -> bool:
    """True for addresses only this machine reaches (``127.x``, ``localhost``, ``::1``); unset means every interface."""
    if not address:
        return False
    address = address.strip().strip("[]").lower()
    return address in ("localhost", "::1") or address.startswith("127.")


def local_paths_off_reason(listen_address: str | None) -> str | None:
    """Why paths on this machine are refused, or ``None`` when they may be given (see :func:`check_local_path`)."""
    if data_roots() is not None or is_loopback(listen_address):
        return None
    where = f"on {listen_address}" if listen_address else "on every network interface"
    return (
        f"Reading folders of this machine is off: this server listens {where}, so anyone who reaches it could "
        f"read any file the server can. Set {ROOTS_ENV} to the folders it may read (separated by "
        f"'{os.pathsep}') and restart it, or upload an archive instead."
    )


def check_local_path(path: str | os.PathLike[str], *, listen_address: str | None) -> Path:
    """``path`` resolved, when a served dashboard may read it; :class:`InputError` saying why not otherwise.

    Parameters
    ----------
    path : a folder or file typed by the user.
    listen_address : the address the server listens on (``None`` or ``""``: every interface).
    """
    reason = local_paths_off_reason(listen_address)
    if reason is not None:
        raise InputError(reason)
    resolved = Path(path).expanduser().resolve()
    roots = data_roots()
    if roots is not None and not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise InputError(
            f"{os.fspath(path)} is outside the folders this server may read "
            f"({', '.join(map(str, roots))}); {ROOTS_ENV} sets them"
        )
    return resolved
