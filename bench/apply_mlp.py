"""kspec `apply` vs the same MLP hand-written in JAX, same weights, interleaved rounds.

MLP 784-512-512-10 (relu, relu, softmax), inference, batch 256. Goal: kspec/handwritten <= 1.05.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from bench.timing import apply_report, compare_apply

SPEC = Path(__file__).resolve().parent.parent / "examples" / "mlp.yaml"
BATCH = 256


def handwritten(params: dict[str, Any], x: jax.Array) -> jax.Array:
    """The MLP as a careful person writes it; dropout is the identity at inference."""
    h = jax.nn.relu(x @ params["dense"]["kernel"] + params["dense"]["bias"])
    h = jax.nn.relu(h @ params["dense_1"]["kernel"] + params["dense_1"]["bias"])
    return jax.nn.softmax(h @ params["dense_2"]["kernel"] + params["dense_2"]["bias"], axis=-1)


def run(rounds: int = 300, inner: int = 10) -> dict[str, float]:
    x = np.random.default_rng(0).normal(size=(BATCH, 784)).astype(np.float32)
    return compare_apply(SPEC, x, handwritten, rounds, inner)


def main() -> None:
    print(apply_report(f"apply MLP 784-512-512-10, batch {BATCH}, inference, jit", run()))


if __name__ == "__main__":
    main()
