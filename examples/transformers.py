"""Train the transformer examples on tasks that need no download.

- `make gpt` (`python -m examples.transformers gpt`): examples/gpt_tiny.yaml learns to reverse
  sequences of 8 digits it generates itself: `[BOS, d1..d8, SEP, d8..d1]`, next-token
  prediction; prints the token accuracy on the 8 reversed digits of held-out sequences.
- `make vit` (`python -m examples.transformers vit`): examples/vit_tiny.yaml on scikit-learn's
  bundled 8x8 digits (the split of examples/digits.py); prints the test accuracy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent
DIGITS, SEP, BOS = 8, 10, 11


def reversal_data(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs `[BOS, d1..d8, SEP, d8..d2]` and next-token targets `[d1..d8, SEP, d8..d1]`."""
    digits = np.random.default_rng(seed).integers(0, 10, (count, DIGITS))
    bos, sep = np.full((count, 1), BOS), np.full((count, 1), SEP)
    sequence = np.concatenate([bos, digits, sep, digits[:, ::-1]], axis=1).astype(np.int32)
    return sequence[:, :-1], sequence[:, 1:]


def train_gpt(epochs: int, verbose: int) -> float:
    import kspec

    x, y = reversal_data(8192, seed=0)
    x_test, y_test = reversal_data(1024, seed=1)
    model = kspec.load(EXAMPLES / "gpt_tiny.yaml")
    model.init(0)
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=verbose)
    predicted = np.argmax(model.predict(x_test, batch_size=512), axis=-1)
    answer = slice(DIGITS + 1, None)  # the positions that predict the reversed digits
    accuracy = float(np.mean(predicted[:, answer] == y_test[:, answer]))
    print(f"gpt_tiny: reversal token accuracy on held-out sequences: {accuracy:.4f}")
    return accuracy


def train_vit(epochs: int, verbose: int) -> float:
    import kspec
    from examples.digits import load_digits_split

    x_train, x_test, y_train, y_test = load_digits_split()
    model = kspec.load(EXAMPLES / "vit_tiny.yaml")
    model.init(0)
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=360)
    print(f"vit_tiny: digits test accuracy: {accuracy:.4f}")
    return float(accuracy)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(prog="python -m examples.transformers", description=__doc__)
    parser.add_argument("task", choices=["gpt", "vit"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.task == "gpt":
        result = train_gpt(args.epochs or 3, args.verbose)
    else:
        result = train_vit(args.epochs or 40, args.verbose)
    print(f"{time.perf_counter() - started:.1f} s")
    return result


if __name__ == "__main__":
    main()
