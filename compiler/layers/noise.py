"""Lowerings of the noise layers: identity at inference; in training, random numbers come from
the per-node rng of the apply call (the same rng gives the same noise)."""

from __future__ import annotations

import math
from typing import Any

from kspec.compiler.deferred import jax, jnp
from kspec.compiler.dropout import dropped, keep_mask
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    Lowering,
    Shape,
    Weights,
    expect_inputs,
    expect_rank,
    format_shape,
    same_shape,
)
from kspec.errors import ShapeError
from kspec.schemas.base import LayerSpec
from kspec.schemas.layers import noise as s

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _rng(spec: LayerSpec, call: LayerCall) -> Array:
    rng = call.need_rng(type(spec).__name__)
    return rng if spec.seed is None else jax.random.fold_in(rng, spec.seed)


def _gaussian_noise(
    spec: s.GaussianNoise, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Training: y = x + stddev * N(0, 1)"""
    (x,) = inputs
    if not call.training or spec.stddev == 0:
        return [x]
    return [x + spec.stddev * jax.random.normal(_rng(spec, call), x.shape, x.dtype)]


def _gaussian_dropout(
    spec: s.GaussianDropout, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Training: y = x * (1 + sqrt(rate / (1 - rate)) * N(0, 1))"""
    (x,) = inputs
    if not call.training or spec.rate == 0:
        return [x]
    stddev = math.sqrt(spec.rate / (1.0 - spec.rate))
    return [x * (1.0 + stddev * jax.random.normal(_rng(spec, call), x.shape, x.dtype))]


def _noise_shape(noise_shape: list[int | None] | None, shape: Shape) -> Shape:
    if noise_shape is None:
        return shape
    fits = len(noise_shape) == len(shape) and all(
        n in (None, 1) or d is None or n == d for n, d in zip(noise_shape, shape, strict=True)
    )
    if not fits:
        raise ShapeError(
            f"noise_shape {noise_shape} does not broadcast to the input shape "
            f"{format_shape(shape)} (batch axis included)"
        )
    return tuple(d if n is None else n for n, d in zip(noise_shape, shape, strict=True))


def _alpha_dropout_shape(spec: s.AlphaDropout, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    (shape,) = same_shape(spec, shapes, env)
    _noise_shape(spec.noise_shape, shape)
    return [shape]


def _alpha_dropout(
    spec: s.AlphaDropout, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Training: x' = x where kept else -alpha*scale; y = a * x' + b, with
    a = ((1 - rate) * (1 + rate * alpha'^2)) ** -0.5 and b = -a * alpha' * rate."""
    (x,) = inputs
    if not call.training or spec.rate == 0:
        return [x]
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    shape = _noise_shape(spec.noise_shape, x.shape)
    packed = call.env.lowering.packed_dropout_masks()
    kept = keep_mask(_rng(spec, call), 1.0 - spec.rate, shape, packed)
    a = ((1 - spec.rate) * (1 + spec.rate * alpha_p**2)) ** -0.5
    b = -a * alpha_p * spec.rate
    return [a * jnp.where(kept, x, jnp.asarray(alpha_p, x.dtype)) + b]


# SpatialDropout1D/2D/3D: one implementation by rank -------------------------------------------


def _channel_axis(spec: s.SpatialDropout) -> int:
    return 1 if getattr(spec, "data_format", "channels_last") == "channels_first" else -1


def _spatial_shape(spec: s.SpatialDropout, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    expect_rank(spec, shapes[0], spec.rank + 2, exactly=True)
    return [shapes[0]]


def _spatial_dropout(
    spec: s.SpatialDropout, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Training: each (sample, channel) is kept with probability 1 - rate over all its
    positions, and scaled by 1/(1 - rate)."""
    (x,) = inputs
    if not call.training or spec.rate == 0:
        return [x]
    axis = _channel_axis(spec) % x.ndim
    shape = tuple(d if i in (0, axis) else 1 for i, d in enumerate(x.shape))
    return [
        dropped(x, spec.rate, _rng(spec, call), call.env.lowering.packed_dropout_masks(), shape)
    ]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(s.GaussianNoise, same_shape, _gaussian_noise, mask="propagate"),
    Lowering(s.GaussianDropout, same_shape, _gaussian_dropout, mask="propagate"),
    Lowering(s.AlphaDropout, _alpha_dropout_shape, _alpha_dropout, mask="propagate"),
    *(
        Lowering(cls, _spatial_shape, _spatial_dropout, mask="propagate")
        for cls in (s.SpatialDropout1D, s.SpatialDropout2D, s.SpatialDropout3D)
    ),
]
