"""Build an own-data CSV of 28x28 PNGs with known wrong labels, from scikit-learn's digits (no download).

Each image is a digit, upscaled from 8x8 to 14-22 px, rotated up to 15 degrees, placed at a random
spot of a 28x28 canvas and sprinkled with pixel noise - 5,000 images by default, 10 classes.
A fraction ``rate`` of the labels is replaced by another class, uniformly (the truth is kept in
``truth.csv`` beside the data, for scoring the detection).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image


def build_own_csv(folder: Path, *, n: int = 5000, rate: float = 0.3, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Write ``folder/images/*.png`` and ``folder/data.csv`` (filepath,label); returns the CSV and the
    ``(n,)`` bool mask of wrong labels, in CSV row order."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    digits = load_digits()
    pick = rng.integers(0, len(digits.target), size=n)
    true = digits.target[pick].astype(np.int64)
    wrong = rng.random(n) < rate
    labels = true.copy()
    labels[wrong] = (true[wrong] + rng.integers(1, 10, size=int(wrong.sum()))) % 10
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, j in enumerate(pick):
        digit = Image.fromarray((digits.images[j] * (255 / 16)).astype(np.uint8))
        side = int(rng.integers(14, 23))
        digit = digit.resize((side, side), Image.Resampling.BILINEAR).rotate(float(rng.uniform(-15, 15)))
        canvas = Image.new("L", (28, 28), 0)
        canvas.paste(digit, (int(rng.integers(0, 29 - side)), int(rng.integers(0, 29 - side))))
        pixels = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 12, (28, 28))
        name = f"images/{i:05d}.png"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / name)
        rows.append((name, int(labels[i])))
    table = folder / "data.csv"
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filepath", "label"])
        writer.writerows(rows)
    with (folder / "truth.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filepath", "true_label", "wrong"])
        writer.writerows((name, int(t), int(w)) for (name, _), t, w in zip(rows, true, wrong))
    return table, wrong
