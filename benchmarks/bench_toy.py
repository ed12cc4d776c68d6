"""The landing page's toy: what one slider change costs on the server, against the 2 s target (issue 14).

Each row is one state of the sliders - the defaults, then each slider moved once - computed from
nothing (no cache), as the page does on a change: :func:`inn_core.views.toy.consistency_toy` (train the
MLP full batch, the heatmap, the paths, INN scores, Figure 2's means over training) plus the three
Plotly figures the page draws from it. Fastest of ``--repeats``.

    python benchmarks/bench_toy.py --threads 2 --repeats 3
"""

from __future__ import annotations

import dataclasses
import time

import torch
from common import header, parse_args, table  # noqa: I001 - benchmarks/ is on sys.path when run as a script

from dashboard import plots
from inn_core.views.toy import ToyConfig, consistency_toy

TARGET_SECONDS = 2.0
#: Each slider of the page moved once from its default (the page's own ranges).
CHANGES = {
    "defaults": {},
    "noise 0.1 -> 0.3": {"noise_rate": 0.3},
    "L 5 -> 15": {"L": 15},
    "H 10 -> 20": {"H": 20},
    "steps 500 -> 1500 (the slider's maximum)": {"epochs": 1500},
    "objective -> MixUp": {"objective": "mixup"},
}


def one_change(config: ToyConfig) -> dict[str, float]:
    started = time.perf_counter()
    result = consistency_toy(config)
    computed = time.perf_counter() - started
    plots.toy_surface_figure(result)
    plots.toy_curves_figure(result)
    if result.means is not None:
        means = result.means
        records = [
            {"epoch": int(e), "model": "toy", "E_cor": a, "E_inc": b, "E_m_cor": c, "E_m_inc": d}
            for e, a, b, c, d in zip(means["epochs"], means["E_cor"], means["E_inc"], means["Em_cor"], means["Em_inc"])
        ]
        plots.consistency_means_figure(records, model="toy")
    return {"toy s": computed, "with figures s": time.perf_counter() - started}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    if args.threads:
        torch.set_num_threads(args.threads)
    header("The consistency toy: one slider change", args)
    one_change(ToyConfig())  # imports and first-call set-up are paid once per server, not per change
    best: dict[str, dict[str, float]] = {}
    for _ in range(max(1, args.repeats)):
        for name, change in CHANGES.items():
            times = one_change(dataclasses.replace(ToyConfig(), **change))
            kept = best.setdefault(name, times)
            best[name] = {k: min(v, kept[k]) for k, v in times.items()}
    rows = [
        {"slider state": name, **times, "<= 2 s": "yes" if times["with figures s"] <= TARGET_SECONDS else "no"}
        for name, times in best.items()
    ]
    print(table(rows))


if __name__ == "__main__":
    main()
