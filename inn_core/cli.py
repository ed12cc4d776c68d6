"""Command line: ``python -m inn_core`` (also installed as ``inn-lab``).

Every user error - a bad flag value, an unknown dataset, a missing folder, an unknown run - exits
with status 2 and one line on stderr saying what is wrong and what would be right; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from inn_core.errors import InputError

__all__ = ["main", "build_parser"]


def _noise_from_args(args: argparse.Namespace):
    from inn_core.data.noise import NoiseSpec, read_transition_matrix
    from inn_core.forms import parse_ints, parse_mapping

    kind = args.noise or "symmetric"
    noise_kwargs: dict[str, Any] = {"kind": kind, "symmetric_mode": args.symmetric_mode}
    if args.rate is not None:
        noise_kwargs["rate"] = args.rate
    elif kind == "imbalanced":
        noise_kwargs["rate"] = 0.3
    if args.mapping:
        noise_kwargs["mapping"] = parse_mapping(args.mapping)
    elif kind == "asymmetric":
        noise_kwargs["mapping"] = args.dataset if args.dataset in ("cifar10", "cifar100", "digits") else None
    if args.classes:
        noise_kwargs["classes"] = parse_ints(args.classes, "--classes")
    if args.minority_fraction is not None:
        noise_kwargs["minority_fraction"] = args.minority_fraction
    if args.matrix:
        noise_kwargs["matrix"] = read_transition_matrix(Path(args.matrix))
    return NoiseSpec(**noise_kwargs)


def _config_from_args(args: argparse.Namespace, *, schedule: bool = True):
    """The ExperimentConfig the flags describe; ``schedule=False`` leaves its training schedule at defaults."""
    from inn_core.forms import parse_epochs, parse_option
    from inn_core.runs.experiment import ExperimentConfig

    training = {}
    if schedule:
        training = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "eval_epochs": parse_epochs(args.eval_epochs) if args.eval_epochs else None,
            "cleanlab_folds": args.cleanlab_folds,
            "cleanlab_epochs": args.cleanlab_epochs,
        }
    data_options = dict(parse_option(o) for o in args.data_option)
    model = args.model
    if args.backbone:
        from inn_core.runs.backbone_defaults import backbone_choice

        model, data_options = backbone_choice(args.backbone, args.dataset, data_options, model=args.model)
    return ExperimentConfig(
        dataset=args.dataset,
        data_root=args.data_root,
        data_options=data_options,
        noise=_noise_from_args(args),
        model=model,
        # Absolute, so a background worker started elsewhere finds the same file.
        weights=args.weights
        if args.weights in (None, "torchvision")
        else str(Path(args.weights).expanduser().resolve()),
        L=args.L,
        H=args.H,
        seed=args.seed,
        device=args.device,
        feature_model=args.feature_model,
        name=args.name,
        **training,
    )


def _robust_config_from_args(args: argparse.Namespace):
    from inn_core.runs.robust import RobustConfig

    experiment = _config_from_args(args, schedule=False)
    return RobustConfig(
        experiment=experiment,
        method=args.method.replace("-", "_"),
        epochs=args.epochs,
        warmup_epochs=args.warmup_epochs,
        inn_epochs=args.inn_epochs,
        T1=args.T1,
        T2=args.T2,
        T3=args.T3,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        lambda_u=args.lambda_u,
        mixture_split=args.mixture_split,
        mixture_init=args.mixture_init,
        name=args.name,
    )


class _ProgressBar:
    """A tqdm bar fed by the runner's Progress callbacks (percent of the whole run).

    Created on the first report, so errors found while loading data print without a bar.
    """

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, progress) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=100, unit="%", bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
        self.bar.set_description_str(f"{progress.phase:>10} epoch {progress.epoch}/{progress.epochs}")
        self.bar.n = round(100 * progress.fraction)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _auc_table(store, run_id: str) -> str:
    import pandas as pd

    from inn_core.method.registry import order_methods

    records = store.metrics(run_id)["methods"]
    if not records:
        return "(no scores yet: the run has not finished an evaluation epoch)"
    if "auc" not in records[0]:
        return "(no clean/noisy AUC: the true labels of this data are unknown)"
    table = pd.DataFrame(records).pivot(index="epoch", columns="method", values="auc")
    order = order_methods(table.columns)
    return "clean/noisy AUC (higher is better; clean = positive class)\n" + table[order].to_string(float_format="%.3f")


def _fit_table(store, run_id: str) -> str:
    import pandas as pd

    records = store.metrics(run_id)["models"]
    if not records:
        return ""
    table = pd.DataFrame(records).pivot(index="epoch", columns="model", values="fit_observed")
    return "fraction of observed (noisy) labels each model fits\n" + table.to_string(float_format="%.3f")


def _start(args: argparse.Namespace, store, config, *, checked: bool = False) -> str | None:
    """Run ``config`` in the foreground with a progress bar and return its id, or with ``--background``
    check its data, start a worker process, print the run id and return None.

    Bad data creates no run: it is checked first unless ``checked`` (it was already loaded)."""
    import time

    from inn_core.runs.launch import submit

    if args.background:
        from inn_core.method.distributed import launched

        if launched():
            raise InputError("--background starts its own worker process; under torchrun run in the foreground")
        print(submit(store, config))
        return None
    bar = _ProgressBar()
    started = time.monotonic()
    try:
        callbacks = [] if args.quiet else [bar]
        run_id = submit(store, config, background=False, validate=not checked, callbacks=callbacks)
    finally:
        bar.close()
    print(f"run {run_id} done in {time.monotonic() - started:.1f} s (store: {store.home})")
    return run_id


def _load_run_data(config, *, quiet: bool):
    """The run's data, decoding own images into the cache with a progress bar the first time."""
    from inn_core.data.cache import decode_progress
    from inn_core.runs.prepare import prepare_data

    bar = None

    def decoded(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and not quiet:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="img", desc="decoding images (cached for later runs)")
        if bar is not None:
            bar.n = done
            bar.refresh()

    try:
        with decode_progress(decoded):
            return prepare_data(config)
    finally:
        if bar is not None:
            bar.close()


