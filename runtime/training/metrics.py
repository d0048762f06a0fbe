"""Keras 3 metrics by name, as pure accumulators: `init() -> state`,
`update(state, y_true, y_pred, sample_weight) -> state`, `result(state) -> scalar`.

State is a small pytree of sums, so a whole epoch's metrics accumulate inside the jitted step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from kspec.runtime.training.losses import ALIASES as LOSS_ALIASES
from kspec.runtime.training.losses import LOSSES
from kspec.schemas.compile_names import METRIC_NAMES as SCHEMA_METRIC_NAMES
from kspec.schemas.compile_names import NOT_THE_SAME, function_name

Array = jax.Array
EPSILON = 1e-7


@dataclass(frozen=True)
class Metric:
    name: str
    init: Callable[[], Any]
    update: Callable[[Any, Array, Array, Array | None], Any]
    result: Callable[[Any], Array]


def _weights_like(values: Array, sample_weight: Array | None) -> Array:
    if sample_weight is None:
        return jnp.ones_like(values)
    weight = sample_weight.astype(values.dtype)
    weight = weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim))
    return jnp.broadcast_to(weight, values.shape)


def mean_metric(name: str, fn: Callable[[Array, Array], Array]) -> Metric:
    """Keras' `MeanMetricWrapper`: the weighted mean of `fn`'s per-sample values."""

    def update(state: Any, t: Array, p: Array, w: Array | None) -> Any:
        values = fn(t, p).astype(jnp.float32)
        weights = _weights_like(values, w)
        return (state[0] + jnp.sum(values * weights), state[1] + jnp.sum(weights))

    def result(state: Any) -> Array:
        return jnp.where(state[1] > 0, state[0] / jnp.where(state[1] > 0, state[1], 1.0), 0.0)

    return Metric(name, lambda: (jnp.zeros([]), jnp.zeros([])), update, result)


def binary_accuracy(t: Array, p: Array, threshold: float = 0.5) -> Array:
    return jnp.mean((t.astype(p.dtype) == (p > threshold).astype(p.dtype)).astype(p.dtype), -1)


def categorical_accuracy(t: Array, p: Array) -> Array:
    return (jnp.argmax(t, -1) == jnp.argmax(p, -1)).astype(p.dtype)


def _sparse_labels(t: Array, p: Array) -> Array:
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = jnp.squeeze(t, -1)
    return t.astype(jnp.int32)


def sparse_categorical_accuracy(t: Array, p: Array) -> Array:
    return (_sparse_labels(t, p) == jnp.argmax(p, -1)).astype(p.dtype)


def _in_top_k(labels: Array, p: Array, k: int) -> Array:
    """Keras/TF `in_top_k`: the label's score is among the k largest (ties count as in)."""
    target = jnp.take_along_axis(p, labels[..., None], axis=-1)
    return (jnp.sum(p > target, axis=-1) < k).astype(p.dtype)


def top_k_categorical_accuracy(t: Array, p: Array, k: int = 5) -> Array:
    return _in_top_k(jnp.argmax(t, -1).astype(jnp.int32), p, k)


def sparse_top_k_categorical_accuracy(t: Array, p: Array, k: int = 5) -> Array:
    return _in_top_k(_sparse_labels(t, p), p, k)


def _confusion(thresholds: Array, t: Array, p: Array, w: Array | None) -> Array:
    """[tp, fp, tn, fn] per threshold (prediction > threshold counts as positive)."""
    weight = _weights_like(p.astype(jnp.float32), w).reshape(1, -1)
    t = t.reshape(-1).astype(jnp.float32)
    p = p.reshape(-1).astype(jnp.float32)
    predicted = (p[None, :] > thresholds[:, None]).astype(jnp.float32)
    positive = (t > 0.5).astype(jnp.float32)[None, :]
    tp = jnp.sum(predicted * positive * weight, -1)
    fp = jnp.sum(predicted * (1 - positive) * weight, -1)
    tn = jnp.sum((1 - predicted) * (1 - positive) * weight, -1)
    fn = jnp.sum((1 - predicted) * positive * weight, -1)
    return jnp.stack([tp, fp, tn, fn])


def _ratio(a: Array, b: Array) -> Array:
    return jnp.where(b > 0, a / jnp.where(b > 0, b, 1.0), 0.0)


def precision_recall(name: str, threshold: float = 0.5) -> Metric:
    thresholds = jnp.asarray([threshold], jnp.float32)

    def result(state: Array) -> Array:
        tp, fp, _, fn = state[:, 0]
        return _ratio(tp, tp + fp) if name.lower() == "precision" else _ratio(tp, tp + fn)

    return Metric(
        name,
        lambda: jnp.zeros((4, 1)),
        lambda s, t, p, w: s + _confusion(thresholds, t, p, w),
        result,
    )


def _roc_auc(tp: Array, fp: Array, tn: Array, fn: Array) -> Array:
    """Trapezoids under recall against false-positive rate."""
    recall, fp_rate = _ratio(tp, tp + fn), _ratio(fp, fp + tn)
    return jnp.sum((fp_rate[:-1] - fp_rate[1:]) * (recall[:-1] + recall[1:]) / 2.0)


