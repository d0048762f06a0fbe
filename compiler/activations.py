"""Keras 3 activation functions in JAX, by the names `schemas.fields.ActivationName` lists."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def _soft_shrink(x: Array, threshold: float = 0.5) -> Array:
    return jnp.where(x > threshold, x - threshold, jnp.where(x < -threshold, x + threshold, 0.0))


def _sparse_plus(x: Array) -> Array:
    return jnp.where(x <= -1.0, 0.0, jnp.where(x >= 1.0, x, (x + 1.0) ** 2 / 4.0))


def _sparsemax(x: Array, axis: int = -1) -> Array:
    """Euclidean projection onto the simplex (Martins & Astudillo 2016), as Keras computes it."""
    logits = jnp.moveaxis(x, axis, -1)
    sorted_logits = -jnp.sort(-logits, axis=-1)
    # k shaped (1, ..., 1, n): explicit broadcasting, as jax_numpy_rank_promotion="raise" needs
    k = jnp.arange(1, logits.shape[-1] + 1, dtype=logits.dtype)
    k = k.reshape((1,) * (logits.ndim - 1) + (-1,))
    cumulative = jnp.cumsum(sorted_logits, axis=-1)
    support = (1 + k * sorted_logits) > cumulative
    k_max = jnp.sum(support, axis=-1, keepdims=True)
    tau = (jnp.take_along_axis(cumulative, k_max.astype(jnp.int32) - 1, axis=-1) - 1) / k_max
    return jnp.moveaxis(jnp.maximum(logits - tau, 0.0), -1, axis)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "linear": lambda x: x,
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, negative_slope=0.2),
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "celu": jax.nn.celu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "glu": jax.nn.glu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "mish": lambda x: x * jnp.tanh(jax.nn.softplus(x)),
    "sigmoid": jax.nn.sigmoid,
    "hard_sigmoid": lambda x: jax.nn.relu6(x + 3.0) / 6.0,
    "legacy_hard_sigmoid": lambda x: jnp.clip(0.2 * x + 0.5, 0.0, 1.0),
    "sparse_sigmoid": lambda x: jnp.clip(0.5 * (x + 1.0), 0.0, 1.0),
    "log_sigmoid": jax.nn.log_sigmoid,
    "hard_silu": lambda x: x * jax.nn.relu6(x + 3.0) / 6.0,
    "hard_swish": lambda x: x * jax.nn.relu6(x + 3.0) / 6.0,
    "tanh": jnp.tanh,
    "hard_tanh": lambda x: jnp.clip(x, -1.0, 1.0),
    "tanh_shrink": lambda x: x - jnp.tanh(x),
    "hard_shrink": lambda x: jnp.where(jnp.abs(x) > 0.5, x, 0.0),
    "soft_shrink": _soft_shrink,
    "softmax": lambda x: jax.nn.softmax(x, axis=-1),
    "log_softmax": lambda x: jax.nn.log_softmax(x, axis=-1),
    "sparsemax": _sparsemax,
    "softplus": jax.nn.softplus,
    "softsign": lambda x: x / (1.0 + jnp.abs(x)),
    "squareplus": lambda x: (x + jnp.sqrt(x * x + 4.0)) / 2.0,
    "sparse_plus": _sparse_plus,
    "exponential": jnp.exp,
}


def activation(name: str | None) -> Callable[[Array], Array]:
    """The function for an activation name; `None` is the identity."""
    return ACTIVATIONS[name or "linear"]
