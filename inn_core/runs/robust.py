"""Noise-robust training: DivideMix and INN+DivideMix (the paper's section 4.5 and Algorithm D.1).

Both methods train two networks side by side, each on a labelled / unlabelled division of the
training set made by its peer, with DivideMix's semi-supervised step (:mod:`inn_core.method.semisupervised`):

* ``"dividemix"`` (Li et al. 2020, as its authors' code does it): CE warm-up (plus the
  negative-entropy penalty under asymmetric noise), then every epoch each network fits a
  two-component Gaussian mixture to its min-max normalised per-sample losses and the clean
  posteriors split the data for the *other* network (co-divide), followed by MixMatch with
  co-refinement and co-guessing.
* ``"inn_dividemix"`` (Algorithm D.1): step 1 trains INN twice with independent initialisations
  (a MixUp model ``f`` and a feature model ``h`` each, as an experiment does), splits by a Beta
  mixture on each INN score set, and trains the two networks with MixMatch for ``T1`` epochs, each
  on the other's split; step 2 repeats ``T2`` times: each network becomes its own ``f`` with its
  penultimate layer as ``h``, the INN scores and Beta mixtures are refitted, and ``T3`` epochs of
  DivideMix's semi-supervised step follow.
* ``"ce"``: one network trained with plain cross-entropy on every label, the baseline of the tables.

:func:`train_robust` runs one method through a :class:`~inn_core.runs.store.RunStore` (run kind
``"robust"``), records every epoch under the key ``"robust"`` of the run's ``metrics.json`` and
checkpoints after every epoch (and inside one when cancelled between batches); :func:`resume_robust`
continues a stopped run and ends with the same numbers as an uninterrupted one on the CPU.
:func:`load_robust_model` returns the trained classifier.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import torch
from torch import nn

from inn_core._seeds import stream_seed
from inn_core._validation import check_int, check_settings
from inn_core.data.noise import NoiseSpec
from inn_core.devices import resolve_device
from inn_core.errors import InputError
from inn_core.method.mixture import MIXTURE_INITS, split_clean, split_clean_per_class
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.scoring import inn_scores
from inn_core.method.semisupervised import (
    Split,
    co_divide,
    gmm_clean_posterior,
    normalise_losses,
    per_sample_losses,
    ssl_epoch,
)
from inn_core.method.training import AUGMENTATIONS, TrainConfig, Trainer, extract_features, predict_logits
from inn_core.runs.experiment import ExperimentConfig
from inn_core.runs.lifecycle import Cancelled, Progress, Reporter, guard_run, mark_running, prepare_resume
from inn_core.runs.prepare import RunData, build_model, prepare_data, write_run_data
from inn_core.runs.store import RunStore

__all__ = [
    "MIXTURE_SPLITS",
    "TRAINING_METHODS",
    "ROBUST_DEFAULTS",
    "RobustConfig",
    "TwinNetwork",
    "default_lambda_u",
    "default_augmentation",
    "inn_clean_posterior",
    "train_robust",
    "resume_robust",
    "check_data",
    "load_robust_model",
    "robust_summary",
]

#: Training methods: name -> what it does.
TRAINING_METHODS = {
    "inn_dividemix": (
        "INN+DivideMix (Algorithm D.1): INN scores and Beta mixtures divide the data, then DivideMix's SSL"
    ),
    "dividemix": "DivideMix: CE warm-up, then co-divide by a GMM on per-sample losses and MixMatch with "
    "co-refinement and co-guessing",
    "ce": "cross-entropy on every given label (baseline)",
}

# The schedules ROBUST_DEFAULTS shares between datasets.
_SMALL_DATA = {
    "warmup_epochs": 10,
    "epochs": 40,
    "inn_epochs": 40,
    "T1": 6,
    "T2": 4,
    "T3": 6,
    "batch_size": 32,
    "lr": 0.02,
    "weight_decay": 5e-4,
    "rampup_epochs": 10,
    "mixture_split": "per_class",
}
_CIFAR = {
    "warmup_epochs": 10,
    "epochs": 300,
    "inn_epochs": 50,
    "T1": 30,
    "T2": 30,
    "T3": 9,
    "batch_size": 64,
    "lr": 0.02,
    "weight_decay": 5e-4,
    "rampup_epochs": 16,
    "mixture_split": "global",
}
# Own image folders and CSVs: CIFAR's optimiser, a shorter schedule and INN rounds every 10 epochs.
_OWN_IMAGES = {**_CIFAR, "epochs": 100, "T1": 10, "T2": 10}
#: Per-dataset defaults of the robust schedule. CIFAR values are the papers' (DivideMix: warm-up
#: 10 / 30 epochs of 300, batch 64, lr 0.02 divided by 10 at half, ramp-up 16; INN+DivideMix:
#: (T1, T2, T3) = (30, 30, 9)). Step 1's INN models (``inn_epochs``) train 40 epochs on digits and
#: 50 elsewhere: the paper trains INN's ``f`` for 50-300 epochs, and at 10 epochs (with the lr
#: already divided at epoch 5) INN's AUC on digits at 80 % symmetric noise was 0.86-0.89, below
#: DivideMix's warm-up GMM (0.92), with one seed's split at 38 % precision; at 40 epochs it was
#: 0.985 with splits of 0.90-0.94 precision (issue 14's audit). Digits: DivideMix 10 warm-up + 30
#: SSL; INN+DivideMix 40 INN epochs, then T1 = 6 and T2 = 4 rounds of T3 = 6 - with batch 32, lr
#: 0.02 and a 10-epoch ramp-up. DivideMix's batch of 64 gives only 22 steps an epoch on 1437
#: digits; at 32 a 10-epoch warm-up reaches about 80 % test accuracy under 80 % symmetric noise,
#: the point from which co-divide works (5 epochs, or lr 0.05, left it near 40 % and the GMM
#: splits unstable), and at lr 0.05 or more 90 % noise collapses CE models to one class.
#: ``mixture_split`` and ``mixture_init`` choose how the Beta mixture divides INN scores
#: (:data:`MIXTURE_SPLITS`, :data:`~inn_core.method.mixture.MIXTURE_INITS`).
ROBUST_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": _SMALL_DATA,
    "toy2d": {**_SMALL_DATA, "weight_decay": 0.0, "mixture_split": "global"},
    "cifar10": _CIFAR,
    "cifar100": {**_CIFAR, "warmup_epochs": 30},  # the DivideMix authors' CIFAR-100 warm-up
    "imagefolder": _OWN_IMAGES,
    "csv": dict(_OWN_IMAGES),
}

#: How INN+DivideMix's Beta mixture divides the INN scores: name -> what it does.
MIXTURE_SPLITS = {
    "global": "one mixture over all scores (Algorithm D.1)",
    "per_class": "one mixture per observed class (departure from Algorithm D.1: keeps weak classes labelled)",
}

# DivideMix averages each network's normalised losses over this many epochs at 90 % noise or more.
_HEAVY_NOISE_HISTORY = 5


def default_lambda_u(noise: NoiseSpec, *, num_classes: int) -> float:
    """DivideMix's unlabelled-loss weight for a noise setting.

    Its authors chose ``lambda_u`` per setting on CIFAR: 0 under light (< 50 %) and asymmetric
    noise, where the labelled set is large and guesses add little; 25 up to 80 %; 50 at 90 % and
    above with 10 classes; 150 from 50 % with 100 classes. A transition matrix counts by its
    mean off-diagonal mass, "none" as no noise.
    """
    if noise.kind in ("none", "asymmetric"):
        return 0.0
    rate = noise.rate
    if noise.kind == "matrix":
        rate = 1.0 - float(np.mean(np.diag(np.asarray(noise.matrix))))
    if rate < 0.5:
        return 0.0
    if num_classes > 10:
        return 150.0
    return 50.0 if rate >= 0.9 else 25.0


def default_augmentation(image_size: int | None) -> str:
    """``"crop_flip"`` for images of 32 px or more, ``"shift"`` below (a flipped digit is another digit), else none."""
    if image_size is None:
        return "none"
    return "crop_flip" if image_size >= 32 else "shift"


@dataclass(frozen=True)
class RobustConfig:
    """One robust training run; ``None`` fields take :data:`ROBUST_DEFAULTS` or the noise's default.

    Parameters
    ----------
    experiment : data, noise, model, seed and device, and for ``inn_dividemix`` INN's ``L``, ``H``
        and ``feature_model`` (which model's penultimate layer is step 1's ``h``). Its training
        schedule (``epochs``, ``lr``, ...) is not used: every network here trains with the fields below.
    method : one of :data:`TRAINING_METHODS` (``"inn-dividemix"`` is accepted too).
    warmup_epochs : DivideMix's CE warm-up, ``1 <= warmup_epochs < epochs``.
    epochs : training epochs of ``dividemix`` and ``ce`` (warm-up included).
    inn_epochs : epochs of step 1's INN models (``f`` with MixUp, ``h`` with the feature model's
        objective), trained with the SGD settings below and the paper's INN schedule (lr divided by
        5 at 1/2 and 3/4).
    T1, T2, T3 : INN+DivideMix's MixMatch epochs, rounds, and SSL epochs per round (all >= 1).
    init_from_inn : start each network ``g_k`` from step 1's MixUp model ``f_k`` - the main text's
        "we replace their initialized models with new ones trained with the INN", the counterpart of
        DivideMix starting from its warm-up; ``False`` starts from fresh weights (Algorithm D.1 read
        literally, where ``g1, g2`` are inputs apart from ``f1, f2``).
    batch_size, lr, momentum, weight_decay : SGD of the trained networks.
    lr_drop, lr_gamma : the learning rate is multiplied by ``lr_gamma`` after the fraction
        ``lr_drop`` of the networks' epochs (DivideMix: /10 at half).
    lambda_u : unlabelled-loss weight; default :func:`default_lambda_u`.
    rampup_epochs : epochs over which the unlabelled weight grows linearly from 0 (>= 0).
    temperature : sharpening temperature in (0, 1].  mix_alpha : MixUp's Beta(alpha, alpha), > 0.
    threshold : clean posterior at which a sample is labelled, in (0, 1).
    prior_weight : weight of the uniform-prior penalty, >= 0.
    ne_warmup : add the negative-entropy penalty to the warm-up; default under asymmetric noise.
    loss_history : DivideMix fits its GMM to losses averaged over this many epochs; default 5 at
        symmetric noise of 90 % or more, else 1.
    augment : one of :data:`~inn_core.method.training.AUGMENTATIONS`; default by image size
        (:func:`default_augmentation`).
    mixture_split : INN+DivideMix's Beta-mixture split, one of :data:`MIXTURE_SPLITS`; default per
        data set (:data:`ROBUST_DEFAULTS`).
    mixture_init : how its EM starts, one of :data:`~inn_core.method.mixture.MIXTURE_INITS`.
    name : a label for listings.
    """

    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    method: str = "inn_dividemix"
    warmup_epochs: int | None = None
    epochs: int | None = None
    inn_epochs: int | None = None
    T1: int | None = None
    T2: int | None = None
    T3: int | None = None
    init_from_inn: bool = True
    batch_size: int | None = None
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    lr_drop: float = 0.5
    lr_gamma: float = 0.1
    lambda_u: float | None = None
    rampup_epochs: int | None = None
    temperature: float = 0.5
    mix_alpha: float = 4.0
    threshold: float = 0.5
    prior_weight: float = 1.0
    ne_warmup: bool | None = None
    loss_history: int | None = None
    augment: str | None = None
    mixture_split: str | None = None
    mixture_init: str = "quantile"
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.experiment, dict):
            object.__setattr__(self, "experiment", ExperimentConfig.from_dict(self.experiment))
        if not isinstance(self.experiment, ExperimentConfig):
            raise InputError("experiment must be an ExperimentConfig (data, noise, model, seed, device)")
        method = str(self.method).replace("-", "_")
        if method not in TRAINING_METHODS:
            raise InputError(f"unknown method {self.method!r}; choose one of {', '.join(TRAINING_METHODS)}")
        object.__setattr__(self, "method", method)
        for key, value in ROBUST_DEFAULTS[self.experiment.dataset].items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        for key in ("epochs", "inn_epochs", "T1", "T2", "T3", "batch_size"):
            check_int(key, getattr(self, key), low=1)
        if not isinstance(self.warmup_epochs, int) or not 1 <= self.warmup_epochs < self.epochs:
            raise InputError(
                f"warmup_epochs must be at least 1 and below epochs = {self.epochs}, got {self.warmup_epochs!r}"
            )
        check_int("rampup_epochs", self.rampup_epochs, low=0)
        if self.lambda_u is not None and not self.lambda_u >= 0:
            raise InputError(f"lambda_u must be non-negative, got {self.lambda_u}")
        if not 0 < self.temperature <= 1:
            raise InputError(f"temperature must be in (0, 1], got {self.temperature}")
        if not self.mix_alpha > 0:
            raise InputError(f"mix_alpha must be positive, got {self.mix_alpha}")
        if not 0 < self.threshold < 1:
            raise InputError(f"threshold must be in (0, 1), got {self.threshold}")
        if not self.prior_weight >= 0:
            raise InputError(f"prior_weight must be non-negative, got {self.prior_weight}")
        if self.loss_history is not None and (not isinstance(self.loss_history, int) or self.loss_history < 1):
            raise InputError(f"loss_history must be a positive integer (epochs), got {self.loss_history!r}")
        if self.mixture_split not in MIXTURE_SPLITS:
            raise InputError(f"unknown mixture_split {self.mixture_split!r}; choose one of {', '.join(MIXTURE_SPLITS)}")
        if self.mixture_init not in MIXTURE_INITS:
            raise InputError(f"unknown mixture_init {self.mixture_init!r}; choose one of {', '.join(MIXTURE_INITS)}")
        if self.augment is not None and self.augment not in AUGMENTATIONS:
            raise InputError(f"unknown augmentation {self.augment!r}; choose one of {', '.join(AUGMENTATIONS)}")
        if self.ne_warmup is None:
            object.__setattr__(self, "ne_warmup", self.experiment.noise.kind == "asymmetric")
        if self.loss_history is None:
            heavy = self.experiment.noise.kind == "symmetric" and self.experiment.noise.rate >= 0.9
            object.__setattr__(self, "loss_history", _HEAVY_NOISE_HISTORY if heavy else 1)
        # The networks' schedule validates lr, momentum, weight decay and the drop with clear messages.
        self.network_train_config()

    @property
    def network_epochs(self) -> int:
        """Epochs of the final networks: ``epochs``, or ``T1 + T2 * T3`` for INN+DivideMix."""
        return self.T1 + self.T2 * self.T3 if self.method == "inn_dividemix" else self.epochs

    def network_train_config(self, augment: str = "none") -> TrainConfig:
        """SGD and schedule of the trained networks (warm-up objective CE, or CE + NE when ``ne_warmup``)."""
        return TrainConfig(
            objective="ce_ne" if self.ne_warmup and self.method == "dividemix" else "ce",
            epochs=self.network_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            lr_milestones=(self.lr_drop,),
            lr_gamma=self.lr_gamma,
            augment=augment,
        )

    def inn_train_config(self, objective: str, augment: str = "none") -> TrainConfig:
        """How step 1 trains an INN model with ``objective`` ("mixup" for ``f``, "ce"/"ce_ne" for ``h``)."""
        return TrainConfig(
            objective=objective,
            epochs=self.inn_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            augment=augment,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["experiment"] = self.experiment.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RobustConfig:
        check_settings("robust-training", d, cls)
        return cls(**d)


class TwinNetwork(nn.Module):
    """The two networks as one classifier: logits averaged, as DivideMix tests them.

    ``features(x)`` concatenates both networks' penultimate layers, ``(b, d1 + d2)``.
    """

    def __init__(self, net1: nn.Module, net2: nn.Module) -> None:
        super().__init__()
        self.nets = nn.ModuleList([net1, net2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.nets[0](x) + self.nets[1](x)) / 2

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([net.features(x) for net in self.nets], dim=1)


def inn_clean_posterior(
    f: nn.Module,
    h: nn.Module,
    inputs: torch.Tensor,
    labels: np.ndarray,
    *,
    L: int,
    H: int,
    device: str | torch.device = "auto",
    split: str = "global",
    init: str = "quantile",
) -> tuple[np.ndarray, np.ndarray]:
    """INN scores of every sample and their Beta-mixture clean posteriors (Algorithm D.1, lines 2-3 and 13-14).

    Parameters
    ----------
    f : the prediction model integrated along the paths.
    h : the model whose penultimate layer (``h.features``) is searched for the ``L`` neighbours.
    inputs : (n, ...) float32; labels : (n,) int observed labels.
    L, H : neighbours per sample and trapezoids per path.
    split : one of :data:`MIXTURE_SPLITS`; init : one of :data:`~inn_core.method.mixture.MIXTURE_INITS`.

    Returns
    -------
    scores : (n,) float in [0, 1]; posterior : (n,) float in [0, 1], of the component with the larger mean.
    """
    features = extract_features(h, inputs, device=device)
    neighbors, _ = nearest_neighbors(features, L, device=device)
    scores = inn_scores(f, inputs, labels, neighbors, H=H, device=device)
    if split == "per_class":
        _, posterior = split_clean_per_class(scores, labels, init=init)
    else:
        _, posterior, _ = split_clean(scores, init=init)
    return scores, posterior


def train_robust(
    config: RobustConfig,
    *,
    store: RunStore,
    callbacks: Sequence[Callable[[Progress], None]] = (),
    should_stop: Callable[[], bool] | None = None,
    run_id: str | None = None,
) -> str:
    """Train with ``config.method`` to completion and store everything; returns the run id.

    Parameters
    ----------
    config : the run.
    store : where the run lives (kind ``"robust"``); status, progress and ETA are written there.
    callbacks : each is called with a :class:`~inn_core.runs.lifecycle.Progress` after every epoch.
    should_stop : polled between batches and at every progress report; True cancels the run
        (status ``cancelled``) after a checkpoint that keeps the stopped epoch's progress, so a
        resume ends exactly as an uninterrupted run. The store's cancel flag is polled too.
    run_id : continue this already-registered run (used by resume and background workers).

    Raises
    ------
    InputError : bad configuration or data; the run is marked failed with the message.
    Cancelled : when stopped; the run is marked cancelled.
    """
    if run_id is None:
        run_id = store.create_run(config.to_dict(), name=config.name, kind="robust")
    guard_run(store, run_id, _Runner(config, store, run_id, callbacks, should_stop).run)
    return run_id


def resume_robust(
    store: RunStore,
    run_id: str,
    *,
    callbacks: Sequence[Callable[[Progress], None]] = (),
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Continue a queued, failed, cancelled or interrupted robust run from its last checkpoint."""
    config = RobustConfig.from_dict(prepare_resume(store, run_id, kind="robust"))
    return train_robust(config, store=store, callbacks=callbacks, should_stop=should_stop, run_id=run_id)


