"""Lowerings of the `keras.applications` helper layers: LayerScale and CustomScaleLayer."""

from __future__ import annotations

from typing import Any

from kspec.compiler.deferred import jnp
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
)
from kspec.errors import ShapeError
from kspec.schemas.layers import applications as s


def _scale_shape(spec: s.LayerScale, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    if shapes[0][-1] != spec.projection_dim:
        raise ShapeError(
            f"LayerScale has projection_dim={spec.projection_dim} but the input has "
            f"{shapes[0][-1]} channels. Received: shape={format_shape(shapes[0])}"
        )
    return [shapes[0]]


def _scale_init(spec: s.LayerScale, key: Array, shapes: list[Shape]) -> LayerWeights:
    return LayerWeights({"gamma": jnp.full((spec.projection_dim,), spec.init_values, jnp.float32)})


def _scale(
    spec: s.LayerScale, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = x * gamma"""
    (x,) = inputs
    return [x * params["gamma"].reshape((1,) * (x.ndim - 1) + (-1,))]


def _sum_shape(spec: s.CustomScaleLayer, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 2)
    if shapes[0] != shapes[1]:
        raise ShapeError(
            "CustomScaleLayer adds two tensors of the same shape. Received: shapes="
            f"{format_shape(shapes[0])} and {format_shape(shapes[1])}"
        )
    return [shapes[0]]


def _sum(
    spec: s.CustomScaleLayer, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = x0 + x1 * scale"""
    x0, x1 = inputs
    return [x0 + x1 * jnp.asarray(spec.scale, x1.dtype)]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(s.LayerScale, _scale_shape, _scale, _scale_init, mask="propagate"),
    Lowering(s.CustomScaleLayer, _sum_shape, _sum),
]
