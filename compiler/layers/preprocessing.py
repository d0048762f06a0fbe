"""Lowerings of the preprocessing layers (inference semantics of Keras 3's
`keras/src/layers/preprocessing/`: `rescaling.py`, `normalization.py`,
`image_preprocessing/resizing.py` and `center_crop.py` on the JAX backend)."""

from __future__ import annotations

from typing import Any

from kspec.compiler.deferred import jax, jnp
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    expect_inputs,
    expect_rank,
    format_shape,
    same_shape,
)
from kspec.errors import ShapeError
from kspec.schemas.layers import preprocessing as s

KERAS_EPSILON = 1e-7
"""`keras.backend.epsilon()`: the floor of Normalization's standard deviation."""


def _on_last_axis(value: float | list[float], ndim: int) -> Array:
    """A scalar, or a per-channel list broadcast explicitly over the last axis."""
    array = jnp.asarray(value, jnp.float32)
    return array if array.ndim == 0 else array.reshape((1,) * (ndim - 1) + array.shape)


# Rescaling -----------------------------------------------------------------------------------


def _rescaling_apply(
    spec: s.Rescaling, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = x * scale + offset"""
    x = inputs[0].astype(jnp.float32)
    return [x * _on_last_axis(spec.scale, x.ndim) + _on_last_axis(spec.offset, x.ndim)]


# Normalization -------------------------------------------------------------------------------


def _kept_axes(spec: s.Normalization, shape: Shape) -> tuple[int, ...]:
    axes = [] if spec.axis is None else [spec.axis] if isinstance(spec.axis, int) else spec.axis
    ndim = len(shape)
    if any(a < -ndim or a >= ndim for a in axes):
        raise ShapeError(
            "All `axis` values must be in the range [-ndim, ndim). Received inputs with "
            f"ndim={ndim}, while axis={spec.axis}"
        )
    kept = tuple(sorted(a % ndim for a in axes))
    if any(shape[d] is None for d in kept):
        raise ShapeError(
            f"All `axis` values to be kept must have a known shape. Received axis="
            f"{spec.axis}, inputs.shape={format_shape(shape)}"
        )
    return kept


def _normalization_shape(spec: s.Normalization, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    _kept_axes(spec, shapes[0])
    return [shapes[0]]


def _normalization_init(spec: s.Normalization, key: Array, shapes: list[Shape]) -> LayerWeights:
    if spec.mean is not None:
        return LayerWeights()
    size = tuple(shapes[0][d] for d in _kept_axes(spec, shapes[0]))
    state = {"mean": jnp.zeros(size), "variance": jnp.ones(size), "count": jnp.zeros((), jnp.int32)}
    return LayerWeights({}, state)


def _moments(spec: s.Normalization, x: Array, call: LayerCall) -> tuple[Array, Array]:
    """Mean and variance shaped to broadcast over `x` (Keras' `_broadcast_shape`): given
    values aligned to the kept axes from the right, else the layer's state."""
    kept = _kept_axes(spec, x.shape)
    target = tuple(x.shape[d] if d in kept else 1 for d in range(x.ndim))
    if spec.mean is None:
        return call.state["mean"].reshape(target), call.state["variance"].reshape(target)
    out = []
    for value in (spec.mean, spec.variance):
        array = jnp.asarray(value, jnp.float32)
        expanded = [1] * x.ndim
        for i in range(1, array.ndim + 1):
            expanded[kept[-i]] = array.shape[-i]
        out.append(jnp.broadcast_to(array.reshape(expanded), target))
    return out[0], out[1]


def _normalization_apply(
    spec: s.Normalization, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = (x - mean) / max(sqrt(variance), eps); inverted: y = mean + x * max(...)"""
    x = inputs[0].astype(jnp.float32)
    mean, variance = _moments(spec, x, call)
    std = jnp.maximum(jnp.sqrt(variance), KERAS_EPSILON)
    return [mean + x * std if spec.invert else (x - mean) / std]


# Resizing and CenterCrop ---------------------------------------------------------------------


def _image_axes(spec: s.Resizing | s.CenterCrop, shape: Shape) -> tuple[int, int]:
    expect_rank(spec, shape, 4, exactly=True)
    return (2, 3) if spec.data_format == "channels_first" else (1, 2)


def _resized(spec: s.Resizing | s.CenterCrop, shape: Shape) -> Shape:
    h, w = _image_axes(spec, shape)
    out = list(shape)
    out[h], out[w] = spec.height, spec.width
    return tuple(out)


def _resizing_shape(spec: s.Resizing, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    return [_resized(spec, shapes[0])]


def _resizing_apply(
    spec: s.Resizing, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    x = inputs[0].astype(jnp.float32)
    size = _resized(spec, x.shape)
    return [jax.image.resize(x, size, method=spec.interpolation, antialias=spec.antialias)]


def _crop_shape(spec: s.CenterCrop, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    h, w = _image_axes(spec, shapes[0])
    for axis, want in ((h, spec.height), (w, spec.width)):
        have = shapes[0][axis]
        if have is None or have < want:
            raise ShapeError(
                f"CenterCrop to ({spec.height}, {spec.width}) needs known image sizes at least "
                f"as large (Keras resizes smaller ones; kspec does not yet). Received: "
                f"shape={format_shape(shapes[0])}"
            )
    return [_resized(spec, shapes[0])]


def _crop_apply(
    spec: s.CenterCrop, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    x = inputs[0]
    h, w = _image_axes(spec, x.shape)
    index = [slice(None)] * x.ndim
    for axis, want in ((h, spec.height), (w, spec.width)):
        start = (x.shape[axis] - want) // 2
        index[axis] = slice(start, start + want)
    return [x[tuple(index)].astype(jnp.float32)]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(s.Rescaling, same_shape, _rescaling_apply, mask="propagate"),
    Lowering(
        s.Normalization,
        _normalization_shape,
        _normalization_apply,
        _normalization_init,
        mask="propagate",
    ),
    Lowering(s.Resizing, _resizing_shape, _resizing_apply),
    Lowering(s.CenterCrop, _crop_shape, _crop_apply),
]
