"""The suite's workloads: each a kspec spec plus the same network hand-written in JAX (the
baseline every ratio divides by), with its loss and batch sizes.

The hand-written forwards are what a careful person writes (`jax.lax` convolutions and
`reduce_window` pooling, a `lax.scan` LSTM); MLP and CNN reuse the ones the older benchmarks
check against kspec (bench/apply_*.py, bench/train_step.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bench import apply_cnn, apply_mlp, train_step, transformer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LSTM_STEPS, LSTM_VOCAB, LSTM_WIDTH = 40, 1000, 64

LSTM_SPEC = {
    "kspec": 1,
    "name": "lstm_classifier",
    "inputs": {"ids": {"shape": [LSTM_STEPS], "dtype": "int32"}},
    "layers": [
        {"type": "Embedding", "input_dim": LSTM_VOCAB, "output_dim": LSTM_WIDTH},
        {"type": "LSTM", "units": LSTM_WIDTH},
        {"type": "Dense", "units": 10, "activation": "softmax"},
    ],
}
"""No mask (every peer runs the same unmasked recurrence)."""


def lstm_forward(p: dict[str, Any], ids: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Embedding -> LSTM (last state) -> softmax, the input projection per step."""
    lstm = p["lstm"]
    xs = jnp.swapaxes(p["embedding"]["embeddings"][ids], 0, 1)  # (T, B, F)

    def step(carry: tuple[jax.Array, jax.Array], xt: jax.Array) -> tuple[Any, None]:
        h, c = carry
        z = xt @ lstm["kernel"] + h @ lstm["recurrent_kernel"] + lstm["bias"]
        i, f, g, o = jnp.split(z, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        return (jax.nn.sigmoid(o) * jnp.tanh(c), c), None

    zeros = jnp.zeros((ids.shape[0], LSTM_WIDTH), xs.dtype)
    (h, _), _ = jax.lax.scan(step, (zeros, zeros), xs)
    return jax.nn.softmax(h @ p["dense"]["kernel"] + p["dense"]["bias"], axis=-1)


TRANSFORMER_SPEC = {
    "kspec": 1,
    "name": "transformer_classifier",
    "inputs": {"x": {"shape": [transformer.SEQ, transformer.DIM]}},
    "layers": [
        {"type": "TransformerEncoder", "name": "encoder",
         "intermediate_dim": transformer.MLP, "num_heads": transformer.HEADS},
        {"type": "GlobalAveragePooling1D", "name": "pool"},
        {"type": "Dense", "name": "head", "units": 10, "activation": "softmax"},
    ],
}  # fmt: skip
"""The attention issue's encoder block (bench/transformer.py) with a mean-pool classifier head,
so it trains on the suite's 10-class crossentropy like the other workloads."""


def transformer_forward(p: dict[str, Any], x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """The hand-written block of bench/transformer.py, mean-pooled, then softmax."""
    h = jnp.mean(transformer.handwritten(p, x), axis=1)
    return jax.nn.softmax(h @ p["head"]["kernel"] + p["head"]["bias"], axis=-1)


@dataclass(frozen=True)
class Workload:
    """One row group of the table."""

    name: str
    spec: Path | dict[str, Any]
    input_shape: tuple[int, ...]
    integer_inputs: int | None
    """Vocabulary size for id inputs; None for float inputs."""
    apply: Callable[[dict[str, Any], jax.Array], jax.Array]
    train_forward: Callable[[dict[str, Any], jax.Array, jax.Array], jax.Array]
    big_batch: int
    train_batch: int

    def batch(self, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A host batch (x, one-hot y over 10 classes)."""
        rng = np.random.default_rng(seed)
        if self.integer_inputs is None:
            x = rng.normal(size=(size, *self.input_shape)).astype(np.float32)
        else:
            x = rng.integers(0, self.integer_inputs, (size, *self.input_shape)).astype(np.int32)
        return x, np.eye(10, dtype=np.float32)[rng.integers(0, 10, size)]


WORKLOADS = [
    Workload(
        "mlp", EXAMPLES / "mlp.yaml", (784,), None,
        apply_mlp.handwritten, train_step.mlp_forward, 256, 256,
    ),
    Workload(
        "cnn", EXAMPLES / "mnist_cnn.yaml", (28, 28, 1), None,
        apply_cnn.handwritten, train_step.cnn_forward, 128, 128,
    ),
    Workload(
        "lstm", LSTM_SPEC, (LSTM_STEPS,), LSTM_VOCAB,
        lstm_forward, lstm_forward, 64, 64,
    ),
    Workload(
        "transformer", TRANSFORMER_SPEC, (transformer.SEQ, transformer.DIM), None,
        transformer_forward, transformer_forward, transformer.BATCH, transformer.BATCH,
    ),
]  # fmt: skip
