"""How long a run will take, measured before it starts: a short calibration on the current device.

:func:`estimate_run` builds the run's model at the run's image size, times a few real SGD steps
and a batch of INN scoring on the actual data, and extrapolates:

``total = 3 models x epochs x steps per epoch x step time``
``      + evaluations x (n x scoring time per sample + neighbour search) + the final pass``

Calibration takes a few seconds at most (it shrinks its batches for heavy models). The CLI prints
the estimate before a run starts and the dashboard shows it next to Start; above
:data:`LONG_RUN_SECONDS` both say so and list faster routes with their own estimates.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from inn_core.devices import resolve_device
from inn_core.method.models import create_model
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.scoring import inn_scores, label_probabilities
from inn_core.method.training import TrainConfig, Trainer

__all__ = ["LONG_RUN_SECONDS", "RunEstimate", "estimate_run", "format_duration"]

#: Runs estimated above this (10 minutes) are flagged as long, with faster routes offered.
LONG_RUN_SECONDS = 600.0
# Calibration budget per measurement, in seconds of the device's time.
_BUDGET = 0.6
_MODELS = 3  # CE, CE+NE and MixUp are trained side by side


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 10 s"``, ``"2 h 05 min"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        m, s = divmod(round(seconds), 60)
        return f"{m} min {s:02d} s"
    h, m = divmod(round(seconds / 60), 60)
    return f"{h} h {m:02d} min"


@dataclass(frozen=True)
class RunEstimate:
    """A run's expected wall time and what it is made of (all times in seconds).

    Attributes
    ----------
    seconds : the whole run. train_seconds / eval_seconds / final_seconds : its parts.
    steps : SGD steps per model (epochs x steps per epoch); step_seconds : one step of one model.
    evaluations : scoring passes; score_seconds : INN + the other scores for one sample.
    neighbour_seconds : one exact neighbour search over the n samples.
    n, epochs, model, image_size, device : what was calibrated.
    calibration_seconds : what the calibration itself took.
    faster : ``(description, seconds)`` of faster routes, offered when the run is long.
    """

    seconds: float
    train_seconds: float
    eval_seconds: float
    final_seconds: float
    steps: int
    step_seconds: float
    evaluations: int
    score_seconds: float
    neighbour_seconds: float
    n: int
    epochs: int
    model: str
    image_size: int | None
    device: str
    calibration_seconds: float
    faster: tuple[tuple[str, float], ...] = ()

    @property
    def long(self) -> bool:
        """True above :data:`LONG_RUN_SECONDS`."""
        return self.seconds > LONG_RUN_SECONDS

    def describe(self) -> str:
        """One line: the total and how it was reached."""
        size = f" at {self.image_size} px" if self.image_size else ""
        return (f"estimated time: about {format_duration(self.seconds)} - {self.model}{size} on {self.device}: "
                f"{_MODELS} models x {self.steps:,} SGD steps x {1e3 * self.step_seconds:.1f} ms, "
                f"{self.evaluations} evaluations x {self.n:,} samples x {1e3 * self.score_seconds:.2f} ms")

    def advice(self) -> list[str]:
        """Lines for a long run: that it is long, and the faster routes."""
        if not self.long:
            return []
        lines = [f"this run is long (over {format_duration(LONG_RUN_SECONDS)}); faster routes:"]
        lines += [f"  - {what}: about {format_duration(sec)}" for what, sec in self.faster]
        lines.append("  - INN on embeddings (features computed once, no network pass per path point): "
                     "see README, 'Your own data'")
        return lines


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def estimate_run(config, run=None) -> RunEstimate:
    """Estimate the wall time of :func:`~inn_core.runs.experiment.run_experiment` for ``config``.

    Parameters
    ----------
    config : an :class:`~inn_core.runs.experiment.ExperimentConfig`.
    run : its :class:`~inn_core.runs.experiment.RunData` if already prepared (else loaded here).

    Returns
    -------
    RunEstimate
    """
    from inn_core.runs.experiment import model_name_for, prepare_data

    began = time.perf_counter()
    run = prepare_data(config) if run is None else run
    device = resolve_device(config.device)
    inputs, labels, n = run.inputs, run.observed_labels, run.n
    name = model_name_for(config, run.data)
    model = create_model(name, num_classes=run.num_classes, in_channels=run.data.in_channels or inputs.shape[1],
                         image_size=run.data.image_size, seed=0, weights=config.weights).to(device)
    rng = np.random.default_rng(0)

    # A forward pass of a few samples sizes the rest, so heavy models calibrate on small batches.
    probe = torch.from_numpy(rng.choice(n, size=min(n, 32), replace=False))
    label_probabilities(model, inputs[probe[:2]], labels[probe[:2].numpy()], device=device)  # warm-up
    per_input = _timed(lambda: label_probabilities(model, inputs[probe], labels[probe.numpy()], device=device),
                       device) / len(probe)

    # SGD: a training step costs about three forward passes; shrink the batch to fit the budget.
    bs = min(config.batch_size, n)
    b_cal = int(min(bs, max(2, _BUDGET / max(3 * per_input, 1e-9))))
    subset = torch.from_numpy(rng.choice(n, size=min(n, 4 * b_cal), replace=False))
    cal = TrainConfig(objective="mixup", epochs=1, batch_size=b_cal, lr=config.lr, weight_decay=config.weight_decay)
    trainer = Trainer(model, inputs[subset], labels[subset.numpy()], cal, num_classes=run.num_classes, device=device)
    trainer.inputs = trainer.inputs[:b_cal]
    trainer.labels = trainer.labels[:b_cal]
    trainer.train_epoch()  # warm-up step: allocations, momentum buffers
    trainer = Trainer(model, inputs[subset], labels[subset.numpy()], cal, num_classes=run.num_classes, device=device)
    steps_timed = math.ceil(len(subset) / b_cal)
    step_seconds = _timed(trainer.train_epoch, device) / steps_timed * (bs / b_cal)
    steps = config.epochs * math.ceil(n / bs)

    # Scoring: INN on a few samples' paths (as many forward passes as the budget allows).
    L, H = min(config.L, n - 1), config.H
    per_path_sample = 1 + L * H
    # One real scoring chunk (2048 inputs) when the model is cheap, fewer samples when it is not.
    m = int(min(n, max(1, min(2048 // per_path_sample, _BUDGET / max(per_input * per_path_sample, 1e-9)))))
    nbr = np.stack([rng.choice(n, size=L, replace=False) for _ in range(n)]) if n <= 4096 else \
        rng.integers(0, n, size=(n, L))
    # Warm-up on one sample: the first channels-last pass pays one-off kernel set-up costs.
    inn_scores(model, inputs, labels, nbr, H=1, device=device, sample_indices=np.arange(1))
    # The best of two: timing on a shared machine only ever errs on the slow side.
    inn_seconds = min(_timed(lambda: inn_scores(model, inputs, labels, nbr, H=H, device=device,
                                                sample_indices=np.arange(m)), device) for _ in range(2)) / m
    batch = torch.from_numpy(rng.choice(n, size=int(min(n, max(8, _BUDGET / max(per_input, 1e-9)))), replace=False))
    forward = _timed(lambda: label_probabilities(model, inputs[batch], labels[batch.numpy()], device=device),
                     device) / len(batch)
    # Besides INN, an evaluation makes per sample and model: predict_proba, f_y and the L midpoints
    # (consistency means), plus two small-loss passes, f_y of the MixUp model and the features of h.
    score_seconds = inn_seconds + forward * (_MODELS * (2 + L) + 4)
    test_n = 0 if run.test_images is None else len(run.test_images)
    d = int(model.feature_dim)
    k = min(n, 2000)
    feats = rng.standard_normal((k, d)).astype(np.float32)
    knn = _timed(lambda: nearest_neighbors(feats, min(L, k - 1), device=device), device) * (n / k) ** 2
    per_eval = n * score_seconds + knn + test_n * forward * _MODELS
    train_seconds = _MODELS * steps * step_seconds
    eval_seconds = len(config.eval_epochs) * per_eval
    final_seconds = n * forward * 2 + knn
    total = train_seconds + eval_seconds + final_seconds

    faster = []
    if total > LONG_RUN_SECONDS:
        per_epoch = _MODELS * math.ceil(n / bs) * step_seconds
        fixed = per_eval + final_seconds  # one evaluation at the end
        fit = int(max(1, (LONG_RUN_SECONDS - fixed) // max(per_epoch, 1e-9)))
        if fit < config.epochs:
            faster.append((f"--epochs {fit} --eval-epochs {fit}", fit * per_epoch + fixed))
        if len(config.eval_epochs) > 1:
            faster.append((f"only the last evaluation (--eval-epochs {config.epochs})", train_seconds + fixed))
        if name not in ("small_cnn", "mlp") and run.data.is_image:
            faster.append(("a smaller model (--model small_cnn): time it with --estimate-only", float("nan")))
        faster = [(w, s) for w, s in faster if not math.isnan(s)] + [(w, s) for w, s in faster if math.isnan(s)]
    return RunEstimate(
        seconds=total, train_seconds=train_seconds, eval_seconds=eval_seconds, final_seconds=final_seconds,
        steps=steps, step_seconds=step_seconds, evaluations=len(config.eval_epochs), score_seconds=score_seconds,
        neighbour_seconds=knn, n=n, epochs=config.epochs, model=name, image_size=run.data.image_size,
        device=str(device), calibration_seconds=time.perf_counter() - began, faster=tuple(faster),
    )


