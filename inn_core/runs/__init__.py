"""Runs: the front door (submit / resume), the run store, run lifecycle, data preparation, the experiment
and robust training.
"""

from inn_core._lazy import lazy_exports

_EXPORTS = {
    "submit": "launch",
    "resume": "launch",
    "RUN_KINDS": "launch",
    "RunKind": "launch",
    "RunStore": "store",
    "RunRecord": "store",
    "Progress": "lifecycle",
    "Cancelled": "lifecycle",
    "RunData": "prepare",
    "prepare_data": "prepare",
    "ExperimentConfig": "experiment",
    "run_experiment": "experiment",
    "RobustConfig": "robust",
    "train_robust": "robust",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