def _pr_auc(tp: Array, fp: Array, tn: Array, fn: Array) -> Array:
    """Keras' `interpolate_pr_auc` (Davis & Goadrich 2006): between thresholds precision is
    interpolated along the true positives, not linearly, which trapezoids would overestimate.
    Each bucket adds slope·(ΔTP + intercept·log(P_A / P_B)) / (TP + FN)."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    slope = _ratio(dtp, jnp.maximum(p[:-1] - p[1:], 0.0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    p_ratio = jnp.where(both, _ratio(p[:-1], jnp.maximum(p[1:], 0.0)), 1.0)
    increments = _ratio(slope * (dtp + intercept * jnp.log(p_ratio)), tp[1:] + fn[1:])
    return jnp.sum(increments)


CURVES = {"ROC": _roc_auc, "PR": _pr_auc}


def auc(name: str = "auc", num_thresholds: int = 200, curve: str = "ROC") -> Metric:
    """Keras' `AUC` with its defaults: 200 evenly spaced thresholds, interpolation; `curve`
    "ROC" (trapezoids) or "PR" (Keras' precision interpolation)."""
    if curve not in CURVES:
        raise ValueError(f"AUC curve must be one of {', '.join(CURVES)}. Received: {curve!r}")
    if num_thresholds < 2:
        raise ValueError(f"AUC needs num_thresholds >= 2. Received: {num_thresholds}")
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    thresholds = jnp.asarray([0.0 - EPSILON, *inner, 1.0 + EPSILON], jnp.float32)
    area = CURVES[curve]

    return Metric(
        name,
        lambda: jnp.zeros((4, num_thresholds)),
        lambda s, t, p, w: s + _confusion(thresholds, t, p, w),
        lambda s: area(*s),
    )


MEAN_METRICS: dict[str, Callable[[Array, Array], Array]] = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    **{name: fn for name, fn in LOSSES.items() if name != "cosine_similarity"},
    "cosine_similarity": lambda t, p: -LOSSES["cosine_similarity"](t, p),
}
METRIC_NAMES = sorted(
    [*MEAN_METRICS, *LOSS_ALIASES, "accuracy", "acc", "precision", "recall", "auc"]
)


def resolve_accuracy(y_true_shape: tuple[int, ...], y_pred_shape: tuple[int, ...]) -> str:
    """Keras' choice for `"accuracy"`: binary for one output unit, sparse categorical for
    integer labels (rank lower, or last dim 1 against several classes), else categorical."""
    if y_pred_shape[-1] == 1:
        return "binary_accuracy"
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


def get_metric(
    identifier: Any, y_true_shape: tuple[int, ...], y_pred_shape: tuple[int, ...]
) -> Metric:
    """A metric from its Keras name (the History key is the name as given), a `Metric`, a
    callable `(y_true, y_pred) -> per-sample values` (averaged, named after the function), or
    `{"type": "auc", "curve": "PR", "num_thresholds": 200, "name": "pr_auc"}`."""
    if isinstance(identifier, Metric):
        return identifier
    if hasattr(identifier, "model_dump"):  # schemas.training.AucSpec
        identifier = identifier.model_dump(exclude_none=True)
    if isinstance(identifier, Mapping):
        return _configured(identifier)
    if callable(identifier):
        return mean_metric(getattr(identifier, "__name__", "metric"), identifier)
    if not isinstance(identifier, str):
        raise TypeError(f"a metric must be a name or a callable. Received: {identifier!r}")
    if identifier in NOT_THE_SAME:
        raise ValueError(
            f"unknown metric '{identifier}': Keras' Accuracy class (exact match) is not "
            "implemented; 'accuracy' picks binary or categorical accuracy from the shapes"
        )
    key = function_name(identifier, SCHEMA_METRIC_NAMES).lower()  # class names too (`AUC`)
    if key in ("accuracy", "acc"):
        return mean_metric(identifier, MEAN_METRICS[resolve_accuracy(y_true_shape, y_pred_shape)])
    if key in ("precision", "recall"):
        return precision_recall(identifier)
    if key == "auc":
        return auc(identifier)
    key = LOSS_ALIASES.get(key, key)
    if key not in MEAN_METRICS:
        raise ValueError(
            f"unknown metric '{identifier}'. Expected one of: {', '.join(METRIC_NAMES)}"
        )
    return mean_metric(identifier, MEAN_METRICS[key])


def _configured(options: Mapping[str, Any]) -> Metric:
    """A metric with options; only AUC has any so far."""
    options = dict(options)
    kind = options.pop("type", None)
    if not isinstance(kind, str) or kind.lower() != "auc":
        raise ValueError(f"metric options are only known for type 'auc'. Received: {kind!r}")
    unknown = sorted(set(options) - {"name", "num_thresholds", "curve"})
    if unknown:
        raise ValueError(
            f"AUC has no option {', '.join(unknown)}; it takes curve, num_thresholds, name"
        )
    return auc(**options)


__all__ = ["Metric", "auc", "get_metric", "mean_metric"]
