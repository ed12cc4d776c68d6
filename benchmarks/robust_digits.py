"""Robust training on digits: CE, DivideMix and INN+DivideMix under heavy and imbalanced noise.

Runs every (noise setting, method, seed) with :func:`inn_core.runs.robust.train_robust` and the
digits defaults of :data:`inn_core.runs.robust.ROBUST_DEFAULTS`, then prints the markdown table of the
README: best and last test accuracy (mean and standard deviation over seeds, in %), the best-last
gap, and the mean wall time of one run on this machine. The settings follow the paper's Tables 2,
3 and D.1: symmetric 80 % and 90 %, asymmetric 40 % (digits mapping 7->1, 2->7, 5<->6, 3->8) and
the imbalanced pairs (1, 2), (3, 8), (4, 5), (7, 9) - all of the first class, 10 % of the second,
labels flipped with probability 0.3, tested on both classes' full test split.

Results go to ``--out`` (JSON) after every run; an interrupted benchmark started again with the
same ``--out`` skips what is done. ``dividemix70`` is DivideMix trained 70 epochs (10 warm-up + 60),
the length of INN+DivideMix's training at the digits defaults (40 INN epochs + 30), a matched baseline.
``--quick`` runs one seed of symmetric 80 % only, to check the script. The README table::

    python benchmarks/robust_digits.py --seeds 0 1 2 3 --out benchmarks/robust_digits.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from inn_core.data.noise import NoiseSpec
from inn_core.runs.experiment import ExperimentConfig
from inn_core.runs.robust import RobustConfig, robust_summary, train_robust
from inn_core.runs.store import RunStore

SETTINGS: dict[str, NoiseSpec] = {
    "symmetric 0.8": NoiseSpec("symmetric", 0.8),
    "symmetric 0.9": NoiseSpec("symmetric", 0.9),
    "asymmetric 0.4": NoiseSpec("asymmetric", 0.4, mapping="digits"),
    "imbalanced (1, 2)": NoiseSpec.imbalanced((1, 2)),
    "imbalanced (3, 8)": NoiseSpec.imbalanced((3, 8)),
    "imbalanced (4, 5)": NoiseSpec.imbalanced((4, 5)),
    "imbalanced (7, 9)": NoiseSpec.imbalanced((7, 9)),
}
METHOD_NAMES = {
    "ce": "CE",
    "dividemix": "DivideMix",
    "dividemix70": "DivideMix (70 epochs)",
    "inn_dividemix": "INN+DivideMix",
}
# Benchmark methods that are a robust method with other settings.
METHOD_VARIANTS = {"dividemix70": ("dividemix", {"epochs": 70})}


def run_all(
    settings: list[str],
    methods: list[str],
    seeds: list[int],
    *,
    store: RunStore,
    out: Path,
    overrides: dict | None = None,
) -> list[dict]:
    """Train every combination not yet in ``out`` (``overrides``: RobustConfig fields); returns all result rows."""
    rows = json.loads(out.read_text()) if out.exists() else []
    done = {(r["setting"], r["method"], r["seed"]) for r in rows}
    for seed in seeds:
        for setting in settings:
            for method in methods:
                if (setting, method, seed) in done:
                    continue
                base, extra = METHOD_VARIANTS.get(method, (method, {}))
                settings_ = {**(overrides or {}), **extra} if base == "inn_dividemix" else extra
                config = RobustConfig(
                    experiment=ExperimentConfig(noise=SETTINGS[setting], seed=seed, device="cpu"),
                    method=base,
                    name=f"{setting} {method} seed {seed}",
                    **settings_,
                )
                started = time.monotonic()
                run_id = train_robust(config, store=store)
                summary = robust_summary(store, run_id)
                rows.append(
                    {
                        "setting": setting,
                        "method": method,
                        "seed": seed,
                        "run_id": run_id,
                        "best": summary["best_test_accuracy"],
                        "last": summary["last_test_accuracy"],
                        "seconds": time.monotonic() - started,
                    }
                )
                out.write_text(json.dumps(rows, indent=2))
                print(
                    f"{setting:18s} {METHOD_NAMES[method]:14s} seed {seed}: best {100 * rows[-1]['best']:.1f} "
                    f"last {100 * rows[-1]['last']:.1f} ({rows[-1]['seconds']:.0f} s)",
                    flush=True,
                )
    return rows


def table(rows: list[dict], settings: list[str], methods: list[str]) -> str:
    """Markdown table, one line per (setting, method): mean (sd) over seeds."""

    def cell(values: list[float]) -> str:
        values = 100 * np.asarray(values)
        return f"{values.mean():.1f} ({values.std(ddof=1):.1f})" if values.size > 1 else f"{values.mean():.1f}"

    lines = ["| Noise | Method | Best | Last | Best - last | Seeds | Time per run |", "|---|---|---|---|---|---|---|"]
    for setting in settings:
        for method in methods:
            picked = [r for r in rows if r["setting"] == setting and r["method"] == method]
            if not picked:
                continue
            best = [r["best"] for r in picked]
            last = [r["last"] for r in picked]
            gap = [b - a for b, a in zip(best, last, strict=True)]
            seconds = np.mean([r["seconds"] for r in picked])
            lines.append(
                f"| {setting} | {METHOD_NAMES[method]} | {cell(best)} | {cell(last)} | {cell(gap)} | "
                f"{len(picked)} | {seconds:.0f} s |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS), metavar="SETTING")
    parser.add_argument("--methods", nargs="+", default=list(METHOD_NAMES), choices=list(METHOD_NAMES))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/robust_digits.json"))
    parser.add_argument("--home", type=Path, default=None, help="run store folder (default: a temporary one)")
    parser.add_argument(
        "--inn-epochs",
        type=int,
        default=None,
        help="epochs of INN+DivideMix's step-1 INN models (default: the digits default)",
    )
    parser.add_argument(
        "--mixture-split",
        choices=["global", "per_class"],
        default=None,
        help="INN+DivideMix's Beta-mixture split (default: the digits default)",
    )
    parser.add_argument(
        "--mixture-init",
        choices=["quantile", "arazo"],
        default=None,
        help="how the Beta mixture's EM starts (default: quantile)",
    )
    parser.add_argument("--quick", action="store_true", help="one seed, symmetric 80 %% only: checks the script")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads; 1 suits a machine whose cores are shared with other work",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    home = args.home or Path(tempfile.mkdtemp(prefix="robust-digits-"))
    if args.quick:
        args.seeds, args.settings = args.seeds[:1], ["symmetric 0.8"]
    given = {"inn_epochs": args.inn_epochs, "mixture_split": args.mixture_split, "mixture_init": args.mixture_init}
    overrides = {key: value for key, value in given.items() if value is not None}
    rows = run_all(args.settings, args.methods, args.seeds, store=RunStore(home), out=args.out, overrides=overrides)
    print()
    print(table(rows, args.settings, args.methods))


if __name__ == "__main__":
    main()
