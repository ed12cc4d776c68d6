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

from inn_core.data.pixels import as_model_input
from inn_core.devices import resolve_device
from inn_core.method.models import create_model
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.scoring import inn_scores, label_probabilities
from inn_core.method.training import mixup_batch

__all__ = ["LONG_RUN_SECONDS", "Calibration", "RunEstimate", "calibrate", "estimate_run", "format_duration"]

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
    seconds : the whole run. train_seconds / eval_seconds / cleanlab_seconds / final_seconds : its parts
        (cleanlab: K cross-entropy models, each on (K - 1) / K of the data, then their held-out predictions).
    steps : SGD steps per model (epochs x steps per epoch); step_seconds : one step of one model.
    evaluations : scoring passes; score_seconds : INN + the other scores for one sample.
    neighbour_seconds : one exact neighbour search over the n samples.
    n, epochs, model, image_size, device : what was calibrated.
    calibration_seconds : what the calibration itself took.
    faster : ``(description, CLI flags, seconds)`` of faster routes, offered when the run is long
        (seconds NaN where unknown without another calibration).
    """

    seconds: float
    train_seconds: float
    eval_seconds: float
    final_seconds: float
    cleanlab_seconds: float
    folds: int
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
    faster: tuple[tuple[str, str, float], ...] = ()

    @property
    def long(self) -> bool:
        """True above :data:`LONG_RUN_SECONDS`."""
        return self.seconds > LONG_RUN_SECONDS

    def describe(self) -> str:
        """One line: the total and how it was reached."""
        size = f" at {self.image_size} px" if self.image_size else ""
        return (
            f"estimated time: about {format_duration(self.seconds)} - {self.model}{size} on {self.device}: "
            f"{_MODELS} models x {self.steps:,} SGD steps x {1e3 * self.step_seconds:.1f} ms, "
            f"{self.evaluations} evaluations x {self.n:,} samples x {1e3 * self.score_seconds:.2f} ms"
            + (f", {self.folds} cleanlab fold models" if self.folds else "")
        )

    def advice(self, *, cli: bool = True) -> list[str]:
        """Lines for a long run: that it is long, and the faster routes (with CLI flags if ``cli``)."""
        if not self.long:
            return []
        lines = [f"this run is long (over {format_duration(LONG_RUN_SECONDS)}); faster routes:"]
        lines += [
            f"  - {what}"
            + (f" ({flags})" if cli else "")
            + ("" if math.isnan(sec) else f": about {format_duration(sec)}")
            for what, flags, sec in self.faster
        ]
        lines.append(
            "  - INN on embeddings (features computed once, no network pass per path point): "
            "see README, 'Your own data'"
        )
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


@dataclass(frozen=True)
class Calibration:
    """Per-unit costs measured on the device; they do not depend on the number of epochs.

    Attributes (seconds): step_seconds (one SGD step of one model at the run's batch size),
    score_seconds (one sample's evaluation), forward_seconds (one input's forward pass),
    neighbour_seconds (one exact search over the n samples); plus what was calibrated.
    """

    step_seconds: float
    score_seconds: float
    forward_seconds: float
    neighbour_seconds: float
    n: int
    test_n: int
    batch_size: int
    model: str
    image_size: int | None
    is_image: bool
    device: str
    calibration_seconds: float


def estimate_run(config, run=None, *, calibration: Calibration | None = None) -> RunEstimate:
    """Estimate the wall time of :func:`~inn_core.runs.experiment.run_experiment` for ``config``.

    Parameters
    ----------
    config : an :class:`~inn_core.runs.experiment.ExperimentConfig`.
    run : its :class:`~inn_core.runs.experiment.RunData` if already prepared (else loaded here).
    calibration : reuse a :func:`calibrate` result of the same data, model, batch size, L and H
        (the dashboard does, so changing the epochs costs no new calibration).

    Returns
    -------
    RunEstimate
    """
    cal = calibrate(config, run) if calibration is None else calibration
    n, bs = cal.n, min(config.batch_size, cal.n)
    steps = config.epochs * math.ceil(n / bs)
    per_eval = n * cal.score_seconds + cal.neighbour_seconds + cal.test_n * cal.forward_seconds * _MODELS
    train_seconds = _MODELS * steps * cal.step_seconds
    eval_seconds = len(config.eval_epochs) * per_eval
    final_seconds = n * cal.forward_seconds * 2 + cal.neighbour_seconds
    folds = int(config.cleanlab_folds)
    fold_steps = config.fold_epochs * math.ceil((n - n // folds) / bs) if folds else 0
    cleanlab_seconds = folds * fold_steps * cal.step_seconds + (n * cal.forward_seconds if folds else 0.0)
    total = train_seconds + eval_seconds + cleanlab_seconds + final_seconds
    faster = []
    if total > LONG_RUN_SECONDS:
        per_epoch = _MODELS * math.ceil(n / bs) * cal.step_seconds
        fixed = per_eval + final_seconds  # one evaluation at the end
        # Each epoch also costs the cleanlab folds' share of it.
        per_epoch += cleanlab_seconds / config.epochs if folds else 0.0
        fit = int(max(1, (LONG_RUN_SECONDS - fixed) // max(per_epoch, 1e-9)))
        if fit < config.epochs:
            faster.append(
                (
                    f"{fit} epochs, evaluated once at the end",
                    f"--epochs {fit} --eval-epochs {fit}",
                    fit * per_epoch + fixed,
                )
            )
        if len(config.eval_epochs) > 1:
            faster.append(
                (
                    "only the last evaluation",
                    f"--eval-epochs {config.epochs}",
                    train_seconds + cleanlab_seconds + fixed,
                )
            )
        if folds:
            faster.append(("without the cleanlab comparison", "--cleanlab-folds 0", total - cleanlab_seconds))
        if cal.model not in ("small_cnn", "mlp") and cal.is_image:
            faster.append(("a smaller model: small_cnn", "--model small_cnn", float("nan")))
    return RunEstimate(
        seconds=total,
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        final_seconds=final_seconds,
        cleanlab_seconds=cleanlab_seconds,
        folds=folds,
        steps=steps,
        step_seconds=cal.step_seconds,
        evaluations=len(config.eval_epochs),
        score_seconds=cal.score_seconds,
        neighbour_seconds=cal.neighbour_seconds,
        n=n,
        epochs=config.epochs,
        model=cal.model,
        image_size=cal.image_size,
        device=cal.device,
        calibration_seconds=cal.calibration_seconds,
        faster=tuple(faster),
    )


def _sgd_steps(
    model, x, y, num_classes: int, batch_size: int, config, device: torch.device, rng: np.random.Generator
) -> None:
    """MixUp SGD steps with momentum and weight decay, as the Trainer takes them.

    Written out rather than through ``torch.optim.SGD``, whose first use imports torch's compiler
    (seconds): the dashboard calibrates on every new setting, the run itself pays that once.
    """
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    buffers = [torch.zeros_like(p) for p in params]
    for start in range(0, len(x), batch_size):
        xb = as_model_input(x[start : start + batch_size], device)
        yb = y[start : start + batch_size].to(device)
        if len(xb) < 2:
            continue
        mixed, targets = mixup_batch(xb, yb, num_classes, alpha=1.0, rng=rng)
        loss = -(targets * torch.log_softmax(model(mixed).float(), dim=1)).sum(dim=1).mean()
        model.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            grads = [p.grad + config.weight_decay * p for p in params]
            torch._foreach_mul_(buffers, config.momentum)
            torch._foreach_add_(buffers, grads)
            torch._foreach_add_(params, buffers, alpha=-config.lr)


def calibrate(config, run=None) -> Calibration:
    """Time a few real SGD steps and a batch of INN scoring of ``config``'s model on its data."""
    from inn_core.runs.prepare import model_name, prepare_data

    began = time.perf_counter()
    run = prepare_data(config) if run is None else run
    device = resolve_device(config.device)
    inputs, labels, n = run.inputs, run.observed_labels, run.n
    name = model_name(config, run.data)
    model = create_model(
        name,
        num_classes=run.num_classes,
        in_channels=run.data.in_channels or inputs.shape[1],
        image_size=run.data.image_size,
        seed=0,
        weights=config.weights,
    ).to(device)
    rng = np.random.default_rng(0)

    # A forward pass of a few samples sizes the rest, so heavy models calibrate on small batches.
    probe = torch.from_numpy(rng.choice(n, size=min(n, 32), replace=False))
    label_probabilities(model, inputs[probe[:2]], labels[probe[:2].numpy()], device=device)  # warm-up
    per_input = _timed(
        lambda: label_probabilities(model, inputs[probe], labels[probe.numpy()], device=device), device
    ) / len(probe)

    # SGD: a training step costs about three forward passes; shrink the batch to fit the budget.
    bs = min(config.batch_size, n)
    b_cal = int(min(bs, max(2, _BUDGET / max(3 * per_input, 1e-9))))
    subset = torch.from_numpy(rng.choice(n, size=min(n, 4 * b_cal), replace=False))
    x_cal, y_cal = inputs[subset], torch.as_tensor(labels[subset.numpy()], dtype=torch.int64)
    _sgd_steps(model, x_cal[:b_cal], y_cal[:b_cal], run.num_classes, b_cal, config, device, rng)  # warm-up
    steps_timed = math.ceil(len(subset) / b_cal)
    # The best of three, as for scoring below: one timing of a few steps varied by +-25 % here.
    step_seconds = (
        min(
            _timed(lambda: _sgd_steps(model, x_cal, y_cal, run.num_classes, b_cal, config, device, rng), device)
            for _ in range(3)
        )
        / steps_timed
        * (bs / b_cal)
    )

    # Scoring: INN on a few samples' paths (as many forward passes as the budget allows).
    L, H = min(config.L, n - 1), config.H
    per_path_sample = 1 + L * H
    # One real scoring chunk (2048 inputs) when the model is cheap, fewer samples when it is not.
    m = int(min(n, max(1, min(2048 // per_path_sample, _BUDGET / max(per_input * per_path_sample, 1e-9)))))
    nbr = rng.integers(0, n, size=(n, L))  # any indices: the cost of a path does not depend on its end
    # Warm-up on one sample: the first channels-last pass pays one-off kernel set-up costs.
    inn_scores(model, inputs, labels, nbr, H=1, device=device, sample_indices=np.arange(1))
    # The best of two: timing on a shared machine only ever errs on the slow side.
    inn_seconds = (
        min(
            _timed(
                lambda: inn_scores(model, inputs, labels, nbr, H=H, device=device, sample_indices=np.arange(m)), device
            )
            for _ in range(2)
        )
        / m
    )
    batch = torch.from_numpy(rng.choice(n, size=int(min(n, max(8, _BUDGET / max(per_input, 1e-9)))), replace=False))
    forward = _timed(
        lambda: label_probabilities(model, inputs[batch], labels[batch.numpy()], device=device), device
    ) / len(batch)
    # Besides INN, an evaluation makes per sample: predict_proba of each model, two small-loss passes,
    # f_y of the MixUp model and the features of h - and, when the truth is known, each model's f_y
    # at the sample and at the midpoint to its nearest neighbour for the consistency means.
    consistency = _MODELS * 2 if run.is_noisy is not None else 0
    score_seconds = inn_seconds + forward * (_MODELS + 4 + consistency)
    test_n = 0 if run.test_images is None else len(run.test_images)
    d = int(model.feature_dim)
    k = min(n, 2000)
    feats = rng.standard_normal((k, d)).astype(np.float32)
    knn = _timed(lambda: nearest_neighbors(feats, min(L, k - 1), device=device), device) * (n / k) ** 2
    return Calibration(
        step_seconds=step_seconds,
        score_seconds=score_seconds,
        forward_seconds=forward,
        neighbour_seconds=knn,
        n=n,
        test_n=test_n,
        batch_size=bs,
        model=name,
        image_size=run.data.image_size,
        is_image=run.data.is_image,
        device=str(device),
        calibration_seconds=time.perf_counter() - began,
    )