def _plan(args: argparse.Namespace, config) -> tuple[Any, bool]:
    """Own images without --epochs: the schedule counted in SGD steps; then the time estimate.

    Returns the configuration and whether its data was loaded (and so checked) on the way.
    """
    from inn_core.forms import parse_epochs
    from inn_core.runs.backbone_defaults import OWN_IMAGE_DATASETS
    from inn_core.runs.estimate import estimate_run
    from inn_core.runs.schedule import fit_own_data_schedule

    own = config.dataset in OWN_IMAGE_DATASETS and args.epochs is None
    if not own and args.no_estimate and not args.estimate_only:
        return config, False
    run = _load_run_data(config, quiet=args.quiet)
    if own:
        config = fit_own_data_schedule(
            config, run.n, eval_epochs=parse_epochs(args.eval_epochs) if args.eval_epochs else None
        )
        print(
            f"schedule: {config.epochs} epochs of {run.n:,} samples at batch {config.batch_size} "
            f"(about {config.epochs * -(-run.n // config.batch_size):,} SGD steps per model; --epochs to change)"
        )
    if args.estimate_only or not args.no_estimate:
        estimate = estimate_run(config, run)
        print(estimate.describe(), flush=True)
        for line in estimate.advice():
            print(line, file=sys.stderr, flush=True)
    return config, True


def _cmd_run(args: argparse.Namespace, store) -> int:
    embeddings = bool(args.features or args.labels)
    if embeddings:
        config, checked = _embedding_config_from_args(args), False
    else:
        config, checked = _plan(args, _config_from_args(args))
        if args.estimate_only:
            return 0
    run_id = _start(args, store, config, checked=checked)
    if run_id is not None:
        if embeddings:
            data = store.read_json(run_id, "data.json")
            print(
                f"variant: embedding (INN on the given {data['feature_dim']}-d embeddings, head {data['model']}, "
                f"neighbours {data['neighbor_backend']})"
            )
        print(_auc_table(store, run_id))
        print(_fit_table(store, run_id))
        print(_next_steps(store, run_id))
    return 0


