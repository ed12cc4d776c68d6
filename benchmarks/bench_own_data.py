"""Own data end to end through the CLI defaults: a 5,000-image 28x28 CSV with 30 % wrong labels.

Target (issue 12): <= 120 s end to end on 2 CPU cores with the CLI defaults (decoding the images
into the cache included), INN's clean/noisy AUC within 0.01 of the full 40-epoch schedule.

The data is built here from scikit-learn's digits (``benchmarks/own_data.py``: upscaled, rotated,
shifted, noisy 28x28 PNGs; nothing is downloaded). Each route is one ``python -m inn_core run``
process, timed from the outside, with its own store and a cold image cache (the warm row reruns
the defaults on the cache the first row built). AUC is computed against the known wrong labels.

    python benchmarks/bench_own_data.py            # 5,000 images; defaults, warm cache, 40 epochs
    python benchmarks/bench_own_data.py --quick    # 1,000 images; defaults only
    python benchmarks/bench_own_data.py --candidate-epochs 16   # also 16 epochs (1,200 steps) beside them
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from own_data import build_own_csv  # noqa: E402

from inn_core.method.metrics import clean_noisy_auc  # noqa: E402
from inn_core.runs.store import RunStore  # noqa: E402

TARGET_SECONDS = 120.0


def run_cli(table: Path, home: Path, cache: Path, extra: list[str], threads: int | None) -> tuple[float, str]:
    env = {**os.environ, "INN_LAB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [
        sys.executable,
        "-m",
        "inn_core",
        "--home",
        str(home),
        "run",
        "--dataset",
        "csv",
        "--data-root",
        str(table),
        "--noise",
        "none",
        "--device",
        "cpu",
        "--quiet",
        *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return wall, done.stdout


def inn_auc(home: Path, folder: Path) -> tuple[float, int, int]:
    """INN's AUC at the run's last evaluation against truth.csv, its epochs and SGD steps per model."""
    store = RunStore(home)
    (run,) = store.list_runs()
    last = store.eval_epochs(run.id)[-1]
    scores = store.epoch_scores(run.id, last)["scores_inn"]
    sources = store.read_json(run.id, "sources.json")
    truth = {r["filepath"]: bool(int(r["wrong"])) for r in csv.DictReader((folder / "truth.csv").open())}
    wrong = np.array([truth[s] for s in sources])
    steps = run.config["epochs"] * -(-len(sources) // run.config["batch_size"])
    return clean_noisy_auc(scores, wrong), run.config["epochs"], steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 images, the defaults only (a smoke test)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the runs (default: all cores)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where data, caches and stores go (default: a temp dir)"
    )
    parser.add_argument(
        "--candidate-epochs",
        type=int,
        action="append",
        default=[],
        metavar="E",
        help="also run E epochs scored once at the end, what a different OWN_DATA_STEPS default would give",
    )
    args = parser.parse_args()
    n = 1000 if args.quick else 5000
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-own-data-"))
    folder = work / f"own{n}"
    table = folder / "data.csv"
    if not table.is_file():
        build_own_csv(folder, n=n, rate=0.3, seed=0)
    routes = [("CLI defaults, cold cache", "defaults", [], "cold")]
    if not args.quick:
        routes += [
            ("CLI defaults, warm cache", "defaults-warm", [], "cold"),
            *(
                (
                    f"{e} epochs (a candidate default)",
                    f"epochs{e}",
                    ["--epochs", str(e), "--eval-epochs", str(e)],
                    "cold",
                )
                for e in args.candidate_epochs
            ),
            ("full schedule (--epochs 40)", "full", ["--epochs", "40", "--eval-epochs", "40"], "full"),
        ]
    rows = []
    for title, home_name, extra, cache_name in routes:
        home = work / home_name
        wall, out = run_cli(table, home, work / f"cache-{cache_name}", extra, args.threads)
        auc, epochs, steps = inn_auc(home, folder)
        estimate = re.search(r"estimated time: about ([^-]+) -", out)
        rows.append((title, epochs, steps, wall, estimate.group(1).strip() if estimate else "-", auc))
    full_auc = rows[-1][5] if not args.quick else None
    cpu = os.cpu_count()
    print(
        f"\n## Own data: {n:,} 28x28 PNGs in a CSV, 10 classes, 30 % wrong labels "
        f"({cpu} cores visible, threads={args.threads or 'all'})\n"
    )
    print("| route | epochs | SGD steps / model | wall s | estimate | INN AUC | AUC - full |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for title, epochs, steps, wall, estimate, auc in rows:
        delta = "-" if full_auc is None else f"{auc - full_auc:+.4f}"
        print(f"| {title} | {epochs} | {steps:,} | {wall:.1f} | {estimate} | {auc:.4f} | {delta} |")
    defaults = rows[0]
    verdict = "meets" if defaults[3] <= TARGET_SECONDS else "misses"
    print(
        f"\ntarget: defaults <= {TARGET_SECONDS:.0f} s end to end ({verdict} it here: {defaults[3]:.1f} s)"
        + (
            ""
            if full_auc is None
            else f"; AUC within 0.01 of the full schedule "
            f"({'yes' if abs(defaults[5] - full_auc) <= 0.01 else 'no'}: {defaults[5] - full_auc:+.4f})"
        )
    )
    if args.quick:
        print("(--quick: 1,000 images and no full-schedule run; the target is for the full form on a quiet machine)")


if __name__ == "__main__":
    main()
