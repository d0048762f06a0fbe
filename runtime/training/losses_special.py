"""Keras 3's newer losses: focal crossentropies (class imbalance), Dice and Tversky
(segmentation overlap), Circle (metric learning), CTC (unaligned sequences) and generalized
crossentropy (noisy labels), each following `keras/src/losses/losses.py` operation for
operation so values match Keras to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

Array = jax.Array
Axis = int | Sequence[int] | None
EPSILON = 1e-7
"""Keras' `backend.epsilon()`, used by every clip and denominator here and in losses.py."""


def smooth_labels(t: Array, label_smoothing: float, classes: int) -> Array:
    """Keras' label smoothing: each target pulled towards 1/classes (binary: classes=2)."""
    return t * (1.0 - label_smoothing) + label_smoothing / classes if label_smoothing else t


def _axis(axis: Axis) -> int | tuple[int, ...] | None:
    return tuple(axis) if isinstance(axis, Sequence) else axis


def binary_focal_crossentropy(
    t: Array,
    p: Array,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Array:
    """mean((1 - p_t)^gamma · bce), p_t the probability of the true class (Lin et al. 2017)."""
    t = t.astype(p.dtype)
    t = smooth_labels(t, label_smoothing, 2)
    if from_logits:
        p = jax.nn.sigmoid(p)
    clipped = jnp.clip(p, EPSILON, 1.0 - EPSILON)
    bce = -(t * jnp.log(clipped) + (1.0 - t) * jnp.log(1.0 - clipped))
    p_t = t * p + (1 - t) * (1 - p)
    focal = jnp.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (t * alpha + (1 - t) * (1 - alpha)) * focal
    return jnp.mean(focal, axis=axis)


def categorical_focal_crossentropy(
    t: Array,
    p: Array,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Array:
    """Σ alpha·(1 - p)^gamma · (-t·log p) over the classes."""
    t = t.astype(p.dtype)
    t = smooth_labels(t, label_smoothing, t.shape[-1])
    if from_logits:
        p = jax.nn.softmax(p, axis=axis)
    output = jnp.clip(p / jnp.sum(p, axis=axis, keepdims=True), EPSILON, 1.0 - EPSILON)
    weighting = jnp.power(1.0 - output, gamma) * alpha
    return jnp.sum(weighting * (-t * jnp.log(output)), axis=axis)


def dice(t: Array, p: Array, axis: Axis = None) -> Array:
    """1 - 2·Σ(t·p) / (Σt + Σp + ε); over the whole batch by default, as Keras."""
    t, axis = t.astype(p.dtype), _axis(axis)
    intersection = jnp.sum(t * p, axis=axis)
    return 1 - 2.0 * intersection / (jnp.sum(t, axis=axis) + jnp.sum(p, axis=axis) + EPSILON)


def tversky(t: Array, p: Array, alpha: float = 0.5, beta: float = 0.5, axis: Axis = None) -> Array:
    """1 - TP / (TP + alpha·FP + β·FN + ε) with soft counts; alpha = β = 0.5 is Dice."""
    t, axis = t.astype(p.dtype), _axis(axis)
    intersection = jnp.sum(t * p, axis=axis)
    fp = jnp.sum((1 - p) * t, axis=axis)  # Keras' naming: its "targets" are y_pred
    fn = jnp.sum(p * (1 - t), axis=axis)
    return 1 - intersection / (intersection + fp * alpha + fn * beta + EPSILON)


def circle(
    t: Array, p: Array, gamma: float = 80.0, margin: float = 0.4, remove_diagonal: bool = True
) -> Array:
    """Circle loss (Sun et al. 2020) over the batch's pairs: `t` integer labels, `p` unit
    embeddings. Keras masks the zero losses out of the mean (mean over the positive ones);
    scaling each by total/valid here gives that mean under the usual reduction."""
    labels = t.astype(jnp.int32).reshape(-1, 1)
    distances = jnp.maximum(1 - p @ p.T, 0.0)
    positive = labels == labels.T
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~jnp.eye(labels.size, dtype=bool)
    pos_weights = jnp.maximum((margin + distances) * positive.astype(p.dtype), 0.0)
    neg_weights = jnp.maximum((1 + margin - distances) * negative.astype(p.dtype), 0.0)
    pos = -1 * gamma * pos_weights * (margin - distances)
    neg = gamma * neg_weights * (1 - margin - distances)
    p_loss = jax.nn.logsumexp(jnp.where(positive, pos, -jnp.inf), axis=1)
    n_loss = jax.nn.logsumexp(jnp.where(negative, neg, -jnp.inf), axis=1)
    loss = jax.nn.softplus(p_loss + n_loss)
    valid = jnp.sum((loss > 0).astype(p.dtype))
    scale = jnp.where(valid > 0, loss.size / jnp.where(valid > 0, valid, 1.0), 0.0)
    return jnp.where(loss > 0, loss * scale, 0.0)


def ctc(t: Array, p: Array) -> Array:
    """Connectionist temporal classification: `t` (batch, max_label_length) int labels
    padded with 0 (the blank), `p` (batch, time, classes) logits over every time step."""
    if t.ndim != 2 or p.ndim != 3:
        raise ValueError(
            "ctc expects y_true of shape (batch_size, max_length) and y_pred of shape "
            f"(batch_size, time, num_classes). Received: y_true.shape={t.shape}, "
            f"y_pred.shape={p.shape}"
        )
    t = t.astype(jnp.int32)
    length = jnp.sum(t != 0, axis=-1)
    label_paddings = (jnp.arange(t.shape[1])[None, :] >= length[:, None]).astype(jnp.float32)
    logit_paddings = jnp.zeros(p.shape[:2], jnp.float32)
    return optax.ctc_loss(p.astype(jnp.float32), logit_paddings, t, label_paddings, blank_id=0)


def categorical_generalized_cross_entropy(t: Array, p: Array, q: float = 0.5) -> Array:
    """(1 - p_y^q) / q for integer labels y (Zhang & Sabuncu 2018): crossentropy as q -> 0,
    MAE at q = 1."""
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = jnp.squeeze(t, axis=-1)
    chosen = jnp.sum(p * jax.nn.one_hot(t.astype(jnp.int32), p.shape[-1], dtype=p.dtype), -1)
    return (1 - jnp.power(chosen, q)) / q


SPECIAL_LOSSES = {
    "binary_focal_crossentropy": binary_focal_crossentropy,
    "categorical_focal_crossentropy": categorical_focal_crossentropy,
    "dice": dice,
    "tversky": tversky,
    "circle": circle,
    "ctc": ctc,
    "categorical_generalized_cross_entropy": categorical_generalized_cross_entropy,
}
