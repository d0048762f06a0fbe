"""Keras 3's classification metrics beyond accuracy: counts at a threshold, a rate at a
constraint on another (`SensitivityAtSpecificity` ...), F-scores and the IoU family. Each
keeps Keras' sums as its state and computes Keras' `result` from them
(`keras/src/metrics/confusion_metrics.py`, `f_score_metrics.py`, `iou_metrics.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from kspec.runtime.training.metric_base import Metric, confusion, ratio, weights_like, zeros

Array = jax.Array
EPSILON = 1e-7
COUNTS = ("true_positives", "false_positives", "true_negatives", "false_negatives")


def count(kind: str, name: str, thresholds: float = 0.5) -> Metric:
    """`TruePositives` ...: the weighted count where prediction > threshold."""
    index, at = COUNTS.index(kind), np.asarray([thresholds], np.float32)
    return Metric(
        name,
        lambda: zeros((4, 1)),
        lambda s, t, p, w: s + confusion(at, t, p, w),
        lambda s: s[index, 0],
    )


AT_CONSTRAINT = {  # name -> (constrained rate, rate maximised), each from (tp, fp, tn, fn)
    "sensitivity_at_specificity": ("specificity", "sensitivity"),
    "specificity_at_sensitivity": ("sensitivity", "specificity"),
    "precision_at_recall": ("sensitivity", "precision"),
    "recall_at_precision": ("precision", "sensitivity"),
}


def _rates(tp: Array, fp: Array, tn: Array, fn: Array) -> dict[str, Array]:
    return {
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "precision": ratio(tp, tp + fp),
    }


def at_constraint(
    kind: str, name: str, value: float, num_thresholds: int = 200, class_id: int | None = None
) -> Metric:
    """The best rate among the thresholds whose other rate reaches `value` (0 if none)."""
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    thresholds = np.asarray([0.0, *inner, 1.0], np.float32)
    constrained, dependent = AT_CONSTRAINT[kind]

    def update(state: Array, t: Array, p: Array, w: Array | None) -> Array:
        if class_id is not None:
            t, p = t[..., class_id], p[..., class_id]
        return state + confusion(thresholds, t, p, w)

    def result(state: Array) -> Array:
        rates = _rates(*state)
        feasible = rates[constrained] >= value
        return jnp.max(jnp.where(feasible, rates[dependent], 0.0), initial=0.0)

    return Metric(name, lambda: zeros((4, num_thresholds)), update, result)


def _two_dimensional(name: str, t: Array, p: Array) -> None:
    if t.ndim != 2 or p.ndim != 2:
        raise ValueError(
            f"{name} expects 2D inputs with shape (batch_size, output_dim). Received input "
            f"shapes: y_pred.shape={p.shape} and y_true.shape={t.shape}"
        )


def fbeta(
    name: str, classes: int, average: str, beta: float = 1.0, threshold: float | None = None
) -> Metric:
    """F-beta = (1 + β²)·P·R / (β²·P + R); `micro` pools every entry, `macro` averages the
    classes' scores, `weighted` weighs them by their support."""
    axis = None if average == "micro" else 0
    shape = (4,) if average == "micro" else (4, classes)

    def update(state: Array, t: Array, p: Array, w: Array | None) -> Array:
        _two_dimensional(name, t, p)
        p, t = p.astype(jnp.float32), t.astype(jnp.float32)
        if threshold is None:  # the top class of each row (Keras: ties all count)
            p = (p >= jnp.max(p, -1, keepdims=True)) & (jnp.abs(p) > 1e-9)
        else:
            p = p > threshold
        p = p.astype(jnp.float32)
        weight = 1.0 if w is None else w.astype(jnp.float32)[:, None]
        sums = [p * t, p * (1 - t), (1 - p) * t, t]
        return state + jnp.stack([jnp.sum(v * weight, axis=axis) for v in sums])

    def result(state: Array) -> Array:
        tp, fp, fn, support = state
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        score = precision * recall / (beta**2 * precision + recall + EPSILON) * (1 + beta**2)
        if average == "weighted":
            return jnp.sum(score * support / (jnp.sum(support) + EPSILON))
        return jnp.mean(score)

    return Metric(name, lambda: zeros(shape), update, result)


def iou(
    name: str,
    num_classes: int,
    target_class_ids: Sequence[int],
    ignore_class: int | None = None,
    sparse_y_true: bool = True,
    sparse_y_pred: bool = True,
    axis: int = -1,
    threshold: float | None = None,
) -> Metric:
    """Mean of TP / (TP + FP + FN) over `target_class_ids`, from a confusion matrix (rows:
    labels, columns: predictions) summed over batches. `threshold` makes it BinaryIoU."""
    if max(target_class_ids) >= num_classes:
        raise ValueError(
            f"Target class id {max(target_class_ids)} is out of range, which is [0, {num_classes})."
        )
    ids = np.asarray(list(target_class_ids), np.int32)

    def update(state: Array, t: Array, p: Array, w: Array | None) -> Array:
        if threshold is not None:
            p = p.astype(jnp.float32) >= threshold
        if not sparse_y_true:
            t = jnp.argmax(t, axis=axis)
        if not sparse_y_pred:
            p = jnp.argmax(p, axis=axis)
        weight = weights_like(t.astype(jnp.float32), w).reshape(-1)
        t, p = t.astype(jnp.int32).reshape(-1), p.astype(jnp.int32).reshape(-1)
        valid = (t >= 0) & (t < num_classes) & (p >= 0) & (p < num_classes)
        if ignore_class is not None:
            valid = valid & (t != ignore_class)
        t, p = jnp.where(valid, t, 0), jnp.where(valid, p, 0)
        return jnp.asarray(state).at[t, p].add(jnp.where(valid, weight, 0.0))

    def result(matrix: Array) -> Array:
        tp = jnp.diag(matrix)
        denominator = (jnp.sum(matrix, 0) + jnp.sum(matrix, 1) - tp)[ids]
        valid = denominator > 1e-9
        scores = jnp.where(valid, tp[ids] / (denominator + EPSILON), 0.0)
        return jnp.sum(scores) / (jnp.sum(valid.astype(jnp.float32)) + EPSILON)

    return Metric(name, lambda: zeros((num_classes, num_classes)), update, result)
