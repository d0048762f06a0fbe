"""Lowerings of the advanced activation layers: shape rule, init and apply side by side."""

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
    format_shape,
    regularized,
    same_shape,
)
from kspec.errors import ShapeError
from kspec.schemas.layers import activations as s


def _relu(spec: s.ReLU, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
    """Keras 3's `relu(x, negative_slope, max_value, threshold)`, term by term."""
    (x,) = inputs
    if spec.negative_slope and spec.max_value is None and spec.threshold == 0:
        return [jax.nn.leaky_relu(x, spec.negative_slope)]
    zero = jnp.zeros((), x.dtype)
    y = jnp.where(x > spec.threshold, x, zero) if spec.threshold else jax.nn.relu(x)
    if spec.max_value is not None:
        y = jnp.clip(y, 0.0, spec.max_value)
    if spec.negative_slope:
        y = y - spec.negative_slope * jax.nn.relu(spec.threshold - x)
    return [y]


def _leaky_relu(
    spec: s.LeakyReLU, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    return [jax.nn.leaky_relu(inputs[0], spec.negative_slope)]


def _elu(spec: s.ELU, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
    return [jax.nn.elu(inputs[0], spec.alpha)]


def _thresholded_relu(
    spec: s.ThresholdedReLU, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = x if x > theta else 0"""
    (x,) = inputs
    return [jnp.where(x > spec.theta, x, jnp.zeros((), x.dtype))]


# PReLU ----------------------------------------------------------------------------------------


def _alpha_shape(spec: s.PReLU, shape: Shape) -> tuple[int, ...]:
    """The input shape without batch, 1 on `shared_axes` (1-based, batch excluded)."""
    shared = set(spec.shared_axes or [])
    if any(axis >= len(shape) for axis in shared):
        raise ShapeError(
            f"PReLU shared_axes={spec.shared_axes} name axes the input does not have. "
            f"Received: shape={format_shape(shape)}"
        )
    alpha = [1 if i in shared else d for i, d in enumerate(shape) if i > 0]
    if None in alpha:
        raise ShapeError(
            "PReLU needs known sizes on the axes that are not shared (or list them in "
            f"shared_axes). Received: shape={format_shape(shape)}"
        )
    return tuple(alpha)  # type: ignore[arg-type]


def _prelu_shape(spec: s.PReLU, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    (shape,) = same_shape(spec, shapes, env)
    _alpha_shape(spec, shape)
    return [shape]


def _prelu_init(spec: s.PReLU, key: Array, shapes: list[Shape]) -> LayerWeights:
    return LayerWeights(
        {"alpha": initialize(spec.alpha_initializer, key, _alpha_shape(spec, shapes[0]))}
    )


def _prelu(spec: s.PReLU, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
    """y = relu(x) - alpha * relu(-x)"""
    (x,) = inputs
    return [jax.nn.relu(x) - params["alpha"][None] * jax.nn.relu(-x)]


# Softmax --------------------------------------------------------------------------------------


def _mask_fits(mask: Shape, shape: Shape) -> bool:
    """Keras: the mask is aligned on the right of the input; each size is 1 or the same."""
    if len(mask) > len(shape):
        return False
    return all(m in (1, d) or None in (m, d) for m, d in zip(mask[::-1], shape[::-1], strict=False))


def _mask_error(mask: Shape, shape: Shape) -> ShapeError:
    return ShapeError(
        "Softmax's mask must broadcast to its input (aligned on the right, sizes 1 or equal). "
        f"Received: input shape={format_shape(shape)}, mask shape={format_shape(mask)}"
    )


def _softmax_shape(spec: s.Softmax, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    if len(shapes) not in (1, 2):
        raise ShapeError(
            f"Softmax takes 1 input, or 2 (input, mask). Received: {len(shapes)} inputs"
        )
    if len(shapes) == 2 and not _mask_fits(shapes[1], shapes[0]):
        raise _mask_error(shapes[1], shapes[0])
    return [shapes[0]]


def _softmax(spec: s.Softmax, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
    """y = softmax(where(mask, x, -1e9), axis), then 0 where masked (Keras 3)."""
    x = inputs[0]
    mask = inputs[1] if len(inputs) == 2 else call.masks[0] if call.masks else None
    axis = tuple(spec.axis) if isinstance(spec.axis, list) else spec.axis
    if mask is None:
        return [jax.nn.softmax(x, axis=axis)]
    if not _mask_fits(mask.shape, x.shape):
        raise _mask_error(mask.shape, x.shape)
    keep = mask if mask.dtype == jnp.bool_ else mask > 0.5
    keep = keep.reshape((1,) * (x.ndim - keep.ndim) + keep.shape)
    big_negative = -1e9 if x.dtype == jnp.float32 or x.dtype == jnp.float64 else -3e4
    y = jax.nn.softmax(jnp.where(keep, x, jnp.asarray(big_negative, x.dtype)), axis=axis)
    return [jnp.where(keep, y, jnp.zeros((), y.dtype))]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(s.ReLU, same_shape, _relu, mask="propagate"),
    Lowering(s.LeakyReLU, same_shape, _leaky_relu, mask="propagate"),
    Lowering(
        s.PReLU,
        _prelu_shape,
        _prelu,
        _prelu_init,
        mask="propagate",
        governs=regularized(alpha="alpha"),
    ),
    Lowering(s.ELU, same_shape, _elu, mask="propagate"),
    Lowering(s.ThresholdedReLU, same_shape, _thresholded_relu, mask="propagate"),
    Lowering(s.Softmax, _softmax_shape, _softmax, mask="propagate"),
]