def _next_steps(store, run_id: str) -> str:
    """How many samples INN flags at the last epoch, and the commands that take it from there."""
    records = [r for r in store.metrics(run_id)["methods"] if r["method"] == "inn"]
    flagged = f"INN flags {records[-1]['n_flagged']:,} samples (epoch {records[-1]['epoch']}). " if records else ""
    return (
        f"{flagged}Next:\n"
        f"  python -m inn_core flagged {run_id} --top 50     # the most suspicious first\n"
        f"  python -m inn_core export {run_id} --format hf   # the cleaned set (decisions from Review applied)"
    )


def _embedding_config_from_args(args: argparse.Namespace):
    """``run --features F``: the EmbeddingConfig (INN in embedding space, a run of kind ``embedding``)."""
    from inn_core.forms import parse_epochs, parse_option
    from inn_core.runs.embedding_run import EmbeddingConfig

    if not args.features:
        raise InputError("--labels goes with --features FILE (the embeddings the labels belong to)")
    for flag in ("model", "backbone", "weights"):
        if getattr(args, flag):
            raise InputError(
                f"--{flag} does not apply to a run on given embeddings (--features): no network "
                "sees an image there; --head picks the classifier on the embeddings"
            )
    return EmbeddingConfig(
        features=args.features,
        labels=args.labels,
        dataset=None if args.labels else args.dataset,
        data_root=args.data_root,
        data_options=dict(parse_option(o) for o in args.data_option),
        noise=_noise_from_args(args) if args.noise or not args.labels else None,
        head=args.head,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        eval_epochs=parse_epochs(args.eval_epochs) if args.eval_epochs else None,
        L=args.L,
        H=args.H,
        neighbor_backend=args.neighbor_backend,
        seed=args.seed,
        device=args.device,
        name=args.name,
    )


def _cmd_resume(args: argparse.Namespace, store) -> int:
    from inn_core.runs.launch import resume

    bar = _ProgressBar()
    try:
        resume(store, args.run, callbacks=[] if args.quiet else [bar])
    finally:
        bar.close()
    if not args.quiet:
        print(_result_table(store, args.run))
    return 0


def _robust_table(store, run_id: str) -> str:
    import pandas as pd

    records = store.read_json(run_id, "metrics.json", {}).get("robust", [])
    if not records:
        return "(no epoch finished yet)"
    columns = [
        c
        for c in (
            "epoch",
            "phase",
            "test_accuracy",
            "best_test_accuracy",
            "labelled_size_net1",
            "labelled_precision_net1",
            "labelled_recall_net1",
            "labelled_size_net2",
            "labelled_precision_net2",
            "labelled_recall_net2",
        )
        if c in records[-1]
    ]
    return pd.DataFrame(records)[columns].to_string(index=False, float_format="%.3f")


def _result_table(store, run_id: str) -> str:
    if store.get_run(run_id).kind == "robust":
        return _robust_table(store, run_id)
    return _auc_table(store, run_id)


def _cmd_train(args: argparse.Namespace, store) -> int:
    from inn_core.runs.distributed import steps_aside
    from inn_core.runs.robust import robust_summary

    if steps_aside(sharded=False):  # DivideMix's co-training runs on rank 0 alone
        return 0

    run_id = _start(args, store, _robust_config_from_args(args))
    if run_id is not None:
        summary = robust_summary(store, run_id)
        print(_robust_table(store, run_id))
        if summary["last_test_accuracy"] is None:
            print("test accuracy: not measured (the data has no test split; see --data-option test_fraction=...)")
        else:
            print(f"test accuracy: best {summary['best_test_accuracy']:.3f}, last {summary['last_test_accuracy']:.3f}")
    return 0


