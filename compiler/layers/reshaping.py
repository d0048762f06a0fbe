"""Lowerings of the spatial reshaping layers: cropping, zero padding, upsampling.

Each concept is one rank-generic implementation (1D/2D/3D differ only in `spec.rank`), working
in the layer's own layout: no transposes for channels_first.
"""

from __future__ import annotations

from typing import Any

from kspec.compiler.deferred import jax, jnp
from kspec.compiler.layers.spatial import full_pairs, join_shape, per_axis, split_shape
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
from kspec.schemas.fields import DataFormat
from kspec.schemas.layers import reshaping as s

_UpSampling = s.UpSampling1D | s.UpSampling2D | s.UpSampling3D
_Spatial = s.CroppingOrPadding | _UpSampling


def _spatial_input(spec: _Spatial, shapes: list[Shape]) -> tuple[Shape, int | None, DataFormat]:
    """Check one input of rank `spec.rank + 2`; return (spatial sizes, channels, layout)."""
    expect_inputs(spec, shapes, 1)
    expect_rank(spec, shapes[0], spec.rank + 2, exactly=True)
    data_format = getattr(spec, "data_format", "channels_last")
    spatial, channels = split_shape(shapes[0], data_format)
    return spatial, channels, data_format


def _spatial_axes(spec: _Spatial, ndim: int) -> range:
    """Axes of the spatial dims in a batched array."""
    first = 2 if getattr(spec, "data_format", "channels_last") == "channels_first" else 1
    return range(first, first + spec.rank)


# Cropping -------------------------------------------------------------------------------------


def _cropping_shape(spec: s.CroppingOrPadding, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    spatial, channels, data_format = _spatial_input(spec, shapes)
    out = []
    for n, (lo, hi) in zip(spatial, spec.pairs(), strict=True):
        if n is not None and lo + hi >= n:
            raise ShapeError(
                f"{type(spec).__name__}: cropping must leave at least one element on each "
                f"spatial axis. Received: shape={format_shape(shapes[0])}, "
                f"cropping={spec.pairs()}"
            )
        out.append(None if n is None else n - lo - hi)
    return [join_shape(shapes[0][0], out, channels, data_format)]


def _cropping_apply(
    spec: s.CroppingOrPadding, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = x[:, lo:n-hi, ...] on every spatial axis"""
    (x,) = inputs
    index = [slice(None)] * x.ndim
    for axis, (lo, hi) in zip(_spatial_axes(spec, x.ndim), spec.pairs(), strict=True):
        index[axis] = slice(lo, x.shape[axis] - hi)
    return [x[tuple(index)]]


# Zero padding ---------------------------------------------------------------------------------


def _padding_shape(spec: s.CroppingOrPadding, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    spatial, channels, data_format = _spatial_input(spec, shapes)
    out = [
        None if n is None else n + lo + hi
        for n, (lo, hi) in zip(spatial, spec.pairs(), strict=True)
    ]
    return [join_shape(shapes[0][0], out, channels, data_format)]


def _padding_apply(
    spec: s.CroppingOrPadding, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = x with `lo` zeros before and `hi` zeros after each spatial axis"""
    (x,) = inputs
    return [jnp.pad(x, full_pairs(list(spec.pairs()), spec.data_format))]


# Upsampling -----------------------------------------------------------------------------------


def _upsampling_shape(spec: _UpSampling, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    spatial, channels, data_format = _spatial_input(spec, shapes)
    sizes = per_axis(spec.size, spec.rank)
    out = [None if n is None else n * f for n, f in zip(spatial, sizes, strict=True)]
    return [join_shape(shapes[0][0], out, channels, data_format)]


def _upsampling_apply(
    spec: _UpSampling, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """nearest: repeat each entry `size` times per spatial axis; otherwise interpolate."""
    (x,) = inputs
    axes = _spatial_axes(spec, x.ndim)
    sizes = per_axis(spec.size, spec.rank)
    method = getattr(spec, "interpolation", "nearest")
    if method == "nearest":
        for axis, factor in zip(axes, sizes, strict=True):
            x = jnp.repeat(x, factor, axis=axis)
        return [x]
    # jax.image.resize only resamples the axes whose size changes, so batch and channels stay
    # put in either layout; half-pixel centres and no antialiasing, as Keras' resize.
    shape = list(x.shape)
    for axis, factor in zip(axes, sizes, strict=True):
        shape[axis] *= factor
    return [jax.image.resize(x, tuple(shape), method=method, antialias=False)]


LOWERINGS: list[Lowering[Any]] = [
    *(Lowering(c, _cropping_shape, _cropping_apply, compute_mask=drop_mask)
      for c in (s.Cropping1D, s.Cropping2D, s.Cropping3D)),
    *(Lowering(c, _padding_shape, _padding_apply, compute_mask=drop_mask)
      for c in (s.ZeroPadding1D, s.ZeroPadding2D, s.ZeroPadding3D)),
    *(Lowering(c, _upsampling_shape, _upsampling_apply, compute_mask=drop_mask)
      for c in (s.UpSampling1D, s.UpSampling2D, s.UpSampling3D)),
]  # fmt: skip
