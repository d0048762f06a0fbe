"""Keras 3 losses by name, as pure functions `per_sample(y_true, y_pred) -> (batch, ...)`.

Each follows `keras/src/losses/losses.py` and the JAX backend's crossentropies (epsilon 1e-7,
probabilities renormalised and clipped). `reduce_loss` is Keras' `sum_over_batch_size`:
Σ(loss·sample_weight) / number of loss values.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from kspec.runtime.training.losses_special import EPSILON, SPECIAL_LOSSES, smooth_labels
from kspec.schemas.compile_names import LOSSES as LOSS_NAMES
from kspec.schemas.compile_names import function_name
from kspec.schemas.training import LOSS_ALIASES as ALIASES
from kspec.schemas.training import LOSS_OPTIONS as OPTIONS

Array = jax.Array
LossFn = Callable[[Array, Array], Array]


def _mse(t: Array, p: Array) -> Array:
    return jnp.mean(jnp.square(p - t), axis=-1)


def _mae(t: Array, p: Array) -> Array:
    return jnp.mean(jnp.abs(p - t), axis=-1)


def _mape(t: Array, p: Array) -> Array:
    return 100.0 * jnp.mean(jnp.abs((t - p) / jnp.maximum(jnp.abs(t), EPSILON)), axis=-1)


def _msle(t: Array, p: Array) -> Array:
    first = jnp.log(jnp.maximum(p, EPSILON) + 1.0)
    second = jnp.log(jnp.maximum(t, EPSILON) + 1.0)
    return jnp.mean(jnp.square(first - second), axis=-1)


def _huber(t: Array, p: Array, delta: float = 1.0) -> Array:
    error = jnp.abs(p - t)
    quadratic = 0.5 * jnp.square(error)
    return jnp.mean(jnp.where(error <= delta, quadratic, delta * error - 0.5 * delta**2), axis=-1)


def _log_cosh(t: Array, p: Array) -> Array:
    x = p - t
    return jnp.mean(x + jax.nn.softplus(-2.0 * x) - jnp.log(2.0), axis=-1)


def _hinge_labels(t: Array) -> Array:
    """Keras maps {0, 1} labels to {-1, 1} for the hinge losses."""
    binary = jnp.all((t == 0) | (t == 1))
    return jnp.where(binary, 2.0 * t - 1.0, t)


def _hinge(t: Array, p: Array) -> Array:
    return jnp.mean(jnp.maximum(1.0 - _hinge_labels(t) * p, 0.0), axis=-1)


def _squared_hinge(t: Array, p: Array) -> Array:
    return jnp.mean(jnp.square(jnp.maximum(1.0 - _hinge_labels(t) * p, 0.0)), axis=-1)


def _categorical_hinge(t: Array, p: Array) -> Array:
    positive = jnp.sum(t * p, axis=-1)
    negative = jnp.max((1.0 - t) * p, axis=-1)
    return jnp.maximum(negative - positive + 1.0, 0.0)


def _kl_divergence(t: Array, p: Array) -> Array:
    t, p = jnp.clip(t, EPSILON, 1.0), jnp.clip(p, EPSILON, 1.0)
    return jnp.sum(t * jnp.log(t / p), axis=-1)


def _poisson(t: Array, p: Array) -> Array:
    return jnp.mean(p - t * jnp.log(p + EPSILON), axis=-1)


def _l2_normalize(x: Array) -> Array:
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(jnp.square(x), axis=-1, keepdims=True), 1e-12))


def _cosine_similarity(t: Array, p: Array) -> Array:
    return -jnp.sum(_l2_normalize(t) * _l2_normalize(p), axis=-1)


def _log_probabilities(p: Array, from_logits: bool) -> Array:
    if from_logits:
        return jax.nn.log_softmax(p, axis=-1)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    return jnp.log(jnp.clip(p, EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(
    t: Array, p: Array, from_logits: bool = False, label_smoothing: float = 0.0
) -> Array:
    t = smooth_labels(t, label_smoothing, t.shape[-1])
    return -jnp.sum(t * _log_probabilities(p, from_logits), axis=-1)


def sparse_categorical_crossentropy(t: Array, p: Array, from_logits: bool = False) -> Array:
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = jnp.squeeze(t, axis=-1)
    one_hot = jax.nn.one_hot(t.astype(jnp.int32), p.shape[-1], dtype=p.dtype)
    return -jnp.sum(one_hot * _log_probabilities(p, from_logits), axis=-1)


def binary_crossentropy(
    t: Array, p: Array, from_logits: bool = False, label_smoothing: float = 0.0
) -> Array:
    t = t.astype(p.dtype)
    t = smooth_labels(t, label_smoothing, 2)
    if from_logits:
        values = jnp.maximum(p, 0) - p * t + jnp.log1p(jnp.exp(-jnp.abs(p)))
    else:
        p = jnp.clip(p, EPSILON, 1.0 - EPSILON)
        values = -(t * jnp.log(p) + (1.0 - t) * jnp.log(1.0 - p))
    return jnp.mean(values, axis=-1)


LOSSES: dict[str, Callable[..., Array]] = {
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "mean_absolute_percentage_error": _mape,
    "mean_squared_logarithmic_error": _msle,
    "huber": _huber,
    "log_cosh": _log_cosh,
    "hinge": _hinge,
    "squared_hinge": _squared_hinge,
    "categorical_hinge": _categorical_hinge,
    "kl_divergence": _kl_divergence,
    "poisson": _poisson,
    "cosine_similarity": _cosine_similarity,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    **SPECIAL_LOSSES,
}


def canonical_loss_name(name: str) -> str:
    """`mse`, `MeanSquaredError` (the Keras class) and `mean_squared_error` are one loss."""
    name = function_name(name, LOSS_NAMES)
    key = ALIASES.get(name.lower(), name.lower())
    if key not in LOSSES:
        names = ", ".join(sorted([*LOSSES, *ALIASES]))
        raise ValueError(f"unknown loss '{name}'. Expected one of: {names}")
    return key


def get_loss(identifier: Any) -> LossFn:
    """A Keras loss name (`"mse"`), a mapping with options (`{"type":
    "categorical_crossentropy", "from_logits": true}`) or a callable `(y_true, y_pred)`."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        return LOSSES[canonical_loss_name(identifier)]
    if isinstance(identifier, dict) and "type" in identifier:
        options = dict(identifier)
        name = canonical_loss_name(options.pop("type"))
        unknown = sorted(set(options) - set(OPTIONS.get(name, ())))
        if unknown:
            takes = ", ".join(OPTIONS.get(name, ())) or "none"
            raise ValueError(f"loss '{name}' has no option {', '.join(unknown)}; it takes {takes}")
        return partial(LOSSES[name], **options)
    raise TypeError(f"loss must be a name, a mapping or a callable. Received: {identifier!r}")


def reduce_loss(values: Array, sample_weight: Array | None) -> Array:
    """Keras' `sum_over_batch_size`: Σ(values·weight) / values.size."""
    if sample_weight is not None:
        weight = sample_weight.astype(values.dtype)
        weight = weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim))
        values = values * weight
    return jnp.sum(values) / values.size
