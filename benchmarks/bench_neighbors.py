"""Exact k-nearest neighbours: the engine against scikit-learn brute force and FAISS IndexFlatL2.

Every sample is a query (all-pairs kNN, the sample itself excluded), as INN needs. For each size
the contenders run interleaved in one process (``--repeats`` times, fastest kept) and the table
gives seconds, the ratio to FAISS, peak memory and the share of neighbour sets equal to the
engine's exact ones (ties broken by index; FAISS and scikit-learn rank in float32, so a near-tie
can swap the k-th neighbour).

    python benchmarks/bench_neighbors.py              # n = 10k, 20k, 50k at d = 512, plus digits
    python benchmarks/bench_neighbors.py --quick      # n = 2k, 5k
    python benchmarks/bench_neighbors.py --device cuda
"""

from __future__ import annotations

import argparse

import numpy as np
from common import header, mib, parse_args, race, table

from inn_core.data.datasets import load_dataset
from inn_core.method.models import create_model
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.training import extract_features


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="sample counts n (default 10000 20000 50000)"
    )
    parser.add_argument("--dim", type=int, default=512, help="feature dimension d of the synthetic features")
    parser.add_argument("-k", type=int, default=10, help="neighbours per sample")
    parser.add_argument(
        "--sklearn-max", type=int, default=50_000, help="skip scikit-learn above this n (it is the slowest contender)"
    )
    parser.add_argument(
        "--faiss-backend",
        action="store_true",
        help="also time the engine with backend='faiss' (faiss proposes, the engine proves)",
    )


def _faiss_search(features: np.ndarray, k: int) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatL2(features.shape[1])
    index.add(features)
    _, labels = index.search(features, k + 1)
    # Drop the query itself where it came back, else the (k+1)-th.
    rows = np.arange(len(features))[:, None]
    position = np.where(labels == rows, k + 1, np.arange(k + 1))
    keep = np.argsort(position, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(labels, keep, axis=1)


def _sklearn_search(features: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k, algorithm="brute").fit(features).kneighbors(return_distance=False)


def _same_sets(found: np.ndarray, exact: np.ndarray) -> str:
    """Percentage of rows whose neighbour set equals the exact one, with the count that differ."""
    differ = int((~(np.sort(found, axis=1) == np.sort(exact, axis=1)).all(axis=1)).sum())
    return f"{100 * (1 - differ / len(found)):.3f} % ({differ} differ)"


def compare(name: str, features: np.ndarray, args: argparse.Namespace) -> list[dict]:
    n, d = features.shape
    contenders = {
        "inn_core (torch tiles)": (
            lambda: nearest_neighbors(features, args.k, device=args.device, backend="torch")[0],
            args.device,
        ),
        "faiss IndexFlatL2": (lambda: _faiss_search(features, args.k), "cpu"),
    }
    if args.faiss_backend:
        contenders["inn_core (faiss candidates)"] = (
            lambda: nearest_neighbors(features, args.k, device="cpu", backend="faiss")[0],
            "cpu",
        )
    if n <= args.sklearn_max:
        contenders["sklearn brute"] = (lambda: _sklearn_search(features, args.k), "cpu")
    results = race(contenders, repeats=args.repeats)
    exact = results["inn_core (torch tiles)"].result
    faiss_seconds = results["faiss IndexFlatL2"].seconds
    rows = []
    for method, m in results.items():
        rows.append(
            {
                "data": name,
                "n": n,
                "d": d,
                "method": method,
                "device": contenders[method][1],
                "seconds": m.seconds,
                "ratio to faiss": m.seconds / faiss_seconds,
                "peak MiB": mib(m.peak_bytes),
                "same neighbour sets": _same_sets(m.result, exact),
            }
        )
    return rows


def main() -> None:
    args = parse_args("Exact kNN: inn_core vs scikit-learn and FAISS", _options)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    header("bench_neighbors: exact all-pairs kNN", args)
    print(
        f"k = {args.k}; synthetic features are standard normal float32 (seed 0); contenders run "
        f"interleaved, fastest of {args.repeats} (after one untimed run each for peak memory); faiss "
        f"and scikit-learn always on the CPU with {args.threads} threads.\n"
    )
    sizes = args.sizes or ([2_000, 5_000] if args.quick else [10_000, 20_000, 50_000])
    rng = np.random.default_rng(0)
    rows: list[dict] = []

    digits = load_dataset("digits")
    model = create_model("small_cnn", num_classes=10, in_channels=1, image_size=8, seed=0)
    digit_features = extract_features(model, digits.images, device="cpu")
    rows += compare("digits, small_cnn features", digit_features, args)
    print(table(rows), "\n", flush=True)
    for n in sizes:
        features = rng.standard_normal((n, args.dim), dtype=np.float32)
        block = compare("gaussian", features, args)
        print(table(block), "\n", flush=True)
        rows += block

    engine = [r for r in rows if r["method"] == "inn_core (torch tiles)" and r["data"] == "gaussian"]
    print("## Summary\n")
    print(
        table(
            [
                {
                    "n": r["n"],
                    "d": r["d"],
                    "inn_core / faiss": r["ratio to faiss"],
                    "inn_core seconds": r["seconds"],
                    "faiss: same neighbour sets": _summary_agreement(rows, r["n"]),
                }
                for r in engine
            ]
        )
    )


def _summary_agreement(rows: list[dict], n: int) -> float:
    return next(
        r["same neighbour sets"]
        for r in rows
        if r["n"] == n and r["method"] == "faiss IndexFlatL2" and r["data"] == "gaussian"
    )


if __name__ == "__main__":
    main()
