"""Keras 3 metrics by name, as pure accumulators: `init() -> state`,
`update(state, y_true, y_pred, sample_weight) -> state`, `result(state) -> scalar`.

State is a small pytree of sums, so a whole epoch's metrics accumulate inside the jitted step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kspec.runtime.training.losses import ALIASES as LOSS_ALIASES
from kspec.runtime.training.losses import LOSSES
from kspec.runtime.training.metric_base import Metric, confusion, mean_metric, ratio, zeros
from kspec.runtime.training.metrics_confusion import (
    AT_CONSTRAINT,
    COUNTS,
    at_constraint,
    count,
    fbeta,
    iou,
)
from kspec.runtime.training.metrics_regression import (
    concordance_correlation,
    exact_accuracy,
    pearson_correlation,
    r2_score,
    root_mean_squared_error,
)
from kspec.schemas.compile_names import METRIC_NAMES as SCHEMA_METRIC_NAMES
from kspec.schemas.compile_names import NOT_THE_SAME, function_name, options_needed, refusal
from kspec.schemas.training import METRIC_OPTIONS

Array = jax.Array
EPSILON = 1e-7


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


def precision_recall(name: str, threshold: float = 0.5) -> Metric:
    thresholds = np.asarray([threshold], np.float32)

    def result(state: Array) -> Array:
        tp, fp, _, fn = state[:, 0]
        return ratio(tp, tp + fp) if name.lower() == "precision" else ratio(tp, tp + fn)

    return Metric(
        name,
        lambda: zeros((4, 1)),
        lambda s, t, p, w: s + confusion(thresholds, t, p, w),
        result,
    )


def _roc_auc(tp: Array, fp: Array, tn: Array, fn: Array) -> Array:
    """Trapezoids under recall against false-positive rate."""
    recall, fp_rate = ratio(tp, tp + fn), ratio(fp, fp + tn)
    return jnp.sum((fp_rate[:-1] - fp_rate[1:]) * (recall[:-1] + recall[1:]) / 2.0)


def _pr_auc(tp: Array, fp: Array, tn: Array, fn: Array) -> Array:
    """Keras' `interpolate_pr_auc` (Davis & Goadrich 2006): between thresholds precision is
    interpolated along the true positives, not linearly, which trapezoids would overestimate.
    Each bucket adds slope·(ΔTP + intercept·log(P_A / P_B)) / (TP + FN)."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    slope = ratio(dtp, jnp.maximum(p[:-1] - p[1:], 0.0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    p_ratio = jnp.where(both, ratio(p[:-1], jnp.maximum(p[1:], 0.0)), 1.0)
    increments = ratio(slope * (dtp + intercept * jnp.log(p_ratio)), tp[1:] + fn[1:])
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
    thresholds = np.asarray([0.0 - EPSILON, *inner, 1.0 + EPSILON], np.float32)
    area = CURVES[curve]

    return Metric(
        name,
        lambda: zeros((4, num_thresholds)),
        lambda s, t, p, w: s + confusion(thresholds, t, p, w),
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
    "pearson_correlation": pearson_correlation,
    "concordance_correlation": concordance_correlation,
}
METRIC_NAMES = sorted(
    {
        *MEAN_METRICS,
        *LOSS_ALIASES,
        *METRIC_OPTIONS,
        "accuracy",
        "acc",
        "precision",
        "recall",
        "root_mean_squared_error",
    }
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
    a mapping with options (`{"type": "MeanIoU", "num_classes": 3, "name": "miou"}`)."""
    if isinstance(identifier, Metric):
        return identifier
    if hasattr(identifier, "model_dump"):  # schemas.training.MetricSpec
        identifier = identifier.model_dump(exclude_none=True)
    if isinstance(identifier, Mapping):
        options = dict(identifier)
        kind = options.pop("type", None)
        if not isinstance(kind, str) or _key(kind) not in METRIC_OPTIONS:
            raise ValueError(
                f"metric options are known for types {', '.join(METRIC_OPTIONS)}. "
                f"Received: {kind!r}"
            )
        return _configured(_key(kind), options.pop("name", kind), options, y_pred_shape)
    if callable(identifier):
        return mean_metric(getattr(identifier, "__name__", "metric"), identifier)
    if not isinstance(identifier, str):
        raise TypeError(f"a metric must be a name or a callable. Received: {identifier!r}")
    if identifier in NOT_THE_SAME:  # Keras' `Accuracy` class
        return mean_metric(identifier, exact_accuracy)
    key = _key(identifier)
    if key in ("accuracy", "acc"):
        return mean_metric(identifier, MEAN_METRICS[resolve_accuracy(y_true_shape, y_pred_shape)])
    if key in ("precision", "recall"):
        return precision_recall(identifier)
    if key == "root_mean_squared_error":
        return root_mean_squared_error(identifier)
    if key in METRIC_OPTIONS:
        return _configured(key, identifier, {}, y_pred_shape)
    key = LOSS_ALIASES.get(key, key)
    if key not in MEAN_METRICS:
        raise ValueError(
            refusal(identifier)
            or f"unknown metric '{identifier}'. Expected one of: {', '.join(METRIC_NAMES)}"
        )
    return mean_metric(identifier, MEAN_METRICS[key])


def _key(name: str) -> str:
    return function_name(name, SCHEMA_METRIC_NAMES).lower()  # class names too (`AUC`)


def _configured(
    key: str, name: str, options: dict[str, Any], y_pred_shape: tuple[int, ...]
) -> Metric:
    """Metric `key` with Keras' options (checked as the schema checks a spec's)."""
    required, optional = METRIC_OPTIONS[key]
    unknown = sorted(set(options) - {*required, *optional})
    if unknown:
        takes = ", ".join([*required, *optional, "name"])
        raise ValueError(f"metric '{name}' has no option {', '.join(unknown)}; it takes {takes}")
    if not set(required) <= set(options):
        raise ValueError(options_needed(name) or f"metric '{name}' needs {', '.join(required)}")
    if key == "auc":
        return auc(name, **options)
    if key in COUNTS:
        return count(key, name, **options)
    if key in AT_CONSTRAINT:
        return at_constraint(key, name, options.pop(required[0]), **options)
    if key in ("f1_score", "fbeta_score"):
        return fbeta(name, y_pred_shape[-1], **options)
    if key == "r2_score":
        return r2_score(name, y_pred_shape[-1], **options)
    if key in ("pearson_correlation", "concordance_correlation"):
        return mean_metric(name, partial(MEAN_METRICS[key], **options))
    return _iou(key, name, options)


def _iou(key: str, name: str, options: dict[str, Any]) -> Metric:
    """The IoU family: one implementation, Keras' defaults per class."""
    if key == "binary_iou":
        options = {"target_class_ids": (0, 1), "threshold": 0.5, **options}
        return iou(name, 2, **options)
    if key.startswith("one_hot"):
        options = {"sparse_y_pred": False, **options, "sparse_y_true": False}
    if key.endswith("mean_iou"):
        options["target_class_ids"] = range(options["num_classes"])
    return iou(name, **options)


__all__ = ["Metric", "auc", "get_metric", "mean_metric"]
