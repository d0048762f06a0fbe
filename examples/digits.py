"""Train examples/digits_cnn.yaml on scikit-learn's bundled 8x8 digits; print test accuracy.

`make digits` (or `python -m examples.digits [--epochs N]`). The data ships inside scikit-learn
(the `examples` extra), so nothing is downloaded. The split is stratified and seeded, so every
run sees the same 1437 training and 360 test images.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SPEC = Path(__file__).resolve().parent / "digits_cnn.yaml"


def load_digits_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images scaled to [0, 1] as (n, 8, 8, 1) float32, integer labels; 80/20 stratified split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit(
            "the digits demo needs scikit-learn: pip install -e '.[examples]'"
        ) from None
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    return x_train, x_test, y_train, y_test


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(prog="python -m examples.digits", description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    args = parser.parse_args(argv)

    import kspec  # after argument parsing, so `--help` is instant

    started = time.perf_counter()
    x_train, x_test, y_train, y_test = load_digits_split()
    model = kspec.load(SPEC)
    model.init(0)
    model.fit(
        x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose
    )
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256)
    elapsed = time.perf_counter() - started
    print(
        f"digits: {len(x_train)} train / {len(x_test)} test images, {args.epochs} epochs, "
        f"{elapsed:.1f} s"
    )
    print(f"test loss: {loss:.4f} - test accuracy: {accuracy:.4f}")
    return float(accuracy)


if __name__ == "__main__":
    main()
