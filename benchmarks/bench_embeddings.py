"""INN in embedding space: detection quality against input-space INN and cleanlab, speed at 100k and 1M, and
what approximate neighbours cost in recall and AUC.

Three tables:

1. **AUC** (clean/noisy, symmetric 40 % noise) on digits and on a synthetic-strokes image set built here:
   input-space INN (small_cnn ``h`` and ``f``, the digits schedule); embedding-space INN on the input-space
   run's own ``h`` features and on a PCA of the pixels; cleanlab's self-confidence from 5-fold logistic
   regression on the same two embeddings - all on the same noisy labels.
2. **Speed**: synthetic embeddings (class clusters on a 32-dimensional subspace of d = 512, symmetric noise, a
   seeded Generator; see ``synthetic_embeddings``), neighbours +
   head training + scoring, per stage, each size in its own process so its peak memory is its own. Targets:
   n = 100,000, d = 512 in <= 120 s on 2 cores; n = 1,000,000, d = 512 through the approximate backend.
3. **Recall**: exact vs faiss IVF vs faiss HNSW on a 100k subset: recall@10, time, and INN's AUC with each
   backend's neighbours (the same trained heads).

``--quick`` shrinks every size (a smoke run of a few minutes) and extrapolates the speed to the target sizes.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from common import header, parse_args, table  # noqa: I001 - benchmarks/ is on sys.path when run as a script

from inn_core.data.datasets import load_dataset
from inn_core.data.noise import NoiseSpec, inject_noise
from inn_core.method.embedding_inn import HeadSettings, embedding_inn, score_heads, train_heads
from inn_core.method.metrics import clean_noisy_auc
from inn_core.method.models import create_model
from inn_core.method.neighbors import choose_backend, nearest_neighbors, neighbor_recall
from inn_core.method.scoring import cleanlab_scores
from inn_core.method.training import TrainConfig, Trainer
from inn_core.runs.experiment import DATASET_DEFAULTS, score_models

# --------------------------------------------------------------------------- data


def synthetic_embeddings(
    n: int,
    d: int,
    *,
    classes: int = 10,
    rate: float = 0.4,
    separation: float = 4.0,
    intrinsic: int = 32,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class clusters on a low-dimensional subspace of d dimensions, as learnt embeddings are, with symmetric
    label noise: ``(x (n, d) float32, observed (n,), is_noisy (n,))``.

    Latent points are Gaussian class clusters in ``intrinsic`` dimensions (unit noise; two class centres about
    ``separation`` noise standard deviations apart, so classes overlap a little), mapped into d dimensions by a
    fixed random linear map, plus 0.1 isotropic noise per coordinate. Isotropic d-dimensional noise instead
    (every direction as wide as the next) has no neighbourhood structure for an index to exploit: there IVF
    needs about every list for a 0.95 recall and runs slower than exact search (measured, RESULTS.md).
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, intrinsic)) * (separation / np.sqrt(2 * intrinsic))
    mapping = (rng.standard_normal((intrinsic, d)) / np.sqrt(intrinsic)).astype(np.float32)
    true = rng.integers(0, classes, n)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 2**16):  # in blocks: no second n x d array
        rows = slice(start, min(start + 2**16, n))
        latent = (centres[true[rows]] + rng.standard_normal((rows.stop - rows.start, intrinsic))).astype(np.float32)
        x[rows] = latent @ mapping + np.float32(0.1) * rng.standard_normal((rows.stop - rows.start, d), np.float32)
    noise = inject_noise(true, NoiseSpec("symmetric", rate), num_classes=classes, random_state=seed)
    return x, noise.observed_labels, noise.is_noisy


def strokes(n: int, *, size: int = 16, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic-strokes image set: each class is 2-3 fixed line segments, each sample a jittered rendering
    (shift, scale, rotation, stroke width, pixel noise). ``(images (n, 1, size, size) float32 in [0, 1], labels)``."""
    rng = np.random.default_rng(seed)
    templates = [rng.uniform(-0.8, 0.8, size=(rng.integers(2, 4), 2, 2)) for _ in range(classes)]
    labels = rng.integers(0, classes, n)
    grid = (np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), -1) + 0.5) / size * 2 - 1
    pixels = grid.reshape(-1, 2)  # (P, 2) in [-1, 1]
    images = np.empty((n, size * size), dtype=np.float32)
    for i in range(n):
        angle = rng.uniform(-0.3, 0.3)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        segments = templates[labels[i]] @ rotation.T * rng.uniform(0.8, 1.1) + rng.uniform(-0.15, 0.15, 2)
        a, b = segments[:, 0], segments[:, 1]  # (S, 2) each
        ab = b - a
        t = np.clip(((pixels[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)  # (P, S)
        distance = np.linalg.norm(pixels[:, None] - (a + t[..., None] * ab), axis=-1).min(1)
        images[i] = np.clip(1 - distance / rng.uniform(0.08, 0.16), 0, 1)
    images += rng.normal(0, 0.05, images.shape).astype(np.float32)
    return np.clip(images, 0, 1).reshape(n, 1, size, size), labels


def pca(x: np.ndarray, components: int) -> np.ndarray:
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:components].T).astype(np.float32)


# --------------------------------------------------------------------------- table 1: AUC


def input_space_inn(
    images: np.ndarray, observed: np.ndarray, *, epochs: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Input-space INN with the digits schedule: ``(INN scores (n,), h features (n, 128))``."""
    schedule = DATASET_DEFAULTS["digits"]
    x = torch.from_numpy(images)
    k = int(observed.max()) + 1
    trainers = {}
    for i, role in enumerate(("ce", "mixup")):
        model = create_model(
            "small_cnn", num_classes=k, in_channels=1, image_size=images.shape[-1], seed=seed * 1000 + 11 * (i + 1)
        )
        config = TrainConfig(
            objective=role,
            epochs=epochs,
            batch_size=schedule["batch_size"],
            lr=schedule["lr"],
            weight_decay=schedule["weight_decay"],
        )
        trainers[role] = Trainer(
            model, x, observed, config, num_classes=k, device="cpu", random_state=seed * 1000 + 17 * (i + 1)
        )
    for _ in range(epochs):
        for trainer in trainers.values():
            trainer.train_epoch()
    scores, _, features = score_models({r: t.model for r, t in trainers.items()}, x, observed, L=10, H=10, device="cpu")
    return scores["inn"], features


def cleanlab_auc(features: np.ndarray, observed: np.ndarray, noisy: np.ndarray, seed: int = 0) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(features)
    proba = cross_val_predict(LogisticRegression(max_iter=2000), x, observed, cv=5, method="predict_proba")
    return clean_noisy_auc(cleanlab_scores(observed, proba), noisy)


def auc_table(quick: bool) -> list[dict]:
    rows = []
    digits = load_dataset("digits", random_state=0, **({"max_samples": 600} if quick else {}))
    sets = {
        f"digits (8x8, n = {len(digits.images)})": (digits.images.numpy(), digits.true_labels.numpy()),
    }
    strokes_n = 600 if quick else 3000
    sets[f"strokes (16x16, n = {strokes_n})"] = strokes(strokes_n)
    epochs = 20 if quick else DATASET_DEFAULTS["digits"]["epochs"]
    for name, (images, true) in sets.items():
        noise = inject_noise(true, NoiseSpec("symmetric", 0.4), num_classes=int(true.max()) + 1, random_state=0)
        observed, noisy = noise.observed_labels, noise.is_noisy
        started = time.perf_counter()
        inn_input, h = input_space_inn(images, observed, epochs=epochs)
        input_seconds = time.perf_counter() - started
        pixels = pca(images.reshape(len(images), -1), 32)
        row = {"data": name, "noisy": f"{noisy.mean():.1%}", "input-space INN": clean_noisy_auc(inn_input, noisy)}
        for label, features in (("h features", h), ("PCA-32 of pixels", pixels)):
            started = time.perf_counter()
            result = embedding_inn(features, observed, device="cpu", random_state=0)
            row[f"embedding INN ({label})"] = clean_noisy_auc(result.scores["inn"], noisy)
            row[f"cleanlab ({label})"] = cleanlab_auc(features, observed, noisy)
            if label == "PCA-32 of pixels":
                row["seconds: input INN / embedding INN"] = f"{input_seconds:.0f} / {time.perf_counter() - started:.1f}"
        rows.append(row)
        print(table([row]), flush=True)
    return rows


# --------------------------------------------------------------------------- table 2: speed


def one_size(n: int, d: int, backend: str) -> dict:
    """Time neighbours + heads + scoring on synthetic embeddings; runs in a child process (see main)."""
    started = time.perf_counter()
    x, observed, noisy = synthetic_embeddings(n, d)
    generated = time.perf_counter() - started
    features = torch.from_numpy(x)
    chosen = choose_backend(n, d) if backend == "auto" else backend
    clock = [(time.perf_counter(), time.process_time())]
    neighbors, _ = nearest_neighbors(features, 10, device="cpu", backend=backend)
    clock.append((time.perf_counter(), time.process_time()))
    heads = train_heads(features, observed, 10, HeadSettings(), device="cpu")
    clock.append((time.perf_counter(), time.process_time()))
    scores = score_heads({"mixup": heads["mixup"]}, features, observed, neighbors, H=10, device="cpu")
    clock.append((time.perf_counter(), time.process_time()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall = [b[0] - a[0] for a, b in zip(clock, clock[1:])]
    cpu = [b[1] - a[1] for a, b in zip(clock, clock[1:])]
    # On a loaded machine wall time measures the neighbours' share of the cores; CPU seconds (all threads)
    # measure the work, so "CPU s / cores" is what a quiet machine with that many cores would take.
    return {
        "n": n,
        "d": d,
        "backend": chosen,
        "generate s": generated,
        "neighbours s": wall[0],
        "heads s": wall[1],
        "scoring s": wall[2],
        "total s": sum(wall),
        "neighbours CPU s": cpu[0],
        "heads CPU s": cpu[1],
        "scoring CPU s": cpu[2],
        "total CPU s": sum(cpu),
        "INN AUC": clean_noisy_auc(scores["inn"], noisy),
        "peak RSS MiB": peak,
        "embeddings MiB": 4 * n * d / 2**20,
    }


def speed_table(args) -> list[dict]:
    sizes = (
        [(20_000, 512, "auto"), (200_000, 512, "faiss-hnsw")]
        if args.quick
        else [(100_000, 512, "auto"), (100_000, 512, "faiss-hnsw"), (1_000_000, 512, "auto")]
    )
    if args.sizes:
        sizes = [(int(n), 512, backend) for n, backend in (item.split(":") for item in args.sizes)]
    rows = []
    for n, d, backend in sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--_one", f"{n},{d},{backend}", "--threads", str(args.threads)],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            rows.append({"n": n, "d": d, "backend": backend, "error": child.stderr.strip().splitlines()[-1]})
        else:
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(table([rows[-1]]), flush=True)
    if args.quick and not args.sizes and all("error" not in r for r in rows):
        # Exact search grows as n^2, heads and scoring as n: what 100k would take, in CPU seconds.
        small, hnsw = rows
        scale = 100_000 / small["n"]
        exact = small["neighbours CPU s"] * scale**2
        rest = (small["heads CPU s"] + small["scoring CPU s"]) * scale
        rows.append(
            {
                "n": 100_000,
                "d": 512,
                "backend": "exact (extrapolated from 20k)",
                "neighbours CPU s": exact,
                "heads CPU s": small["heads CPU s"] * scale,
                "scoring CPU s": small["scoring CPU s"] * scale,
                "total CPU s": exact + rest,
            }
        )
        scale = 100_000 / hnsw["n"]
        rows.append(
            {
                "n": 100_000,
                "d": 512,
                "backend": "faiss-hnsw (extrapolated from 200k)",
                "neighbours CPU s": hnsw["neighbours CPU s"] * scale,
                "total CPU s": hnsw["total CPU s"] * scale,
            }
        )
    return rows


# --------------------------------------------------------------------------- table 3: recall


def recall_table(quick: bool) -> list[dict]:
    n = 20_000 if quick else 100_000
    x, observed, noisy = synthetic_embeddings(n, 512, seed=1)
    features = torch.from_numpy(x)
    heads = train_heads(features, observed, 10, HeadSettings(), device="cpu")
    rows, exact = [], None
    for backend in ("exact", "faiss-ivf", "faiss-hnsw"):
        started = time.perf_counter()
        neighbors, _ = nearest_neighbors(features, 10, device="cpu", backend=backend)
        seconds = time.perf_counter() - started
        exact = neighbors if exact is None else exact
        scores = score_heads({"mixup": heads["mixup"]}, features, observed, neighbors, H=10, device="cpu")
        rows.append(
            {
                "n": n,
                "d": 512,
                "backend": backend,
                "seconds": seconds,
                "recall@10 vs exact": neighbor_recall(neighbors, exact),
                "INN AUC": clean_noisy_auc(scores["inn"], noisy),
                "Deep k-NN AUC": clean_noisy_auc(scores["deep_knn"], noisy),
            }
        )
        print(table([rows[-1]]), flush=True)
    return rows


def main() -> None:
    if "--_one" in sys.argv:
        position = sys.argv.index("--_one")
        n, d, backend = sys.argv[position + 1].split(",")
        threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 0
        if threads:
            torch.set_num_threads(threads)
            try:
                import faiss

                faiss.omp_set_num_threads(threads)
            except ImportError:
                pass
        print(json.dumps(one_size(int(n), int(d), backend)))
        return
    args = parse_args(
        __doc__.splitlines()[0],
        lambda p: (
            p.add_argument("--only", choices=["auc", "speed", "recall"], help="run one table only"),
            p.add_argument("--sizes", nargs="+", metavar="N:BACKEND", help="speed rows, e.g. 100000:auto"),
        ),
    )
    try:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    except ImportError:
        pass
    header("INN in embedding space", args)
    if args.only in (None, "auc"):
        print("## 1. Clean/noisy AUC, symmetric 40 % noise, same labels for every method\n")
        rows = auc_table(args.quick)
        print("\n" + table(rows) + "\n", flush=True)
    if args.only in (None, "speed"):
        print("## 2. Speed: neighbours (L = 10) + CE and MixUp linear heads (15 epochs) + INN scores (H = 10)\n")
        rows = speed_table(args)
        print("\n" + table(rows) + "\n", flush=True)
    if args.only in (None, "recall"):
        print("## 3. Approximate neighbours: recall@10 against exact, and INN's AUC with them\n")
        rows = recall_table(args.quick)
        print("\n" + table(rows) + "\n", flush=True)


if __name__ == "__main__":
    main()
