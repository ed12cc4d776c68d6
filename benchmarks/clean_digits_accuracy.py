"""How long small_cnn takes to reach its test accuracy with CE on clean digits (README figure).

Usage: python benchmarks/clean_digits_accuracy.py [--epochs 30] [--target 0.95]
Prints test accuracy and wall time after every epoch, then the first epoch at the target.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from inn_core.data.datasets import load_dataset
from inn_core.method.models import create_model
from inn_core.method.training import TrainConfig, Trainer, predict_proba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()
    data = load_dataset("digits", random_state=0)
    model = create_model("small_cnn", num_classes=10, in_channels=1, image_size=8, seed=0)
    trainer = Trainer(
        model,
        data.images,
        data.true_labels,
        TrainConfig(objective="ce", epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=5e-4),
        num_classes=10,
        device="cpu",
        random_state=0,
    )
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"train {data.n}, test {len(data.test_labels)}; batch {args.batch_size}, lr {args.lr}")
    print("| epoch | test accuracy | seconds |\n|---|---|---|")
    started, reached = time.perf_counter(), None
    training_time = 0.0
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        trainer.train_epoch()
        training_time += time.perf_counter() - t0
        acc = float((predict_proba(model, data.test_images, device="cpu").argmax(1) == data.test_labels.numpy()).mean())
        print(f"| {epoch} | {acc:.3f} | {training_time:.1f} |")
        if reached is None and acc >= args.target:
            reached = (epoch, training_time)
    total = time.perf_counter() - started
    if reached:
        print(f"\nreached {args.target:.0%} test accuracy at epoch {reached[0]} after {reached[1]:.1f} s of training")
    print(f"final test accuracy {acc:.3f}; {total:.1f} s in all")


if __name__ == "__main__":
    main()
