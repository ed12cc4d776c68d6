"""The digits demo run: its shipped metrics for the landing page, and how to regenerate them.

:func:`load_demo` finds the metrics of the default digits experiment (a finished run named
``"demo"`` in the store, else the copy shipped in ``assets/demo``) and :func:`write_demo_assets`
regenerates that copy through the front door (:func:`inn_core.runs.launch.submit`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inn_core.runs.experiment import ExperimentConfig
from inn_core.runs.launch import submit
from inn_core.runs.lifecycle import Progress
from inn_core.runs.store import RunStore

__all__ = [
    "DEMO_DIR",
    "DEMO_FILES",
    "DEMO_NAME",
    "DemoRun",
    "load_demo",
    "write_demo_assets",
]

#: Where the shipped demo metrics live, and the files copied there from the demo run.
DEMO_DIR = Path(__file__).resolve().parents[2] / "assets" / "demo"
DEMO_FILES = ("config.json", "data.json", "metrics.json")
#: A finished run with this name in the store is preferred over the shipped copy.
DEMO_NAME = "demo"


@dataclass(frozen=True)
class DemoRun:
    """The demo run's stored description and per-epoch metrics.

    Attributes
    ----------
    source : ``"store"`` (a finished run named ``"demo"``) or ``"assets"`` (the shipped copy).
    run_id : the run's id when it comes from the store, else ``None``.
    config : the experiment's configuration (``ExperimentConfig.to_dict()``).
    data : the run's ``data.json`` (n, class names, nominal and actual noise rate, ...).
    metrics : ``{"methods": [...], "models": [...]}`` records as :meth:`RunStore.metrics` returns them.
    """

    source: str
    run_id: str | None
    config: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, list[dict[str, Any]]]


def load_demo(store: RunStore | None = None, *, assets_dir: str | Path = DEMO_DIR) -> DemoRun | None:
    """The newest finished run named ``"demo"`` in ``store``, else the shipped copy, else ``None``."""
    if store is not None:
        for run in store.list_runs(kind="experiment"):
            if run.name == DEMO_NAME and run.status == "done":
                return DemoRun(
                    "store",
                    run.id,
                    store.config(run.id),
                    store.read_json(run.id, "data.json", {}),
                    store.metrics(run.id),
                )
    folder = Path(assets_dir)
    if not all((folder / name).is_file() for name in DEMO_FILES):
        return None
    config, data, metrics = (json.loads((folder / name).read_text()) for name in DEMO_FILES)
    return DemoRun("assets", None, config, data, metrics)


def write_demo_assets(
    out_dir: str | Path = DEMO_DIR,
    store: RunStore | None = None,
    *,
    config: ExperimentConfig | None = None,
    callbacks: Sequence[Callable[[Progress], None]] = (),
) -> Path:
    """Run the default experiment and copy its config, data description and metrics to ``out_dir``.

    Parameters
    ----------
    out_dir : folder to write ``config.json``, ``data.json`` and ``metrics.json`` into (created).
    store : run the experiment in this store (it stays there as the finished run ``"demo"``);
        ``None`` runs it in a temporary store that is removed afterwards.
    config : the experiment; default ``ExperimentConfig()`` (digits, symmetric 40 %, about 40 s on a CPU).
    callbacks : progress callbacks passed to :func:`~inn_core.runs.launch.submit`.

    Returns
    -------
    Path : ``out_dir``.
    """
    config = dataclasses.replace(config or ExperimentConfig(), name=DEMO_NAME)
    out = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="inn-demo-") as tmp:
        target = store if store is not None else RunStore(tmp)
        run_id = submit(target, config, background=False, validate=False, callbacks=callbacks)
        out.mkdir(parents=True, exist_ok=True)
        for name in DEMO_FILES:
            shutil.copyfile(target.run_dir(run_id) / name, out / name)
    return out
