"""The default experiment end to end, phase by phase, and one CIFAR-shaped training epoch.

Part 1 runs ``run_experiment(ExperimentConfig())`` - digits, 40 % symmetric noise, three
``small_cnn`` models (CE, CE + negative entropy, MixUp) for 40 epochs, every method scored at 8
evaluation epochs - into a temporary store. The engine functions the runner calls are wrapped
with stopwatches (instrumentation only, nothing else changes), so the table splits the wall time
into training per objective, features, neighbours, INN scores, the other scores, the Figure-2
consistency means, metrics and disk writes; a second table sets the time estimate the CLI prints
before a run (:func:`inn_core.runs.estimate.estimate_run`) beside the phases it stands for.

Part 2 times one training epoch of ``preact_resnet18`` per objective on CIFAR-shaped synthetic
data: all 50,000 samples on CUDA, a subset on the CPU.

    python benchmarks/bench_pipeline.py
    python benchmarks/bench_pipeline.py --quick      # 4 epochs, 2 evaluations
    python benchmarks/bench_pipeline.py --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from unittest import mock

import torch
from common import PeakMemory, header, mib, parse_args, synchronize, table

import inn_core.runs.cleanlab_step as cleanlab_step
import inn_core.runs.experiment as experiment
from inn_core.method.models import create_model
from inn_core.method.registry import METHODS
from inn_core.method.training import TrainConfig, Trainer
from inn_core.runs.estimate import RunEstimate, estimate_run
from inn_core.runs.experiment import ExperimentConfig, run_experiment
from inn_core.runs.store import RunStore

# What the runner calls, by the phase it belongs to.
PHASES = {
    "extract_features": "features (h)",
    "nearest_neighbors": "neighbours",
    "predict_proba": "predictions (accuracy)",
    "consistency_means": "consistency means (Fig. 2)",
    "split_clean": "metrics (Beta mixture, AUC)",
    "clean_noisy_auc": "metrics (Beta mixture, AUC)",
    "flag_metrics": "metrics (Beta mixture, AUC)",
    "precision_at_k": "metrics (Beta mixture, AUC)",
}
# The scorers of the method registry, by phase; cleanlab's is called once, inside its own phase.
SCORER_PHASES = {"inn": "INN scores"}
CLEANLAB_PHASE = "cleanlab (fold predictions, scoring)"
STORE_METHODS = ("write_arrays", "write_json", "write_torch", "update_run", "create_run")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cifar-n",
        type=int,
        default=None,
        help="samples of the CIFAR-shaped epoch (default 256 on the CPU, 50000 on CUDA)",
    )
    parser.add_argument("--skip-cifar", action="store_true", help="only the digits experiment")


class PhaseClock:
    """Wall time and call count per phase, summed over wrapped calls.

    Times are exclusive: a wrapped call made inside another (the cleanlab folds' training epochs,
    a store write inside the cleanlab step) counts for its own phase only, so the phases add up
    to the wall time.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._open: list[str] = []  # the phases of the wrapped calls under way, outermost first
        self._inner: list[float] = []  # per open call: seconds spent in the wrapped calls it made

    def wrap(self, phase: str | None, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            # Trainer.train_epoch is keyed by the objective of the trainer it runs on.
            key = phase or f"training ({args[0].config.objective})"
            if phase is None and CLEANLAB_PHASE in self._open:
                key = "training (ce, cleanlab folds)"
            self._open.append(key)
            self._inner.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                synchronize(self.device)
                elapsed = time.perf_counter() - start
                self._open.pop()
                self.seconds[key] += elapsed - self._inner.pop()
                self.calls[key] += 1
                if self._inner:
                    self._inner[-1] += elapsed

        return timed


def digits_experiment(args: argparse.Namespace) -> list[dict]:
    options = {"epochs": 4, "eval_epochs": (2, 4)} if args.quick else {}
    config = ExperimentConfig(device=args.device, **options)
    clock = PhaseClock(args.device)
    estimate = estimate_run(config)  # what the CLI prints before the run, calibrated here
    with ExitStack() as patches, tempfile.TemporaryDirectory() as home:
        for name, phase in PHASES.items():
            patches.enter_context(mock.patch.object(experiment, name, clock.wrap(phase, getattr(experiment, name))))
        timed_methods = {
            name: dataclasses.replace(method, scorer=clock.wrap(SCORER_PHASES.get(name, "other scores"), method.scorer))
            for name, method in METHODS.items()
            if name != "cleanlab"
        }
        patches.enter_context(mock.patch.dict(METHODS, timed_methods))
        patches.enter_context(
            mock.patch.object(
                cleanlab_step, "score_with_cleanlab", clock.wrap(CLEANLAB_PHASE, cleanlab_step.score_with_cleanlab)
            )
        )
        patches.enter_context(mock.patch.object(Trainer, "train_epoch", clock.wrap(None, Trainer.train_epoch)))
        for name in STORE_METHODS:
            patches.enter_context(
                mock.patch.object(RunStore, name, clock.wrap("store (disk)", getattr(RunStore, name)))
            )
        store = RunStore(home)
        with PeakMemory(args.device) as memory:
            start = time.perf_counter()
            run_experiment(config, store=store)
            synchronize(args.device)
            wall = time.perf_counter() - start
    rows = [
        {"phase": phase, "calls": clock.calls[phase], "seconds": seconds, "share": seconds / wall}
        for phase, seconds in sorted(clock.seconds.items(), key=lambda item: -item[1])
    ]
    rest = wall - sum(clock.seconds.values())
    rows.append(
        {"phase": "rest (data, noise, checkpoints in memory)", "calls": "", "seconds": rest, "share": rest / wall}
    )
    rows.append({"phase": "total", "calls": "", "seconds": wall, "share": 1.0})
    print(
        f"## Default digits experiment: {config.epochs} epochs x 3 models, evaluations at {list(config.eval_epochs)}, "
        f"L = {config.L}, H = {config.H}\n"
    )
    print(f"peak memory during the run: {mib(memory.peak):,.0f} MiB above the start\n")
    print(table(estimate_against(estimate, clock.seconds, wall)), "\n")
    return rows


def estimate_against(estimate: RunEstimate, seconds: dict[str, float], wall: float) -> list[dict]:
    """The time estimate's parts beside the measured phases they stand for."""
    training = sum(seconds[f"training ({objective})"] for objective in ("ce", "ce_ne", "mixup"))
    cleanlab = seconds["training (ce, cleanlab folds)"] + seconds[CLEANLAB_PHASE]
    parts = [
        ("training, 3 models", estimate.train_seconds, training),
        ("cleanlab folds", estimate.cleanlab_seconds, cleanlab),
        ("evaluations and the rest", estimate.eval_seconds + estimate.final_seconds, wall - training - cleanlab),
        ("total", estimate.seconds, wall),
    ]
    return [
        {"part": part, "estimated s": guess, "measured s": measured, "estimated / measured": guess / measured}
        for part, guess, measured in parts
    ]


def cifar_epoch(args: argparse.Namespace) -> list[dict]:
    cuda = args.device.startswith("cuda")
    n = args.cifar_n or (50_000 if cuda else (64 if args.quick else 256))
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(n, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (n,), generator=generator)
    rows = []
    for objective in ("ce", "ce_ne", "mixup"):
        model = create_model("preact_resnet18", num_classes=10, in_channels=3, image_size=32, seed=0)
        trainer = Trainer(
            model,
            inputs,
            labels,
            TrainConfig(objective=objective, epochs=1),
            num_classes=10,
            device=args.device,
            random_state=0,
        )
        with PeakMemory(args.device) as memory:
            synchronize(args.device)
            start = time.perf_counter()
            trainer.train_epoch()
            synchronize(args.device)
            seconds = time.perf_counter() - start
        rows.append(
            {
                "objective": objective,
                "samples": n,
                "batch": trainer.config.batch_size,
                "seconds": seconds,
                "samples/s": n / seconds,
                "50k-sample epoch, seconds": 50_000 / (n / seconds),
                "peak MiB": mib(memory.peak),
            }
        )
    print("## One training epoch, preact_resnet18 on CIFAR-shaped synthetic data (3x32x32)\n")
    if not cuda:
        print(f"On the CPU a {n}-sample subset; the 50k column extrapolates its rate linearly.\n")
    return rows


def main() -> None:
    args = parse_args("The default experiment end to end, and one CIFAR-shaped training epoch", _options)
    header("bench_pipeline: end to end", args)
    print(table(digits_experiment(args)), "\n", flush=True)
    if not args.skip_cifar:
        print(table(cifar_epoch(args)), flush=True)


if __name__ == "__main__":
    main()
