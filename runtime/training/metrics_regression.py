"""Keras 3's regression and agreement metrics: R², root mean squared error, Pearson and
concordance correlation, and exact-match `Accuracy`, following
`keras/src/metrics/regression_metrics.py`, `correlation_metrics.py` and `accuracy_metrics.py`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from kspec.runtime.training.metric_base import Metric, mean_metric, zeros

Array = jax.Array
EPSILON = 1e-7


def _same_rank(t: Array, p: Array) -> tuple[Array, Array]:
    """Keras' `squeeze_or_expand_to_same_rank`: a trailing axis of 1 is dropped or added."""
    if t.ndim == p.ndim + 1 and t.shape[-1] == 1:
        return jnp.squeeze(t, -1), p
    if p.ndim == t.ndim + 1 and p.shape[-1] == 1:
        return t, jnp.squeeze(p, -1)
    return t, p


def exact_accuracy(t: Array, p: Array) -> Array:
    """Keras' `Accuracy` class: how often y_pred equals y_true exactly."""
    t, p = _same_rank(t, p)
    return (t.astype(p.dtype) == p).astype(jnp.float32)


def pearson_correlation(t: Array, p: Array, axis: int = -1) -> Array:
    t, p = _same_rank(t.astype(p.dtype), p)
    t = t - jnp.mean(t, axis=axis, keepdims=True)
    p = p - jnp.mean(p, axis=axis, keepdims=True)
    t = t / jnp.std(t, axis=axis, keepdims=True)
    p = p / jnp.std(p, axis=axis, keepdims=True)
    return jnp.mean(t * p, axis=axis)


def concordance_correlation(t: Array, p: Array, axis: int = -1) -> Array:
    """Lin's concordance, as Keras computes it (its covariance centres y_true on y_pred's
    mean: kept, for Keras' numbers)."""
    t, p = _same_rank(t.astype(p.dtype), p)
    t_mean = jnp.mean(t, axis=axis, keepdims=True)
    p_mean = jnp.mean(p, axis=axis, keepdims=True)
    t_var = jnp.var(t - t_mean, axis=axis, keepdims=True)
    p_var = jnp.var(p - p_mean, axis=axis, keepdims=True)
    covariance = (t - p_mean) * (p - p_mean)
    norm = t_var + p_var + jnp.square(t_mean - p_mean)
    return jnp.mean(2 * covariance / (norm + EPSILON), axis=axis)


def root_mean_squared_error(name: str) -> Metric:
    """sqrt of the weighted mean squared error (the square root of the mean, not a mean of
    per-batch roots)."""
    mse = mean_metric(name, lambda t, p: jnp.mean(jnp.square(p - t), axis=-1))
    return Metric(name, mse.init, mse.update, lambda s: jnp.sqrt(mse.result(s)))


def r2_score(
    name: str, outputs: int, class_aggregation: str = "uniform_average", num_regressors: int = 0
) -> Metric:
    """1 - SS_res / SS_tot per output from running sums, then averaged; adjusted for
    `num_regressors` when there are enough samples (else plain R², as Keras falls back)."""

    def update(state: Any, t: Array, p: Array, w: Array | None) -> Any:
        t, p = _same_rank(t.astype(jnp.float32), p.astype(jnp.float32))
        if t.ndim != 2 or p.ndim != 2:
            raise ValueError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim). Received "
                f"input shapes: y_pred.shape={p.shape} and y_true.shape={t.shape}"
            )
        weight = jnp.ones_like(t) if w is None else jnp.broadcast_to(w[:, None], t.shape)
        weighted = t * weight
        sums = [weighted, t * weighted, jnp.square(t - p) * weight, weight]
        return state[0] + jnp.stack([jnp.sum(v, axis=0) for v in sums]), state[1] + t.size

    def result(state: Any) -> Array:
        (total_y, squares, residual, count), samples = state
        total = squares - total_y * (total_y / count)
        raw = 1 - residual / total
        raw = jnp.where(jnp.isinf(raw), 0.0, raw)
        if class_aggregation == "variance_weighted_average":
            score = jnp.sum(total * raw) / jnp.sum(total)
        else:
            score = jnp.mean(raw)
        if num_regressors == 0:
            return score
        adjusted = 1.0 - (1.0 - score) * (samples - 1.0) / (samples - num_regressors - 1.0)
        return jnp.where(num_regressors < samples - 1, adjusted, score)

    return Metric(name, lambda: (zeros((4, outputs)), zeros()), update, result)