def _cmd_list(args: argparse.Namespace, store) -> int:
    import time

    runs = store.list_runs()
    if getattr(args, "json", False):
        print(json.dumps([_run_json(r) for r in runs], indent=2))
        return 0
    if not runs:
        print(f"no runs in {store.home}; start one with `python -m inn_core run`")
        return 0
    print(f"{'id':24} {'kind':10} {'status':10} {'progress':>8}  {'created':16}  {'dataset':10} {'noise':16} name")
    for r in runs:
        experiment = r.experiment
        noise = experiment.get("noise", {})
        setting = noise.get("kind", "") + ("" if noise.get("kind") == "none" else f" {noise.get('rate', '')}")
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        kind = r.config.get("method", r.kind) if r.kind == "robust" else r.kind
        dataset = experiment.get("dataset") or "embeddings"
        print(f"{r.id:24} {kind:10} {r.status:10} {r.progress:8.0%}  {created:16}  {dataset:10} {setting:16} {r.name}")
    return 0


def _run_json(r) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "status": r.status,
        "progress": r.progress,
        "phase": r.phase,
        "created": r.created,
        "updated": r.updated,
        "error": r.error,
        "config": r.config,
    }


def _cmd_show(args: argparse.Namespace, store) -> int:
    record = store.get_run(args.run)
    metrics = store.metrics(args.run)
    if args.json:
        out = {
            "run": {
                "id": record.id,
                "name": record.name,
                "status": record.status,
                "progress": record.progress,
                "created": record.created,
                "error": record.error,
                "config": record.config,
                "data": store.read_json(args.run, "data.json"),
            },
            "metrics": metrics.get("methods", metrics.get("robust", [])),
            "models": metrics.get("models", []),
        }
        print(json.dumps(out, indent=2, allow_nan=True))
        return 0
    print(f"run {record.id} ({record.name}): {record.status}, {record.progress:.0%}")
    if record.error:
        print(f"error: {record.error}")
    data = store.read_json(args.run, "data.json")
    if data:
        dataset = record.experiment.get("dataset") or record.experiment.get("features")
        print(
            f"data: {dataset}, n = {data['n']}, {data['num_classes']} classes, model {data['model']}; "
            f"noise: {data['noise']}"
            + (f", actual noisy fraction {data['actual_rate']:.3f}" if data.get("actual_rate") is not None else "")
        )
    print(_result_table(store, args.run))
    if record.kind != "robust":
        print(_fit_table(store, args.run))
    return 0


def _cmd_cancel(args: argparse.Namespace, store) -> int:
    store.request_cancel(args.run)
    print(f"asked run {args.run} to stop; it stops after its current step and can be resumed")
    return 0


