"""Lowerings of the normalization layers: shape rule, init and apply of each, side by side.

Statistics are computed in at least float32 and the result cast back to the input's dtype, as
Keras does; which inputs and weights arrive in the compute dtype is each lowering's
`precision` declaration (Keras keeps BatchNormalization's variables, and LayerNormalization's
and GroupNormalization's inputs and variables, out of autocasting). Every per-axis weight is
reshaped to broadcast explicitly (rank promotion raises).
"""

from __future__ import annotations

from typing import Any

from kspec.compiler.deferred import jax, jnp
from kspec.compiler.initializers import initialize
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    expect_inputs,
    format_shape,
    regularized,
)
from kspec.compiler.precision import FLOAT32_WEIGHTS, UNCAST
from kspec.errors import ShapeError
from kspec.schemas.layers import normalization as s

_MASK_EPSILON = 1e-7  # Keras' backend.epsilon(), added to the count of unmasked elements


_Normalization = s.AffineNormalization | s.UnitNormalization | s.RMSNormalization


def _positive_axes(spec: _Normalization, shape: Shape) -> list[int]:
    """`spec.axis` (int or list, negative allowed) as sorted non-negative axes of `shape`."""
    axes = [spec.axis] if isinstance(spec.axis, int) else spec.axis
    for axis in axes:
        if not -len(shape) <= axis < len(shape):
            raise ShapeError(
                f"Axis {axis} is out of bounds for input shape {format_shape(shape)}. "
                f"Received: axis={spec.axis}"
            )
    return sorted(a % len(shape) for a in axes)


def _known_sizes(spec: _Normalization, shape: Shape, axes: list[int]) -> tuple[int, ...]:
    """The sizes of `axes`, which the layer's weights take: each must be known."""
    sizes = tuple(shape[a] for a in axes)
    if None in sizes:
        raise ShapeError(
            f"{type(spec).__name__} needs a known size on axis {spec.axis}. "
            f"Received: shape={format_shape(shape)}"
        )
    return sizes  # type: ignore[return-value]