def check_data(config: RobustConfig) -> None:
    """Raise the :class:`InputError` a run of ``config`` would meet on loading its data; trains nothing."""
    prepare_data(config.experiment)


def robust_summary(store: RunStore, run_id: str) -> dict[str, Any]:
    """Best and last test accuracy, epochs done and training seconds of a robust run (``None`` where not known yet)."""
    records = store.read_json(run_id, "metrics.json", {}).get("robust", [])
    last = records[-1] if records else {}
    return {
        "method": store.config(run_id)["method"],
        "epochs_done": last.get("epoch", 0),
        "best_test_accuracy": last.get("best_test_accuracy"),
        "last_test_accuracy": last.get("test_accuracy"),
        "seconds": last.get("seconds"),
    }


def load_robust_model(
    store: RunStore, run_id: str, *, network: str = "ensemble", run: RunData | None = None
) -> nn.Module:
    """The trained classifier of a finished robust run, in eval mode.

    Parameters
    ----------
    network : ``"ensemble"`` (both networks, logits averaged - what the test accuracy measures;
        the single network for ``ce``), ``"net1"`` or ``"net2"``.
    run : the run's prepared data, when the caller has it (saves reloading the dataset).
    """
    if network not in ("ensemble", "net1", "net2"):
        raise InputError(f"network must be 'ensemble', 'net1' or 'net2', got {network!r}")
    config = RobustConfig.from_dict(store.config(run_id))
    names = ["net1"] if config.method == "ce" else ["net1", "net2"]
    if network not in ("ensemble", *names):
        raise InputError(f"a {config.method} run trains one network; ask for 'net1' or 'ensemble'")
    wanted = names if network == "ensemble" else [network]
    states = [store.read_torch(run_id, f"model_{name}.pt") for name in wanted]
    if any(state is None for state in states):
        raise InputError(f"run {run_id!r} has no trained model yet (status: {store.get_run(run_id).status})")
    run = run or prepare_data(config.experiment)
    models = []
    for state in states:
        model = build_model(config.experiment, run, seed=None)
        model.load_state_dict(state)
        models.append(model.eval())
    return models[0] if len(models) == 1 else TwinNetwork(*models).eval()


