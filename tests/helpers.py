"""Helpers shared by the test modules (import them from here; conftest.py holds only fixtures)."""

from __future__ import annotations

import shutil

import pytest

from inn_core.data.noise import NoiseSpec
from inn_core.runs.experiment import ExperimentConfig

__all__ = ["TINY_CONFIG", "launch_chromium"]

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
