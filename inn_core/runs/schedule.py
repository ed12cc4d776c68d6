"""Default training schedules for the user's own images, counted in SGD steps rather than epochs.

An epoch of 500 images is 8 steps at batch 64, an epoch of 50,000 is 782: a fixed epoch count is
far too little for the first and hours for the second on a laptop. Own-data runs therefore aim at
:data:`OWN_DATA_STEPS` steps per model, as epochs ``ceil(steps / steps per epoch)`` kept within
``[OWN_DATA_MIN_EPOCHS, OWN_DATA_MAX_EPOCHS]``, and score once, after the last epoch, when the labels'
truth is unknown (there is no AUC curve to draw, only the final scores to review).
``benchmarks/bench_own_data.py`` checks that this keeps INN's AUC within 0.01 of the 40-epoch schedule.
"""

from __future__ import annotations

import math

__all__ = ["OWN_DATA_STEPS", "OWN_DATA_MIN_EPOCHS", "OWN_DATA_MAX_EPOCHS", "own_data_epochs"]

#: SGD steps per model that own-data runs aim at (chosen by ``bench_own_data.py``: RESULTS.md section 4).
OWN_DATA_STEPS = 1200
OWN_DATA_MIN_EPOCHS = 4
OWN_DATA_MAX_EPOCHS = 40


def own_data_epochs(n: int, batch_size: int, *, steps: int = OWN_DATA_STEPS) -> int:
    """Epochs that give about ``steps`` SGD steps on ``n`` samples at ``batch_size``.

    Returns an int in [:data:`OWN_DATA_MIN_EPOCHS`, :data:`OWN_DATA_MAX_EPOCHS`].
    """
    per_epoch = max(1, math.ceil(n / max(1, batch_size)))
    return int(min(OWN_DATA_MAX_EPOCHS, max(OWN_DATA_MIN_EPOCHS, math.ceil(steps / per_epoch))))


def fit_own_data_schedule(config, n: int, *, eval_epochs: tuple[int, ...] | None = None):
    """``config`` with the own-data schedule for ``n`` samples (see the module docstring).

    Parameters
    ----------
    config : an :class:`~inn_core.runs.experiment.ExperimentConfig` whose epochs were not chosen.
    eval_epochs : evaluation epochs the user asked for; default: only the last one when the labels
        are the user's own (noise ``none``), else the usual evenly spaced ones.
    """
    import dataclasses

    epochs = own_data_epochs(n, config.batch_size)
    if eval_epochs is None and config.noise.kind == "none":
        eval_epochs = (epochs,)
    return dataclasses.replace(config, epochs=epochs, eval_epochs=eval_epochs)
