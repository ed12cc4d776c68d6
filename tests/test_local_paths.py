"""Tests for inn_core.data.local_paths: what a served dashboard may read from this machine."""

from __future__ import annotations

import os

import pytest

from inn_core.data.local_paths import ROOTS_ENV, check_local_path, is_loopback, local_paths_off_reason
from inn_core.errors import InputError


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("192.168.1.5", False),
    ],
)
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback


def test_exposed_server_without_roots_refuses_local_paths(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    assert local_paths_off_reason("127.0.0.1") is None
    assert check_local_path(tmp_path, listen_address="127.0.0.1") == tmp_path.resolve()
    reason = local_paths_off_reason("0.0.0.0")
    assert reason is not None and ROOTS_ENV in reason and "0.0.0.0" in reason
    with pytest.raises(InputError, match="Reading folders of this machine is off"):
        check_local_path(tmp_path, listen_address="0.0.0.0")


def test_roots_restrict_paths_also_through_links_and_dot_dot(tmp_path, monkeypatch):
    allowed, other = tmp_path / "data", tmp_path / "secret"
    (allowed / "pets").mkdir(parents=True)
    other.mkdir()
    (allowed / "escape").symlink_to(other)
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(allowed), str(tmp_path / "also")]))
    assert local_paths_off_reason("0.0.0.0") is None
    assert check_local_path(allowed / "pets", listen_address="0.0.0.0") == (allowed / "pets").resolve()
    assert check_local_path(allowed, listen_address="127.0.0.1") == allowed.resolve()
    for bad in (other, allowed / "escape", allowed / ".." / "secret", "/etc/passwd"):
        with pytest.raises(InputError, match="is outside the folders this server may read"):
            check_local_path(bad, listen_address="0.0.0.0")