def _same_shape(spec: _Normalization, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    axes = _positive_axes(spec, shapes[0])
    if not isinstance(spec, s.UnitNormalization):  # the others hold weights on these axes
        _known_sizes(spec, shapes[0], axes)
    return [shapes[0]]


def _broadcast(w: Array, ndim: int, axes: list[int]) -> Array:
    """A weight shaped like the sizes of `axes`, reshaped to broadcast over a rank-`ndim` x."""
    shape = [1] * ndim
    for axis, size in zip(axes, w.shape, strict=True):
        shape[axis] = size
    return w.reshape(shape)


def _affine_init(
    spec: s.AffineNormalization | s.RMSNormalization,
    key: Array,
    shape: tuple[int, ...],
    gamma: bool,
) -> Weights:
    """gamma (if `gamma`) then beta (if `spec.center`), Keras' creation order."""
    gamma_key, beta_key = jax.random.split(key)
    weights = {}
    if gamma:
        weights["gamma"] = initialize(spec.gamma_initializer, gamma_key, shape)
    if spec.center and not getattr(spec, "rms_scaling", False):
        weights["beta"] = initialize(spec.beta_initializer, beta_key, shape)
    return weights


def _normalize(
    x: Array, mean: Array, var: Array, params: Weights, epsilon: float, ndim: int, axes: list[int]
) -> Array:
    """y = x * inv + (beta - mean * inv), inv = gamma / sqrt(var + epsilon), as Keras orders it;
    `mean` and `var` already broadcast against x."""
    inv = jax.lax.rsqrt(var + epsilon)
    if "gamma" in params:
        inv = inv * _broadcast(params["gamma"].astype(x.dtype), ndim, axes)
    res = -mean * inv
    if "beta" in params:
        res = res + _broadcast(params["beta"].astype(x.dtype), ndim, axes)
    return x * inv + res


def _compute_dtype(x: Array) -> jnp.dtype:
    return jnp.result_type(x.dtype, jnp.float32)


# BatchNormalization ---------------------------------------------------------------------------


def _bn_init(spec: s.BatchNormalization, key: Array, shapes: list[Shape]) -> LayerWeights:
    axes = _positive_axes(spec, shapes[0])
    size = _known_sizes(spec, shapes[0], axes)
    affine_key, mean_key, var_key = jax.random.split(key, 3)
    state = {
        "moving_mean": initialize(spec.moving_mean_initializer, mean_key, size),
        "moving_variance": initialize(spec.moving_variance_initializer, var_key, size),
    }
    return LayerWeights(_affine_init(spec, affine_key, size, spec.scale), state)


def _masked_moments(x: Array, mask: Array, reduce: tuple[int, ...]) -> tuple[Array, Array]:
    """Keras' weighted moments: only unmasked elements count; mask is x's rank minus one."""
    if mask.ndim != x.ndim - 1:
        raise ShapeError(
            "The mask provided should be one dimension less than the inputs. Received: "
            f"mask.shape={tuple(mask.shape)}, inputs.shape={tuple(x.shape)}"
        )
    keep = jnp.broadcast_to(mask.astype(bool)[..., None], x.shape)
    count = jnp.sum(keep.astype(x.dtype), reduce, keepdims=True) + _MASK_EPSILON
    mean = jnp.sum(jnp.where(keep, x, 0.0), reduce, keepdims=True) / count
    var = jnp.sum(jnp.square(jnp.where(keep, x - mean, 0.0)), reduce, keepdims=True) / count
    return mean, var


def _moments(x: Array, reduce: tuple[int, ...], shift: Array | None) -> tuple[Array, Array]:
    """Batch mean and (biased) variance over `reduce`: two passes as Keras' `ops.moments`
    (`shift` None), or one: d = x - shift, mean = shift + E[d], var = E[d^2] - E[d]^2. The
    shift is the moving mean, a constant to autodiff (mean and var do not depend on it): once
    it tracks the batch mean, a channel whose mean is far from 0 keeps its variance's digits.
    (Shifting by the batch's first element costs the one-pass form its speed on CPU.)"""
    if shift is None:
        return jnp.mean(x, reduce, keepdims=True), jnp.var(x, reduce, keepdims=True)
    shift = jax.lax.stop_gradient(shift)
    d = x - shift
    mean_d = jnp.mean(d, reduce, keepdims=True)
    var = jnp.mean(jnp.square(d), reduce, keepdims=True) - jnp.square(mean_d)
    return shift + mean_d, jnp.maximum(var, 0.0)  # rounding can leave var just below 0


def _bn_apply(
    spec: s.BatchNormalization, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = gamma * (x - mean) / sqrt(var + epsilon) + beta; training: batch statistics and
    moving = moving * momentum + batch * (1 - momentum)."""
    x = inputs[0]
    dtype = x.dtype
    x = x.astype(_compute_dtype(x))
    (axis,) = _positive_axes(spec, x.shape)
    reduce = tuple(i for i in range(x.ndim) if i != axis)
    moving_mean = call.state["moving_mean"].astype(x.dtype)
    moving_var = call.state["moving_variance"].astype(x.dtype)
    if call.training and spec.trainable:  # Keras: a frozen BatchNormalization runs inference
        mask = call.masks[0] if call.masks else None
        if mask is None:
            one_pass = call.env.lowering.one_pass_batch_norm()
            shift = _broadcast(moving_mean, x.ndim, [axis]) if one_pass else None
            mean, var = _moments(x, reduce, shift)
        else:
            mean, var = _masked_moments(x, mask, reduce)
        m = spec.momentum
        call.update_state(
            {
                "moving_mean": moving_mean * m + mean.reshape(-1) * (1.0 - m),
                "moving_variance": moving_var * m + var.reshape(-1) * (1.0 - m),
            }
        )
    else:
        mean = _broadcast(moving_mean, x.ndim, [axis])
        var = _broadcast(moving_var, x.ndim, [axis])
    return [_normalize(x, mean, var, params, spec.epsilon, x.ndim, [axis]).astype(dtype)]


# LayerNormalization ---------------------------------------------------------------------------


def _ln_init(spec: s.LayerNormalization, key: Array, shapes: list[Shape]) -> LayerWeights:
    axes = _positive_axes(spec, shapes[0])
    sizes = _known_sizes(spec, shapes[0], axes)
    return LayerWeights(_affine_init(spec, key, sizes, spec.scale or spec.rms_scaling))


def _ln_apply(
    spec: s.LayerNormalization, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = gamma * (x - mean) / sqrt(var + epsilon) + beta over `axis`, per sample;
    rms_scaling: y = gamma * x / sqrt(var + epsilon)."""
    x = inputs[0]
    dtype = x.dtype
    x = x.astype(_compute_dtype(x))
    axes = _positive_axes(spec, x.shape)
    mean = jnp.mean(x, axes, keepdims=True)
    var = jnp.var(x, axes, keepdims=True)
    if spec.rms_scaling:  # Keras' deprecated form: scaled by the variance, never centered
        mean = jnp.zeros_like(mean)
    return [_normalize(x, mean, var, params, spec.epsilon, x.ndim, axes).astype(dtype)]


# GroupNormalization ---------------------------------------------------------------------------


def _groups(spec: s.GroupNormalization, shape: Shape) -> tuple[int, int]:
    """(axis, groups) with groups=-1 resolved; the channels must split evenly."""
    (axis,) = _positive_axes(spec, shape)
    (channels,) = _known_sizes(spec, shape, [axis])
    groups = channels if spec.groups == -1 else spec.groups
    if channels < groups:
        raise ShapeError(
            f"Number of groups ({groups}) cannot be more than the number of channels "
            f"({channels}). Received: groups={spec.groups}, shape={format_shape(shape)}"
        )
    if channels % groups:
        raise ShapeError(
            f"The number of channels ({channels}) must be a multiple of the number of groups "
            f"({groups}). Received: groups={spec.groups}, shape={format_shape(shape)}"
        )
    return axis, groups


def _gn_shape(spec: s.GroupNormalization, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    _groups(spec, shapes[0])
    return [shapes[0]]


def _gn_init(spec: s.GroupNormalization, key: Array, shapes: list[Shape]) -> LayerWeights:
    (axis,) = _positive_axes(spec, shapes[0])
    size = _known_sizes(spec, shapes[0], [axis])
    return LayerWeights(_affine_init(spec, key, size, spec.scale))


def _gn_apply(
    spec: s.GroupNormalization, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Channels split (groups, channels/groups); each sample's group normalized over its
    channels and every other non-batch axis; then gamma * y + beta per channel."""
    x = inputs[0]
    dtype = x.dtype
    axis, groups = _groups(spec, x.shape)
    grouped = x.reshape(*x.shape[:axis], groups, -1, *x.shape[axis + 1 :])
    grouped = grouped.astype(_compute_dtype(x))
    reduce = tuple(i for i in range(1, grouped.ndim) if i != axis)
    mean = jnp.mean(grouped, reduce, keepdims=True)
    var = jnp.var(grouped, reduce, keepdims=True)
    per_group = {k: w.reshape(groups, -1) for k, w in params.items()}
    y = _normalize(grouped, mean, var, per_group, spec.epsilon, grouped.ndim, [axis, axis + 1])
    return [y.reshape(x.shape).astype(dtype)]


# UnitNormalization, RMSNormalization ----------------------------------------------------------


def _unit_apply(
    spec: s.UnitNormalization, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = x * min(1 / ||x||_2, 1e12) over `axis` (Keras' epsilon 1e-12 on the norm)."""
    x = inputs[0]
    axes = _positive_axes(spec, x.shape)
    inv_norm = jax.lax.rsqrt(jnp.sum(jnp.square(x), axes, keepdims=True))
    return [x * jnp.minimum(inv_norm, 1.0 / 1e-12)]


def _rms_init(spec: s.RMSNormalization, key: Array, shapes: list[Shape]) -> LayerWeights:
    sizes = _known_sizes(spec, shapes[0], _positive_axes(spec, shapes[0]))
    return LayerWeights({"scale": jnp.ones(sizes)})


def _rms_apply(
    spec: s.RMSNormalization, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = scale * x / sqrt(mean(x^2) + epsilon) over `axis`, per sample."""
    x = inputs[0]
    dtype = x.dtype
    x = x.astype(_compute_dtype(x))
    axes = _positive_axes(spec, x.shape)
    rrms = jax.lax.rsqrt(jnp.mean(jnp.square(x), axes, keepdims=True) + spec.epsilon)
    scale = _broadcast(params["scale"].astype(x.dtype), x.ndim, axes)
    return [(x * rrms * scale).astype(dtype)]


_AFFINE = regularized(gamma="gamma", beta="beta")
LOWERINGS: list[Lowering[Any]] = [
    # BatchNormalization honours a mask in its training moments; all but RMSNormalization
    # (which Keras does not mark `supports_masking`) pass the mask on, as Keras does.
    Lowering(
        s.BatchNormalization,
        _same_shape,
        _bn_apply,
        _bn_init,
        mask="propagate",
        governs=_AFFINE,
        precision=FLOAT32_WEIGHTS,
    ),
    Lowering(
        s.LayerNormalization,
        _same_shape,
        _ln_apply,
        _ln_init,
        mask="propagate",
        governs=_AFFINE,
        precision=UNCAST,
    ),
    Lowering(
        s.GroupNormalization,
        _gn_shape,
        _gn_apply,
        _gn_init,
        mask="propagate",
        governs=_AFFINE,
        precision=UNCAST,
    ),
    Lowering(s.UnitNormalization, _same_shape, _unit_apply, mask="propagate"),
    Lowering(s.RMSNormalization, _same_shape, _rms_apply, _rms_init),
]