# -- the runner ---------------------------------------------------------------------------------


class _Runner:
    """One run of one method: state, checkpoints, records and progress."""

    def __init__(
        self,
        config: RobustConfig,
        store: RunStore,
        run_id: str,
        callbacks: Sequence[Callable[[Progress], None]],
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.config, self.store, self.run_id = config, store, run_id
        self.callbacks, self.should_stop = callbacks, should_stop

    # -- set-up -----------------------------------------------------------------------------

    def run(self) -> None:
        config, store, run_id = self.config, self.store, self.run_id
        exp = config.experiment
        self.device = resolve_device(exp.device)
        mark_running(store, run_id)
        run = self.data = prepare_data(exp)
        self.augment = config.augment or default_augmentation(run.data.image_size)
        self.lambda_u = (
            config.lambda_u if config.lambda_u is not None else default_lambda_u(exp.noise, num_classes=run.num_classes)
        )
        # uint8 images stay uint8 on the device; every consumer converts per batch.
        self.inputs = (
            run.inputs.to(self.device) if run.inputs.dtype == torch.uint8 else run.inputs.to(self.device, torch.float32)
        )
        self.test_images = None if run.test_images is None or not len(run.test_labels) else run.test_images
        write_run_data(
            store,
            run_id,
            run,
            exp,
            test_size=0 if self.test_images is None else len(run.test_labels),
            augment=self.augment,
            lambda_u=self.lambda_u,
            network_epochs=config.network_epochs,
        )
        n_nets = 1 if config.method == "ce" else 2
        train_config = config.network_train_config(self.augment)
        self.nets = [
            Trainer(
                build_model(exp, run, seed=stream_seed(exp.seed, "robust_init", k)),
                self.inputs,
                run.observed_labels,
                train_config,
                num_classes=run.num_classes,
                device=self.device,
                random_state=stream_seed(exp.seed, "robust_batches", k),
            )
            for k in range(n_nets)
        ]
        self.checkpoint = store.read_torch(run_id, "checkpoint.pt") or {}
        for trainer, state in zip(self.nets, self.checkpoint.get("nets", []), strict=False):
            trainer.load_state_dict(state)
        # A stop inside an epoch can leave network 1 past it and network 2 not: the run's epoch is the slower's.
        self.epoch = min(t.epoch for t in self.nets)
        self.seconds = float(self.checkpoint.get("seconds", 0.0))
        # Records past the checkpoint came from an epoch that will be trained again: drop them.
        self.records = [
            r for r in store.read_json(run_id, "metrics.json", {}).get("robust", []) if r["epoch"] <= self.epoch
        ]
        self.best = max((r["test_accuracy"] for r in self.records if r["test_accuracy"] is not None), default=None)
        total_work = config.network_epochs
        if config.method == "inn_dividemix":
            total_work += config.inn_epochs + 1 + config.T2
        self.reporter = Reporter(
            store,
            run_id,
            total=total_work,
            epochs=config.network_epochs,
            callbacks=self.callbacks,
            should_stop=self.should_stop,
        )
        self.clock = time.monotonic()
        {"ce": self._run_ce, "dividemix": self._run_dividemix, "inn_dividemix": self._run_inn_dividemix}[
            config.method
        ]()
        self._finish()

    # -- bookkeeping --------------------------------------------------------------------------

    def _tick(self) -> float:
        """Seconds of work since the last tick, added to the run's total (kept across resumes)."""
        now = time.monotonic()
        self.seconds += now - self.clock
        self.clock = now
        return self.seconds

    def _report(self, phase: str, message: str = "") -> None:
        self.reporter.report(phase, self.epoch, message)

    def _start_work(self, done: int) -> None:
        """Work units already done when this process starts (restored from the checkpoint)."""
        self.reporter.start(done)

    def _save(self, **extra: Any) -> None:
        self.checkpoint = {
            "epoch": self.epoch,
            "nets": [t.state_dict() for t in self.nets],
            "seconds": self._tick(),
            **extra,
        }
        self.store.write_torch(self.run_id, "checkpoint.pt", self.checkpoint)

    def _split_stats(self, split: Split | None) -> dict[str, Any]:
        if split is None:
            return {"size": None, "precision": None, "recall": None}
        size = int(split.labelled.sum())
        if self.data.is_noisy is None:
            return {"size": size, "precision": None, "recall": None}
        clean = ~self.data.is_noisy
        hits = int((split.labelled & clean).sum())
        return {
            "size": size,
            "precision": hits / size if size else None,
            "recall": hits / int(clean.sum()) if clean.any() else None,
        }

    def _record(
        self, phase: str, splits: Sequence[Split | None], losses: Sequence[float], *, round_: int | None = None
    ) -> dict[str, Any]:
        """Evaluate on the test split, append the epoch's record and write metrics.json."""
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "method": self.config.method,
            "phase": phase,
            "round": round_,
            "lr": self.nets[0].config.lr_at(self.epoch - 1),
        }
        accuracies: list[float | None] = [None, None]
        ensemble = None
        if self.test_images is not None:
            logits = [predict_logits(t.model, self.test_images, device=self.device) for t in self.nets]
            truth = self.data.test_labels
            accuracies[: len(logits)] = [float((lg.argmax(1) == truth).mean()) for lg in logits]
            ensemble = float((sum(logits).argmax(1) == truth).mean())
            self.best = ensemble if self.best is None else max(self.best, ensemble)
        record.update(
            test_accuracy=ensemble,
            best_test_accuracy=self.best,
            test_accuracy_net1=accuracies[0],
            test_accuracy_net2=accuracies[1],
        )
        for k in range(2):
            stats = self._split_stats(splits[k] if k < len(splits) else None)
            record[f"loss_net{k + 1}"] = float(losses[k]) if k < len(losses) else None
            for key, value in stats.items():
                record[f"labelled_{key}_net{k + 1}"] = value
        record["seconds"] = self._tick()
        self.records.append(record)
        self.store.write_json(self.run_id, "metrics.json", {"robust": self.records})
        return record

    def _ssl(
        self, k: int, split: Split, *, peer: bool, ramp_start: float, resume: dict[str, Any] | None
    ) -> dict[str, Any]:
        """One semi-supervised epoch of network ``k`` on ``split`` (co-guessing with the peer when ``peer``),
        stoppable between batches (then ``{"partial": state}``, continued by ``resume=state``)."""
        trainer, config = self.nets[k], self.config
        for group in trainer.optimizer.param_groups:
            group["lr"] = trainer.config.lr_at(trainer.epoch)
        out = ssl_epoch(
            trainer.model,
            trainer.inputs,
            trainer.labels,
            split,
            num_classes=self.data.num_classes,
            optimizer=trainer.optimizer,
            rng=trainer.rng,
            other=self.nets[1 - k].model if peer else None,
            refine_labels=peer,
            batch_size=config.batch_size,
            augment=self.augment,
            temperature=config.temperature,
            alpha=config.mix_alpha,
            lambda_u=self.lambda_u,
            rampup_start=ramp_start,
            rampup_epochs=config.rampup_epochs,
            prior_weight=config.prior_weight,
            should_stop=self.reporter.stop_requested,
            resume=resume,
        )
        if "partial" not in out:
            # The SSL epoch used this trainer's optimiser and random stream: advance its schedule too.
            trainer.epoch += 1
        return out

    # -- stopping inside an epoch ------------------------------------------------------------
    # Cancel is polled between batches. A stop saves the epoch's progress in the checkpoint under
    # "mid_epoch" (the losses of the networks that finished it, the stopped network's position, and
    # what the epoch was divided by), so that the resumed epoch ends exactly as an uninterrupted one.

    def _mid_epoch(self, tag: str) -> dict[str, Any] | None:
        """The checkpoint's progress inside epoch ``tag``, or None when it stopped at an epoch's end."""
        mid = self.checkpoint.get("mid_epoch")
        return mid if mid is not None and mid.get("tag") == tag else None

    def _stop_inside(self, tag: str, losses: list[float], save: Callable[..., None], **state: Any) -> NoReturn:
        save(mid_epoch={"tag": tag, "losses": list(losses), **state})
        raise Cancelled(self.run_id)

    def _train_epochs(self, trainers: Sequence[Trainer], tag: str, save: Callable[..., None]) -> list[float]:
        """One supervised epoch of each trainer in turn; their losses (those finished before a stop come
        from the checkpoint, the stopped one continues where it was)."""
        mid = self._mid_epoch(tag)
        losses = list(mid["losses"]) if mid else []
        for trainer in trainers[len(losses) :]:
            loss = trainer.train_epoch(should_stop=self.reporter.stop_requested)
            if loss is None:
                self._stop_inside(tag, losses, save)
            losses.append(loss)
        return losses

    def _ssl_epochs(
        self, splits: Sequence[Split], tag: str, save: Callable[..., None], *, peer: bool, ramp_start: float
    ) -> list[float]:
        """One semi-supervised epoch of network 1, then of network 2 (co-guessing with the updated network 1,
        as in DivideMix); resumable inside either as :meth:`_train_epochs`."""
        mid = self._mid_epoch(tag)
        losses, resume = (list(mid["losses"]), mid.get("ssl")) if mid else ([], None)
        for k in range(len(losses), 2):
            out = self._ssl(k, splits[k], peer=peer, ramp_start=ramp_start, resume=resume)
            resume = None
            if "partial" in out:
                self._stop_inside(tag, losses, save, ssl=out["partial"])
            losses.append(out["loss"])
        return losses

    def _finish(self) -> None:
        self._report("finalising")
        for k, trainer in enumerate(self.nets):
            self.store.write_torch(self.run_id, f"model_net{k + 1}.pt", trainer.model.state_dict())
        self.reporter.finish(self.epoch)

    # -- methods ------------------------------------------------------------------------------

    def _run_ce(self) -> None:
        every = Split(labelled=np.ones(self.data.n, bool), posterior=np.ones(self.data.n))
        self._start_work(self.epoch)
        self._report("training")
        while self.epoch < self.config.epochs:
            (loss,) = self._train_epochs(self.nets, f"ce{self.epoch}", self._save)
            self.epoch += 1
            self.reporter.done += 1
            self._record("train", [every], [loss])
            self._save()
            self._report("training", f"epoch {self.epoch}: loss {loss:.3f}")

    def _run_dividemix(self) -> None:
        config, run = self.config, self.data
        history = self.checkpoint.get("loss_history")
        history = [[] for _ in self.nets] if history is None else [list(h.numpy()) for h in history]
        self._start_work(self.epoch)
        self._report("warm-up" if self.epoch < config.warmup_epochs else "training")
        while self.epoch < config.epochs:
            if self.epoch < config.warmup_epochs:
                losses = self._train_epochs(self.nets, f"warmup{self.epoch}", self._save)
                self.epoch += 1
                self._record("warmup", [None, None], losses)
                self._save()
            elif (mid := self._mid_epoch(f"ssl{self.epoch}")) is not None:
                # Stopped inside this epoch: its split was computed (and the loss history grown) already.
                self._dividemix_ssl_epoch([p.numpy() for p in mid["posteriors"]], history)
            else:
                posteriors = []
                for k, trainer in enumerate(self.nets):
                    history[k] = (
                        history[k]
                        + [
                            normalise_losses(
                                per_sample_losses(trainer.model, self.inputs, run.observed_labels, device=self.device)
                            )
                        ]
                    )[-config.loss_history :]
                    posteriors.append(
                        gmm_clean_posterior(
                            np.mean(history[k], axis=0),
                            random_state=stream_seed(config.experiment.seed, "gmm", 2 * self.epoch + k),
                        )
                    )
                self._dividemix_ssl_epoch(posteriors, history)
            self.reporter.done += 1
            self._report("warm-up" if self.epoch < config.warmup_epochs else "training", f"epoch {self.epoch}")

    def _dividemix_ssl_epoch(self, posteriors: list[np.ndarray], history: list[list[np.ndarray]]) -> None:
        config = self.config
        splits = co_divide(*posteriors, threshold=config.threshold)

        def save(**extra: Any) -> None:
            if "mid_epoch" in extra:
                extra["mid_epoch"]["posteriors"] = [torch.from_numpy(p) for p in posteriors]
            self._save(loss_history=[torch.from_numpy(np.stack(h)) for h in history], **extra)

        tag = f"ssl{self.epoch}"
        losses = self._ssl_epochs(splits, tag, save, peer=True, ramp_start=self.epoch - config.warmup_epochs)
        self.epoch += 1
        self._record("ssl", splits, losses)
        save()

    def _run_inn_dividemix(self) -> None:
        config = self.config
        posteriors = self.checkpoint.get("posteriors")
        if posteriors is None:
            posteriors = self._inn_step1()
        else:
            posteriors = [p.numpy() for p in posteriors]
            rounds_scored = 0 if self.epoch < config.T1 else (self.epoch - config.T1 - 1) // config.T3 + 1
            self._start_work(config.inn_epochs + 1 + self.epoch + rounds_scored)
        self._report("training")
        while self.epoch < config.network_epochs:
            step1 = self.epoch < config.T1
            round_ = None if step1 else (self.epoch - config.T1) // config.T3 + 1
            tag = f"inn_ssl{self.epoch}"
            # A round's scores come from the networks at its start: not again after a stop inside its first epoch.
            if not step1 and (self.epoch - config.T1) % config.T3 == 0 and self._mid_epoch(tag) is None:
                # Algorithm D.1, lines 11-16: each network is its own f, its penultimate layer its h.
                self._report("scoring", f"round {round_}: INN scores of both networks")
                posteriors = [self._inn_posterior(t.model, t.model) for t in self.nets]
                self.reporter.done += 1
                self._save(posteriors=[torch.from_numpy(p) for p in posteriors])
            splits = co_divide(*posteriors, threshold=config.threshold)

            def save(posteriors: list[np.ndarray] = posteriors, **extra: Any) -> None:
                self._save(posteriors=[torch.from_numpy(p) for p in posteriors], **extra)

            # Step 1 is plain MixMatch (given labels, own guesses); step 2 is DivideMix's SSL step.
            losses = self._ssl_epochs(splits, tag, save, peer=not step1, ramp_start=self.epoch)
            self.epoch += 1
            self._record("mixmatch" if step1 else "dividemix_ssl", splits, losses, round_=round_)
            self._save(posteriors=[torch.from_numpy(p) for p in posteriors])
            self.reporter.done += 1
            self._report("training", f"epoch {self.epoch}")

    def _inn_posterior(self, f: nn.Module, h: nn.Module) -> np.ndarray:
        """(n,) Beta-mixture clean posterior of the INN scores of ``f`` on the neighbours in ``h``'s features."""
        config, exp = self.config, self.config.experiment
        _, posterior = inn_clean_posterior(
            f,
            h,
            self.inputs,
            self.data.observed_labels,
            L=exp.L,
            H=exp.H,
            device=self.device,
            split=config.mixture_split,
            init=config.mixture_init,
        )
        return posterior

    def _inn_step1(self) -> list[np.ndarray]:
        """Algorithm D.1, lines 1-3: two INN runs with independent initialisations, their Beta-mixture posteriors."""
        config, exp, run = self.config, self.config.experiment, self.data
        roles = ["mixup"] if exp.feature_model == "mixup" else ["mixup", exp.feature_model]
        trainers = {}
        for k in range(2):
            for i, role in enumerate(roles):
                model = build_model(exp, run, seed=stream_seed(exp.seed, "inn_step1_init", 10 * k + i))
                trainers[f"{role}{k + 1}"] = Trainer(
                    model,
                    self.inputs,
                    run.observed_labels,
                    config.inn_train_config(role, self.augment),
                    num_classes=run.num_classes,
                    device=self.device,
                    random_state=stream_seed(exp.seed, "inn_step1_batches", 10 * k + i),
                )
        for name, state in self.checkpoint.get("inn_trainers", {}).items():
            trainers[name].load_state_dict(state)
        # After a stop inside an epoch some models finished it and some did not: the epoch is the slowest's.
        inn_epoch = min(t.epoch for t in trainers.values())
        self._start_work(inn_epoch)
        self._report("INN models")

        def save(**extra: Any) -> None:
            self._save(inn_trainers={name: t.state_dict() for name, t in trainers.items()}, **extra)

        while inn_epoch < config.inn_epochs:
            self._train_epochs(list(trainers.values()), f"inn{inn_epoch}", save)
            inn_epoch += 1
            self.reporter.done += 1
            save()
            self._report("INN models", f"INN model epoch {inn_epoch} of {config.inn_epochs}")
        # Each run's f is its MixUp model, its h the feature model's penultimate layer.
        posteriors = [
            self._inn_posterior(trainers[f"mixup{k}"].model, trainers[f"{roles[-1]}{k}"].model) for k in (1, 2)
        ]
        if config.init_from_inn:
            for k, net in enumerate(self.nets):
                net.model.load_state_dict(trainers[f"mixup{k + 1}"].model.state_dict())
        self.reporter.done += 1
        self._save(posteriors=[torch.from_numpy(p) for p in posteriors])
        return posteriors
