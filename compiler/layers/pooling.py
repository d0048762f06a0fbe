"""Lowerings of the pooling layers.

Max and average pooling are one implementation over `lax.reduce_window` for every rank and
layout (no transposes); global pooling is one reduction over the spatial axes.
"""

from __future__ import annotations

import math
from typing import Any

from kspec.compiler.deferred import jnp, lax, np
from kspec.compiler.layers.spatial import (
    full_pairs,
    join_shape,
    output_length,
    padding_pairs,
    per_axis,
    split_shape,
    window,
)
from kspec.compiler.layers.window_max import block_max, fits_blocks, window_max
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    Lowering,
    Shape,
    Weights,
    drop_mask,
    expect_inputs,
    expect_rank,
    format_shape,
)
from kspec.errors import ShapeError
from kspec.schemas.layers import pooling as s


def _spatial_input(
    spec: s.Pooling | s.GlobalPooling, shapes: list[Shape]
) -> tuple[Shape, int | None]:
    expect_inputs(spec, shapes, 1)
    expect_rank(spec, shapes[0], spec.rank + 2, exactly=True)
    return split_shape(shapes[0], spec.data_format)


def _spatial_axes(spec: s.Pooling | s.GlobalPooling) -> tuple[int, ...]:
    first = 2 if spec.data_format == "channels_first" else 1
    return tuple(range(first, first + spec.rank))


# Windowed pooling -----------------------------------------------------------------------------


def _window(spec: s.Pooling) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(pool_size, strides) per spatial axis; strides default to pool_size."""
    pool = per_axis(spec.pool_size, spec.rank)
    return pool, per_axis(spec.strides if spec.strides is not None else pool, spec.rank)


def _pool_shape(spec: s.Pooling, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    spatial, channels = _spatial_input(spec, shapes)
    pool, strides = _window(spec)
    out = [
        output_length(n, k, st, spec.padding)
        for n, k, st in zip(spatial, pool, strides, strict=True)
    ]
    if any(o is not None and o <= 0 for o in out):
        raise ShapeError(
            f"{type(spec).__name__}: pool_size {pool} is larger than the input with "
            f"padding='valid'. Received: shape={format_shape(shapes[0])}"
        )
    return [join_shape(shapes[0][0], out, channels, spec.data_format)]


def _pool_apply(
    spec: s.Pooling, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """max: y = max over each window; average: y = sum over window / count of real elements"""
    (x,) = inputs
    pool, strides = _window(spec)
    spatial = [x.shape[a] for a in _spatial_axes(spec)]
    pads = full_pairs(padding_pairs(spatial, pool, strides, spec.padding), spec.data_format)
    dims, steps = window(pool, spec.data_format), window(strides, spec.data_format)
    if spec.reduce == "max":
        if call.env.lowering.reshape_max_pool() and fits_blocks(
            tuple(spatial), pool, strides, spec.padding
        ):
            return [block_max(x, _spatial_axes(spec), pool)]
        return [window_max(x, dims, steps, pads)]
    total = lax.reduce_window(x, np.array(0, x.dtype), lax.add, dims, steps, pads)
    if spec.padding == "valid":
        return [total / math.prod(pool)]
    # "same": windows at the border hold fewer real elements; count them once (size-1
    # batch and channel axes), a constant XLA folds.
    ones = jnp.ones(window(spatial, spec.data_format), x.dtype)
    count = lax.reduce_window(ones, np.array(0, x.dtype), lax.add, dims, steps, pads)
    return [total / count]


# Global pooling -------------------------------------------------------------------------------


def _global_shape(spec: s.GlobalPooling, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    _, channels = _spatial_input(spec, shapes)
    if spec.keepdims:
        return [join_shape(shapes[0][0], (1,) * spec.rank, channels, spec.data_format)]
    return [(shapes[0][0], channels)]


def _global_apply(
    spec: s.GlobalPooling, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = max or mean of x over the spatial axes (the unmasked steps only, given a mask)"""
    (x,) = inputs
    axes = _spatial_axes(spec)
    if spec.reduce == "max":
        return [jnp.max(x, axis=axes, keepdims=spec.keepdims)]
    mask = call.masks[0] if call.masks else None
    if mask is None or spec.rank != 1:
        return [jnp.mean(x, axis=axes, keepdims=spec.keepdims)]
    # mask: (batch, steps) -> broadcastable over the features axis in either layout
    keep = jnp.expand_dims(mask.astype(bool), 2 if spec.data_format != "channels_first" else 1)
    total = jnp.sum(jnp.where(keep, x, jnp.zeros((), x.dtype)), axis=axes, keepdims=spec.keepdims)
    count = jnp.sum(keep.astype(x.dtype), axis=axes, keepdims=spec.keepdims)
    return [total / count]


_WINDOWED = (
    s.MaxPooling1D, s.MaxPooling2D, s.MaxPooling3D,
    s.AveragePooling1D, s.AveragePooling2D, s.AveragePooling3D,
)  # fmt: skip
_GLOBAL = (
    s.GlobalMaxPooling1D, s.GlobalMaxPooling2D, s.GlobalMaxPooling3D,
    s.GlobalAveragePooling1D, s.GlobalAveragePooling2D, s.GlobalAveragePooling3D,
)  # fmt: skip

LOWERINGS: list[Lowering[Any]] = [
    *(Lowering(c, _pool_shape, _pool_apply, compute_mask=drop_mask) for c in _WINDOWED),
    *(
        Lowering(
            c,
            _global_shape,
            _global_apply,
            compute_mask=drop_mask,
            # Keras: only GlobalAveragePooling1D honours a mask (the mean of unmasked steps).
            mask="consume" if c is s.GlobalAveragePooling1D else "error",
        )
        for c in _GLOBAL
    ),
]
