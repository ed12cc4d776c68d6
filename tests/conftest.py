"""Shared fixtures: a tiny finished digits run in a temporary store, and a live dashboard server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config as _streamlit_config

from helpers import TINY_CONFIG
from inn_core.runs.experiment import run_experiment
from inn_core.runs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent

# AppTest pages read the listen address as a served dashboard does; `make run` listens on loopback.
_streamlit_config.set_option("server.address", "127.0.0.1")

# Decoded-image caches of test folders go to a throw-away folder, never the user's ~/.cache
# (set before any test runs, so subprocesses - CLI, dashboard workers - inherit it).
os.environ.setdefault("INN_LAB_CACHE", str(Path(tempfile.mkdtemp(prefix="inn-cache-"))))


@pytest.fixture(scope="session")
def tiny_run_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store holding one finished tiny run, built once per session: ``(home, run_id)``.

    Tests that write to the store copy it first (see ``tiny_store``).
    """
    home = tmp_path_factory.mktemp("tiny-runs")
    run_id = run_experiment(TINY_CONFIG, store=RunStore(home))
    return home, run_id


@pytest.fixture()
def tiny_store(tiny_run_home, tmp_path) -> tuple[RunStore, str]:
    """A private copy of the tiny finished run's store: ``(store, run_id)``."""
    home, run_id = tiny_run_home
    copy = tmp_path / "runs"
    shutil.copytree(home, copy)
    return RunStore(copy), run_id


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models on a CPU shared with a dashboard server and workers: extra intra-op threads only wait."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(home: Path, *, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run dashboard/app.py`` on 127.0.0.1 and a free port; returns (process, url)."""
    port = free_port()
    env = {**os.environ, "INN_LAB_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboard" / "app.py"),
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{proc.stdout.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout} s")


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory, tiny_run_home) -> Iterator[tuple[str, RunStore, str]]:
    """A live dashboard over a copy of the tiny run's store: ``(url, store, run_id)``."""
    home, run_id = tiny_run_home
    copy = tmp_path_factory.mktemp("browser") / "runs"
    shutil.copytree(home, copy)
    proc, url = start_dashboard(copy)
    try:
        yield url, RunStore(copy), run_id
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