def _cmd_flagged(args: argparse.Namespace, store) -> int:
    from inn_core.views.review import flagged_samples

    table = flagged_samples(store, args.run, method=args.method, epoch=args.epoch, top=args.top)
    columns = [
        c
        for c in ("index", "source", "observed_label", "predicted_label", "score", "clean_posterior", "true_label")
        if c in table.columns
    ]
    text = (
        table[columns].to_json(orient="records", indent=1) + "\n" if args.json else table[columns].to_csv(index=False)
    )
    if args.output:
        Path(args.output).write_text(text)
        print(f"{len(table)} flagged samples written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_export(args: argparse.Namespace, store) -> int:
    from inn_core.views.exports import export

    out = args.output or str(store.run_dir(args.run) / "export")
    store.get_run(args.run)
    files = export(store, args.run, out, format=args.format, method=args.method, link=args.link)
    for name, path in files.items():
        print(f"{name:15} {path}")
    return 0


def _cmd_demo_assets(args: argparse.Namespace, store) -> int:
    from inn_core.views.demo import DEMO_DIR, write_demo_assets

    # The package's own folder by default: that is where the dashboard reads the demo from.
    path = write_demo_assets(args.output or DEMO_DIR, store=store)
    print(f"demo run metrics written to {path}")
    return 0


def _cmd_ablate(args: argparse.Namespace, store) -> int:
    from inn_core.runs.ablation import ABLATION_FILE, ablate

    bar = None  # opened at the first progress report: none for a bad run id or a cached table
    computed = False

    def progress(fraction: float, message: str) -> None:
        nonlocal bar, computed
        computed = True
        if bar is None and not (args.quiet or args.json):
            bar = _tqdm_bar("ablations")
        if bar is not None:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(message)
            bar.refresh()

    try:
        table = ablate(store, args.run, device=args.device, refresh=args.refresh, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if not computed and not args.quiet:
        print(f"read from the run's cached {ABLATION_FILE}; --refresh recomputes it", file=sys.stderr)
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    print(f"{'ingredient':10} {'value':>10} {'AUC':>7}")
    for row in table["rows"]:
        print(f"{row['group']:10} {row['value']!s:>10} {row['auc']:7.4f}")
    return 0


def _tqdm_bar(desc: str):
    from tqdm import tqdm

    return tqdm(total=100, desc=desc, unit="%", file=sys.stderr)


def _cmd_toy(args: argparse.Namespace, store) -> int:
    from inn_core.views.toy import ToyConfig, consistency_toy, toy_summary

    config = ToyConfig(
        noise_rate=args.noise_rate, L=args.L, H=args.H, epochs=args.steps, objective=args.objective, seed=args.seed
    )
    summary = toy_summary(consistency_toy(config))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for name in ("clean_point", "noisy_point"):
        point = summary[name]
        if point is not None:
            print(f"{name:12} f_y at the point {point['fy_at_point']:.3f}   INN score {point['inn_score']:.3f}")
    auc = summary["auc"]
    if auc["inn"] is not None:
        print(f"AUC (clean vs noisy, all points): INN {auc['inn']:.3f}   f_y(x) {auc['fy']:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from inn_core.data.datasets import DATASETS
    from inn_core.data.noise import NOISE_KINDS, SYMMETRIC_MODES
    from inn_core.method.models import HEADS, MODELS
    from inn_core.method.neighbors import BACKENDS
    from inn_core.method.registry import METHODS
    from inn_core.runs.experiment import MODEL_ROLES

    parser = _Parser(
        prog="python -m inn_core",
        description="INN Lab: find wrongly labelled training samples with INN "
        "(Integration with the Nearest Neighborhoods).",
    )
    from inn_core import __version__

    parser.add_argument(
        "--home",
        default=os.environ.get("INN_LAB_HOME") or "runs",
        help="run store folder (default: $INN_LAB_HOME, else ./runs - the dashboard's store)",
    )
    parser.add_argument("--version", action="version", version=f"inn-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_and_noise(command: argparse.ArgumentParser) -> None:
        data = command.add_argument_group("data")
        data.add_argument("--dataset", default="digits", help=f"one of {', '.join(DATASETS)} (default: digits)")
        data.add_argument("--data-root", help="CIFAR folder, image folder, or CSV file of filepath,label")
        data.add_argument(
            "--data-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="dataset option, e.g. max_samples=500, test_fraction=0.2, image_size=32, download=true",
        )
        noise = command.add_argument_group("noise")
        noise.add_argument("--noise", help=f"one of {', '.join(NOISE_KINDS)} (default: symmetric; none with --labels)")
        noise.add_argument("--rate", type=float, help="noise rate r in [0, 1] (default 0.4; 0.3 for imbalanced)")
        noise.add_argument(
            "--symmetric-mode", default="paper", help=f"one of {', '.join(SYMMETRIC_MODES)} (default: paper)"
        )
        noise.add_argument("--mapping", help="asymmetric mapping: cifar10, cifar100, digits, or pairs like 3->5,5->3")
        noise.add_argument("--classes", help="imbalanced: majority,minority classes, e.g. 0,1")
        noise.add_argument(
            "--minority-fraction", type=float, help="imbalanced: fraction of the minority class kept (default 0.1)"
        )
        noise.add_argument(
            "--matrix", help="matrix noise: CSV file of a row-stochastic K x K transition matrix T[true, observed]"
        )
        model = command.add_argument_group("model and INN")
        model.add_argument(
            "--model",
            help=f"one of {', '.join(MODELS)}, or tv:NAME (default: by image size; own images on a CPU: "
            "compact_cnn from 16 px, small_cnn below)",
        )
        model.add_argument(
            "--backbone",
            metavar="NAME",
            help="a torchvision classification model as h and f (resnet18, resnet50, ...); own images "
            "are then read at its input size (224 for ResNets), resized and centre-cropped",
        )
        model.add_argument(
            "--weights",
            metavar="PATH",
            help="the backbone's weights: a torch.save(model.state_dict()) file, or 'torchvision' "
            "for torchvision's download (online machines only)",
        )
        model.add_argument("--L", type=int, default=10, help="neighbours per sample (default 10)")
        model.add_argument("--H", type=int, default=10, help="trapezoids per path (default 10)")
        model.add_argument(
            "--feature-model", default="ce", help=f"model whose penultimate layer is h: {', '.join(MODEL_ROLES)}"
        )
        model.add_argument("--seed", type=int, default=0, help="seed of data split, noise and training (default 0)")
        model.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
        command.add_argument("--name", default="", help="a name for listings")
        command.add_argument(
            "--background", action="store_true", help="start in a background process and print the run id"
        )
        command.add_argument("--quiet", action="store_true", help="no progress bar")

    run = sub.add_parser(
        "run",
        help="run an experiment (defaults: digits, symmetric 40%% noise, small_cnn)",
        description="Train CE, CE+NE and MixUp models on noisy labels and score every sample at each evaluation epoch.",
    )
    data_and_noise(run)
    train = run.add_argument_group("training")
    train.add_argument("--epochs", type=int, help="training epochs (default per dataset; digits 40)")
    train.add_argument("--eval-epochs", help="comma-separated epochs to score at (default: 8 evenly spaced)")
    train.add_argument("--batch-size", type=int, help="SGD batch size (default per dataset; digits 64)")
    train.add_argument(
        "--lr", type=float, help="learning rate (default per dataset; digits 0.1), divided by 5 at 1/2 and 3/4"
    )
    train.add_argument("--weight-decay", type=float, help="weight decay (default per dataset; digits 0)")
    train.add_argument(
        "--cleanlab-folds",
        type=int,
        default=5,
        help="K of the cleanlab method: K extra CE models for out-of-fold probabilities (0 = off; default 5)",
    )
    train.add_argument(
        "--cleanlab-epochs",
        type=int,
        help="epochs of each cleanlab fold model (default a quarter of --epochs: longer ones memorise the noise)",
    )
    timing = run.add_argument_group("time estimate")
    timing.add_argument(
        "--estimate-only",
        action="store_true",
        help="print the run's estimated time (a few seconds of calibration) and exit",
    )
    timing.add_argument("--no-estimate", action="store_true", help="start without estimating the time first")
    embedding = run.add_argument_group("embeddings (INN in embedding space: no network is trained on images)")
    embedding.add_argument(
        "--features",
        metavar="FILE",
        help="your embeddings, one row per sample: .npy, .npz or .parquet; labels from --dataset "
        "(rows in its training-split order) or --labels",
    )
    embedding.add_argument(
        "--labels", metavar="FILE", help="the observed labels: .npy, .csv or .txt (noise: none unless --noise)"
    )
    embedding.add_argument(
        "--head",
        default="linear_head",
        choices=list(HEADS),
        help="classifier head f trained with MixUp on the embeddings (default linear_head)",
    )
    embedding.add_argument(
        "--neighbor-backend",
        default="auto",
        choices=[b for b in BACKENDS if b != "torch"],
        help="neighbour search (default auto: exact unless that takes minutes, then faiss-hnsw)",
    )
    run.set_defaults(func=_cmd_run)

    robust = sub.add_parser(
        "train",
        help="train a noise-robust classifier: DivideMix or INN+DivideMix (or plain CE)",
        description="Train a classifier on noisy labels with DivideMix, INN+DivideMix (the paper's "
        "Algorithm D.1) or cross-entropy, reporting test accuracy per epoch.",
    )
    robust.add_argument(
        "--method",
        default="inn-dividemix",
        choices=["inn-dividemix", "dividemix", "ce"],
        help="training method (default inn-dividemix)",
    )
    data_and_noise(robust)
    schedule = robust.add_argument_group("schedule (defaults per dataset; see inn_core.runs.robust.ROBUST_DEFAULTS)")
    schedule.add_argument("--epochs", type=int, help="epochs of dividemix and ce, warm-up included (digits 40)")
    schedule.add_argument("--warmup-epochs", type=int, help="DivideMix CE warm-up epochs (digits 10)")
    schedule.add_argument(
        "--inn-epochs", type=int, help="INN+DivideMix step 1: epochs of the INN models (digits 40, CIFAR 50)"
    )
    schedule.add_argument("--T1", type=int, help="INN+DivideMix: MixMatch epochs after step 1 (digits 6)")
    schedule.add_argument("--T2", type=int, help="INN+DivideMix: rounds of re-scoring (digits 4)")
    schedule.add_argument("--T3", type=int, help="INN+DivideMix: SSL epochs per round (digits 6)")
    schedule.add_argument("--batch-size", type=int, help="SGD batch size (digits 32)")
    schedule.add_argument("--lr", type=float, help="learning rate (digits 0.02)")
    schedule.add_argument("--weight-decay", type=float, help="weight decay (digits 5e-4)")
    schedule.add_argument(
        "--lambda-u", type=float, help="unlabelled loss weight (default by noise level, as DivideMix)"
    )
    schedule.add_argument(
        "--mixture-split",
        choices=["global", "per_class"],
        help="INN+DivideMix: one Beta mixture, or one per class (digits default per_class)",
    )
    schedule.add_argument(
        "--mixture-init",
        choices=["quantile", "arazo"],
        default="quantile",
        help="Beta mixture EM start: quantile (default) or Arazo et al.'s Beta(1,2)/Beta(2,1), 10 iterations",
    )
    robust.set_defaults(func=_cmd_train)

    listing = sub.add_parser("list", help="list runs")
    listing.add_argument("--json", action="store_true", help="JSON: [{id, name, kind, status, progress, config, ...}]")
    listing.set_defaults(func=_cmd_list)

    show = sub.add_parser("show", help="a run's metrics")
    show.add_argument("run")
    show.add_argument(
        "--json", action="store_true", help="JSON: {run, metrics: [{epoch, method, auc, ...}], models: [...]}"
    )
    show.set_defaults(func=_cmd_show)

    resume = sub.add_parser("resume", help="continue an interrupted, failed or cancelled run from its last checkpoint")
    resume.add_argument("run")
    resume.add_argument("--quiet", action="store_true")
    resume.set_defaults(func=_cmd_resume)

    cancel = sub.add_parser("cancel", help="ask a running run to stop (it can be resumed)")
    cancel.add_argument("run")
    cancel.set_defaults(func=_cmd_cancel)

    flagged = sub.add_parser("flagged", help="CSV of flagged samples, most suspicious first")
    flagged.add_argument("run")
    flagged.add_argument("--method", default="inn", help=f"one of {', '.join(METHODS)} (default inn)")
    flagged.add_argument("--top", type=int, help="the N lowest scores instead of the Beta-mixture split")
    flagged.add_argument("--epoch", type=int, help="evaluation epoch (default: the last)")
    flagged.add_argument("--output", "-o", help="write to this file instead of stdout")
    flagged.add_argument("--json", action="store_true", help="JSON records instead of CSV")
    flagged.set_defaults(func=_cmd_flagged)

    from inn_core.views.exports import EXPORT_FORMATS

    export = sub.add_parser(
        "export",
        help="the reviewed run as csv, imagefolder, hf, labelstudio or datalab",
        description="Write a run with its review decisions applied, in a format other tools read: "
        + "; ".join(f"{k}: {v}" for k, v in EXPORT_FORMATS.items())
        + ".",
    )
    export.add_argument("run")
    export.add_argument(
        "--format", "-f", default="csv", choices=list(EXPORT_FORMATS), help="export format (default csv)"
    )
    export.add_argument("--output", "-o", help="folder (default: <run dir>/export)")
    export.add_argument(
        "--link",
        default="hardlink",
        choices=["hardlink", "copy"],
        help="imagefolder from image files: hard links (default) or copies",
    )
    export.add_argument("--method", default="inn", help="method whose scores go into scores.csv (default inn)")
    export.set_defaults(func=_cmd_export)

    ablate = sub.add_parser(
        "ablate",
        help="a finished run's AUC with INN's ingredients changed (Figure 3, Appendix E.1)",
        description="Rescore a finished run from its stored models: midpoint vs integral, "
        "L in 1,5,10,20, H in 1,2,5,10, f = MixUp or CE, h = CE, CE+NE or MixUp. "
        "Cached in the run directory as ablation.json.",
    )
    ablate.add_argument("run")
    ablate.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    ablate.add_argument("--refresh", action="store_true", help="recompute even if a cached table exists")
    ablate.add_argument("--json", action="store_true", help="JSON: {run, baseline, rows: [{group, value, auc, ...}]}")
    ablate.add_argument("--quiet", action="store_true", help="no progress bar")
    ablate.set_defaults(func=_cmd_ablate)

    toy = sub.add_parser(
        "toy",
        help="the consistency toy of the landing page: its numbers for scripts and slides",
        description="Train the 2-D toy of 'The consistency effect' page and print its numbers.",
    )
    toy.add_argument("--noise-rate", type=float, default=0.1, help="fraction of flipped labels (default 0.1)")
    toy.add_argument("--L", type=int, default=5, help="neighbours per point (default 5)")
    toy.add_argument("--H", type=int, default=10, help="trapezoids per path (default 10)")
    toy.add_argument(
        "--epochs",
        "--steps",
        dest="steps",
        type=int,
        default=500,
        help="full-batch training steps = epochs (default 500)",
    )
    toy.add_argument("--objective", choices=["ce", "mixup"], default="ce", help="cross-entropy (default) or MixUp")
    toy.add_argument("--seed", type=int, default=0)
    toy.add_argument("--json", action="store_true", help="JSON: clean_point, noisy_point, means, auc, config")
    toy.set_defaults(func=_cmd_toy)

    demo = sub.add_parser(
        "demo-assets", help="rerun the default digits experiment and write its metrics to assets/demo"
    )
    demo.add_argument("--output", help="folder to write to (default: the package's assets/demo, read by the dashboard)")
    demo.set_defaults(func=_cmd_demo_assets)
    for command in sub.choices.values():
        # Also after the command (`ablate RUN --home DIR`); SUPPRESS keeps the global value otherwise.
        command.add_argument("--home", default=argparse.SUPPRESS, help="run store folder (as before the command)")
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors (exit 2); subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (`{self.prog} --help` lists the options)\n")


def _rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error).

    Under ``torchrun`` every rank runs this; only rank 0 prints results and progress.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if _rank() > 0:
        args.quiet = True
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this rank's process
    from inn_core.runs.distributed import RankStopped
    from inn_core.runs.lifecycle import Cancelled
    from inn_core.runs.store import RunStore

    try:
        store = RunStore(args.home)
        code = args.func(args, store)
        sys.stdout.flush()  # inside the try: a reader that went away is noticed here, not at exit
        return code
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Cancelled as exc:
        print(f"run {exc} cancelled; `python -m inn_core resume {exc}` continues it", file=sys.stderr)
        return 1
    except RankStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; `python -m inn_core resume RUN` continues from the last checkpoint", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader went away (``... | head``): stop quietly, as Unix tools do.

    Python flushes stdout again at exit, which would raise once more; pointing it at /dev/null
    first lets the interpreter end without a second traceback.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe
