"""What every metric is: a pure accumulator `init() -> state`, `update(state, y_true, y_pred,
sample_weight) -> state`, `result(state) -> scalar`, whose state is a small pytree of sums so
a whole epoch's metrics accumulate inside the jitted step; and the sums most metrics share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


@dataclass(frozen=True)
class Metric:
    name: str
    init: Callable[[], Any]
    """The zeroed sums, as host arrays (`zeros`)."""
    update: Callable[[Any, Array, Array, Array | None], Any]
    result: Callable[[Any], Array]


def zeros(shape: tuple[int, ...] = ()) -> np.ndarray:
    """A metric sum's starting value, on the host. Building the train step then runs no
    device op: each op run eagerly compiles a program of its own on first use, and the
    metric states' zeros and their packing were nine such programs, about 180 ms of an
    MLP's first `train_on_batch`."""
    return np.zeros(shape, np.float32)


def weights_like(values: Array, sample_weight: Array | None) -> Array:
    if sample_weight is None:
        return jnp.ones_like(values)
    weight = sample_weight.astype(values.dtype)
    weight = weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim))
    return jnp.broadcast_to(weight, values.shape)


def mean_metric(name: str, fn: Callable[[Array, Array], Array]) -> Metric:
    """Keras' `MeanMetricWrapper`: the weighted mean of `fn`'s per-sample values."""

    def update(state: Any, t: Array, p: Array, w: Array | None) -> Any:
        values = fn(t, p).astype(jnp.float32)
        weights = weights_like(values, w)
        return (state[0] + jnp.sum(values * weights), state[1] + jnp.sum(weights))

    def result(state: Any) -> Array:
        return jnp.where(state[1] > 0, state[0] / jnp.where(state[1] > 0, state[1], 1.0), 0.0)

    return Metric(name, lambda: (zeros(), zeros()), update, result)


def confusion(thresholds: Array, t: Array, p: Array, w: Array | None) -> Array:
    """[tp, fp, tn, fn] per threshold (prediction > threshold counts as positive)."""
    weight = weights_like(p.astype(jnp.float32), w).reshape(1, -1)
    t = t.reshape(-1).astype(jnp.float32)
    p = p.reshape(-1).astype(jnp.float32)
    predicted = (p[None, :] > thresholds[:, None]).astype(jnp.float32)
    positive = (t > 0.5).astype(jnp.float32)[None, :]
    tp = jnp.sum(predicted * positive * weight, -1)
    fp = jnp.sum(predicted * (1 - positive) * weight, -1)
    tn = jnp.sum((1 - predicted) * (1 - positive) * weight, -1)
    fn = jnp.sum((1 - predicted) * positive * weight, -1)
    return jnp.stack([tp, fp, tn, fn])


def ratio(a: Array, b: Array) -> Array:
    return jnp.where(b > 0, a / jnp.where(b > 0, b, 1.0), 0.0)
