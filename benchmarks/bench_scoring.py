"""INN scoring: the engine's batched paths against Algorithm 1 read literally, and the FLOP floor.

The reference (``common.algorithm_1_scores``) evaluates one sample, one path and one
interpolation point at a time, ``L * (H + 1)`` single-input forward passes per sample. The engine
evaluates every point of a batch of samples in one pass, ``1 + L * H`` inputs per sample. Both run
in one process, side by side, on

- digits with ``small_cnn`` (1x8x8 inputs), and
- CIFAR-shaped synthetic inputs (3x32x32, uniform pixels) with ``preact_resnet18``: a subset of
  the samples on the CPU; on CUDA all 50,000, with feature extraction and neighbour search timed
  too, against the paper's 3,411 s on a TITAN XP (Table E.1: 2,520 s neighbours + 891 s scores).

The FLOP floor is ``samples * (1 + L*H) * FLOPs per forward pass`` at the machine's measured
matrix-multiply rate (float32 on the CPU, bfloat16 on CUDA); the table gives measured / floor.

    python benchmarks/bench_scoring.py            # CPU
    python benchmarks/bench_scoring.py --quick    # smoke test
    python benchmarks/bench_scoring.py --device cuda
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from common import algorithm_1_scores, forward_flops, header, matmul_rate, mib, parse_args, race, table

from inn_core.data.datasets import load_dataset
from inn_core.method.models import create_model
from inn_core.method.neighbors import nearest_neighbors
from inn_core.method.scoring import inn_scores
from inn_core.method.training import extract_features

PAPER_SECONDS = {"neighbours": 2520.0, "scores": 891.0}


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-L", type=int, default=10, help="neighbours per sample")
    parser.add_argument("-H", type=int, default=10, help="trapezoids per path")
    parser.add_argument("--batch-size", type=int, default=2048, help="engine inputs per forward pass")
    parser.add_argument(
        "--cifar-n", type=int, default=None, help="CIFAR-shaped samples (default 1000 on the CPU, 50000 on CUDA)"
    )
    parser.add_argument(
        "--cifar-scored", type=int, default=None, help="of which the engine scores (default 16 on the CPU, all on CUDA)"
    )


def _engine(model, inputs, labels, neighbors, sample_indices, args):
    return inn_scores(
        model,
        inputs,
        labels,
        neighbors,
        H=args.H,
        batch_size=args.batch_size,
        device=args.device,
        sample_indices=sample_indices,
    )


def compare(
    name: str,
    model,
    inputs: torch.Tensor,
    labels: np.ndarray,
    neighbors: np.ndarray,
    engine_samples: np.ndarray,
    reference_samples: np.ndarray,
    args: argparse.Namespace,
) -> list[dict]:
    """Race engine and reference; rows for the speed table, with the FLOP floor of the engine run."""
    contenders = {
        "inn_core (batched)": (lambda: _engine(model, inputs, labels, neighbors, engine_samples, args), args.device),
        "Algorithm 1 (per sample)": (
            lambda: algorithm_1_scores(
                model, inputs, labels, neighbors, reference_samples, H=args.H, device=args.device
            ),
            args.device,
        ),
    }
    results = race(contenders, repeats=args.repeats)
    engine, reference = results["inn_core (batched)"], results["Algorithm 1 (per sample)"]
    # Same numbers where both scored the same samples (bfloat16 on CUDA moves the engine's).
    position = {s: i for i, s in enumerate(engine_samples)}
    shared = [i for i, s in enumerate(reference_samples) if s in position]
    gap = (
        float(np.abs(engine.result[[position[reference_samples[i]] for i in shared]] - reference.result[shared]).max())
        if shared
        else float("nan")
    )
    rate = {
        key: len(samples) / results[key].seconds
        for key, samples in (("inn_core (batched)", engine_samples), ("Algorithm 1 (per sample)", reference_samples))
    }
    rows = []
    for key, m in results.items():
        rows.append(
            {
                "data": name,
                "method": key,
                "samples": len(engine_samples if key.startswith("inn") else reference_samples),
                "seconds": m.seconds,
                "samples/s": rate[key],
                "speed-up": rate[key] / rate["Algorithm 1 (per sample)"],
                "peak MiB": mib(m.peak_bytes),
                "max |score diff|": gap,
            }
        )
    return rows


def floor_row(
    name: str, model, inputs: torch.Tensor, n_samples: int, seconds: float, rate: float, args: argparse.Namespace
) -> dict:
    flops = forward_flops(model.to(args.device), inputs[:2].to(args.device))
    passes = n_samples * (1 + args.L * args.H)
    floor = passes * flops / rate
    return {
        "data": name,
        "forward passes": passes,
        "GFLOP per pass": flops / 1e9,
        "floor seconds": floor,
        "measured seconds": seconds,
        "measured / floor": seconds / floor,
        "fraction of matmul rate": floor / seconds,
    }


def digits_section(args: argparse.Namespace, rate: float) -> tuple[list[dict], dict]:
    data = load_dataset("digits")
    inputs, labels = data.images, data.true_labels.numpy()
    model = create_model("small_cnn", num_classes=10, in_channels=1, image_size=8, seed=0)
    neighbors, _ = nearest_neighbors(extract_features(model, inputs, device=args.device), args.L, device=args.device)
    n = len(inputs)
    engine_samples = np.arange(200 if args.quick else n)
    reference_samples = np.arange(5 if args.quick else 40)
    rows = compare("digits, small_cnn", model, inputs, labels, neighbors, engine_samples, reference_samples, args)
    return rows, floor_row("digits, small_cnn", model, inputs, len(engine_samples), rows[0]["seconds"], rate, args)


def cifar_section(args: argparse.Namespace, rate: float) -> tuple[list[dict], dict, list[dict]]:
    cuda = args.device.startswith("cuda")
    n = args.cifar_n or (50_000 if cuda else (200 if args.quick else 1000))
    scored = args.cifar_scored or (n if cuda else (2 if args.quick else 16))
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(n, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (n,), generator=generator).numpy()
    model = create_model("preact_resnet18", num_classes=10, in_channels=3, image_size=32, seed=0)

    # The whole INN cost of the paper's Table E.1: features, neighbours, scores.
    stages = {}
    timings = race({"features": (lambda: extract_features(model, inputs, device=args.device), args.device)}, repeats=1)
    stages["features (h)"] = timings["features"]
    features = stages["features (h)"].result
    timings = race(
        {"neighbours": (lambda: nearest_neighbors(features, args.L, device=args.device)[0], args.device)}, repeats=1
    )
    stages["neighbours"] = timings["neighbours"]
    neighbors = stages["neighbours"].result

    engine_samples = np.arange(scored)
    reference_samples = np.arange(10 if cuda else 1)
    rows = compare(
        "CIFAR-shaped, preact_resnet18", model, inputs, labels, neighbors, engine_samples, reference_samples, args
    )
    floor = floor_row("CIFAR-shaped, preact_resnet18", model, inputs, scored, rows[0]["seconds"], rate, args)
    total = stages["features (h)"].seconds + stages["neighbours"].seconds + rows[0]["seconds"]
    pipeline = [
        {"stage": name, "samples": n, "seconds": m.seconds, "peak MiB": mib(m.peak_bytes)} for name, m in stages.items()
    ]
    pipeline.append(
        {
            "stage": f"INN scores (L = {args.L}, H = {args.H})",
            "samples": scored,
            "seconds": rows[0]["seconds"],
            "peak MiB": rows[0]["peak MiB"],
        }
    )
    if scored == n:
        pipeline.append(
            {
                "stage": "total",
                "samples": n,
                "seconds": total,
                "paper (TITAN XP) seconds": sum(PAPER_SECONDS.values()),
                "speed-up vs paper": sum(PAPER_SECONDS.values()) / total,
            }
        )
    return rows, floor, pipeline


def main() -> None:
    args = parse_args("INN scoring: batched engine vs per-sample Algorithm 1, and the FLOP floor", _options)
    header("bench_scoring: INN scores", args)
    rate = matmul_rate(args.device)
    precision = "bfloat16" if args.device.startswith("cuda") else "float32"
    print(
        f"L = {args.L}, H = {args.H}, engine batch size {args.batch_size}; untrained models (seed 0), timing "
        f"only; measured {precision} matmul rate {rate / 1e9:,.0f} GFLOP/s; fastest of {args.repeats} "
        f"(after one untimed run each for peak memory on the CPU).\n",
        flush=True,
    )

    speed, floors = [], []
    rows, floor = digits_section(args, rate)
    speed += rows
    floors.append(floor)
    print(table(rows), "\n", flush=True)
    rows, floor, pipeline = cifar_section(args, rate)
    speed += rows
    floors.append(floor)
    print(table(rows), "\n", flush=True)

    print("## CIFAR-shaped INN pipeline\n")
    print(table(pipeline), "\n")
    print("## FLOP floor of the engine runs\n")
    print(table(floors), "\n")
    print("## Summary\n")
    print(
        table(
            [
                {"data": r["data"], "engine speed-up vs Algorithm 1": r["speed-up"]}
                for r in speed
                if r["method"].startswith("inn")
            ]
        )
    )


if __name__ == "__main__":
    main()
