"""kspec `apply` vs the same MNIST convnet hand-written in JAX, same weights, interleaved rounds.

examples/mnist_cnn.yaml: Conv2D 32 and 64 (3x3, relu), MaxPooling2D 2, Flatten, Dense 128 (relu),
Dense 10 (softmax); inference, batch 128. Goal: kspec/handwritten <= 1.05.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from bench.timing import apply_report, compare_apply

SPEC = Path(__file__).resolve().parent.parent / "examples" / "mnist_cnn.yaml"
BATCH = 128


def _conv_relu(x: jax.Array, layer: dict[str, jax.Array]) -> jax.Array:
    y = jax.lax.conv_general_dilated(
        x, layer["kernel"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return jax.nn.relu(y + layer["bias"][None, None, None, :])


def handwritten(params: dict[str, Any], x: jax.Array) -> jax.Array:
    """The convnet as a careful person writes it; dropout is the identity at inference."""
    h = _conv_relu(_conv_relu(x, params["conv2d"]), params["conv2d_1"])
    h = jax.lax.reduce_window(h, -jax.numpy.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    h = h.reshape(h.shape[0], -1)
    h = jax.nn.relu(h @ params["dense"]["kernel"] + params["dense"]["bias"][None, :])
    logits = h @ params["dense_1"]["kernel"] + params["dense_1"]["bias"][None, :]
    return jax.nn.softmax(logits, axis=-1)


def run(rounds: int = 100, inner: int = 5) -> dict[str, float]:
    x = np.random.default_rng(0).normal(size=(BATCH, 28, 28, 1)).astype(np.float32)
    return compare_apply(SPEC, x, handwritten, rounds, inner)


def main() -> None:
    title = f"apply MNIST CNN (examples/mnist_cnn.yaml), batch {BATCH}, inference, jit"
    print(apply_report(title, run()))


if __name__ == "__main__":
    main()
