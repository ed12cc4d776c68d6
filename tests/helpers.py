"""Helpers shared by the test modules (import them from here; conftest.py holds only fixtures)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inn_core.data.noise import NoiseSpec
from inn_core.runs.experiment import ExperimentConfig

__all__ = ["TINY_CONFIG", "launch_chromium", "resume_in_fresh_process"]

#: A run small enough to finish in seconds on the CPU, with every artefact a finished run has.
TINY_CONFIG = ExperimentConfig(
    dataset="digits",
    data_options={"max_samples": 200},
    noise=NoiseSpec("symmetric", 0.4),
    epochs=3,
    eval_epochs=(1, 3),
    L=5,
    H=3,
    device="cpu",
    name="tiny",
    # two folds keep the cleanlab method in every tiny run at a fraction of the default five folds' cost
    cleanlab_folds=2,
)


def launch_chromium(playwright):
    """Debian's Chromium, headless, through Playwright (never a downloaded browser)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
    return playwright.chromium.launch(
        executable_path=executable,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


def resume_in_fresh_process(home: str | Path, run_id: str) -> None:
    """``python -m inn_core resume RUN`` in a new process on one thread (a queued run starts from scratch).

    Bit-identity tests run both sides this way: float results depend on the process's thread
    pools (OpenMP, MKL), which work done earlier in a long test session can leave changed.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "inn_core", "--home", str(home), "resume", run_id, "--quiet"]
    subprocess.run(cmd, env=env, check=True, timeout=300)
