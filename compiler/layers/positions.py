"""Lowerings of the keras-hub position and embedding layers (part of the transformer
family): PositionEmbedding, SinePositionEncoding, RotaryEmbedding, ReversibleEmbedding,
ClassToken. Sources: keras-hub `layers/modeling/position_embedding.py`,
`sine_position_encoding.py`, `rotary_embedding.py`; Keras `layers/core/reversible_embedding.py`;
keras-hub `models/vit/vit_layers.py` (`ViTPatchingAndEmbedding.class_token`)."""

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
    expect_rank,
    format_shape,
    regularized,
)
from kspec.errors import ShapeError
from kspec.schemas.base import LayerSpec
from kspec.schemas.layers import transformer as s


def _features(spec: LayerSpec, shapes: list[Shape]) -> Shape:
    """The one input, of rank >= 3 with a known feature size."""
    layer = type(spec).__name__
    expect_inputs(spec, shapes, 1)
    (shape,) = shapes
    expect_rank(spec, shape, 3)
    if shape[-1] is None:
        raise ShapeError(f"{layer} needs a known feature size. Received: {format_shape(shape)}")
    return shape


def _position_shape(spec: s.PositionEmbedding, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    shape = _features(spec, shapes)
    if shape[-2] is not None and shape[-2] > spec.sequence_length:
        raise ShapeError(
            f"PositionEmbedding embeds at most sequence_length={spec.sequence_length} "
            f"positions. Received: shape={format_shape(shape)}"
        )
    return [shape]


def _position_init(spec: s.PositionEmbedding, key: Array, shapes: list[Shape]) -> LayerWeights:
    size = (spec.sequence_length, shapes[0][-1])
    return LayerWeights(params={"embeddings": initialize(spec.initializer, key, size)})


def _position_apply(
    spec: s.PositionEmbedding, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = embeddings[:time], broadcast to the input's shape."""
    x = inputs[0]
    table = params["embeddings"][: x.shape[-2]].astype(x.dtype)
    return [jnp.broadcast_to(table, x.shape)]


def _same(spec: Any, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    return [_features(spec, shapes)]


def _sine_apply(
    spec: s.SinePositionEncoding, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y[t, 2i] = sin(t / w^(2i/d)), y[t, 2i+1] = cos(t / w^(2i/d)), broadcast to the input."""
    x = inputs[0]
    length, hidden = x.shape[-2], x.shape[-1]
    positions = jnp.arange(length, dtype=x.dtype)
    timescales = jnp.power(
        jnp.asarray(1.0 / spec.max_wavelength, x.dtype),
        (2 * (jnp.arange(hidden) // 2)).astype(x.dtype) / hidden,
    )
    angles = positions[:, None] * timescales[None, :]
    cos_mask = (jnp.arange(hidden) % 2).astype(x.dtype)[None, :]
    encoding = jnp.sin(angles) * (1 - cos_mask) + jnp.cos(angles) * cos_mask
    return [jnp.broadcast_to(encoding, x.shape)]


def _rotary_axes(spec: s.RotaryEmbedding, rank: int) -> tuple[int, int]:
    seq, feat = (a + rank if a < 0 else a for a in (spec.sequence_axis, spec.feature_axis))
    if not (0 < seq < rank and 0 < feat < rank) or seq == feat:
        raise ShapeError(
            f"RotaryEmbedding: sequence_axis={spec.sequence_axis} and feature_axis="
            f"{spec.feature_axis} must be different non-batch axes of a rank-{rank} input"
        )
    return seq, feat


def _rotary_shape(spec: s.RotaryEmbedding, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    (shape,) = shapes
    _, feat = _rotary_axes(spec, len(shape))
    if shape[feat] is None or shape[feat] % 2:
        raise ShapeError(
            f"Rotary dimension must be even and known. Received: shape={format_shape(shape)}"
        )
    return [shape]


def _rotary_apply(
    spec: s.RotaryEmbedding, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = x * cos(t f) + rotate_half(x) * sin(t f), f = w^(-2i/d) / scaling_factor."""
    seq, feat = _rotary_axes(spec, inputs[0].ndim)
    x = jnp.moveaxis(inputs[0], (feat, seq), (-1, 1))
    dim = x.shape[-1]
    inverse = jnp.power(jnp.float32(spec.max_wavelength), -jnp.arange(0, dim, 2) / dim)
    inverse = inverse / jnp.float32(spec.scaling_factor)
    freq = jnp.arange(x.shape[1], dtype=jnp.float32)[:, None] * inverse[None, :]
    angles = jnp.concatenate([freq, freq], axis=-1)  # (time, dim)
    angles = angles.reshape((1, x.shape[1]) + (1,) * (x.ndim - 3) + (dim,))
    x1, x2 = jnp.split(x, 2, axis=-1)
    rotated = jnp.concatenate([-x2, x1], axis=-1)
    y = x * jnp.cos(angles).astype(x.dtype) + rotated * jnp.sin(angles).astype(x.dtype)
    return [jnp.moveaxis(y, (-1, 1), (feat, seq))]


def _reversible_shape(
    spec: s.ReversibleEmbedding, shapes: list[Shape], env: BuildEnv
) -> list[Shape]:
    ids, hidden = (list(shapes) + [None, None])[:2]
    if (ids is None) == (hidden is None):
        raise ShapeError(
            "ReversibleEmbedding takes one input: `inputs` (ids -> vectors) or `reverse` "
            "(vectors -> logits over the vocabulary)"
        )
    if ids is not None:
        return [(*ids, spec.output_dim)]
    assert hidden is not None
    if hidden[-1] != spec.output_dim:
        raise ShapeError(
            f"ReversibleEmbedding in reverse expects vectors of size {spec.output_dim}. "
            f"Received: shape={format_shape(hidden)}"
        )
    return [(*hidden[:-1], spec.input_dim)]


def _reversible_init(spec: s.ReversibleEmbedding, key: Array, shapes: list[Shape]) -> LayerWeights:
    table_key, reverse_key = jax.random.split(key)
    shape = (spec.input_dim, spec.output_dim)
    params = {"embeddings": initialize(spec.embeddings_initializer, table_key, shape)}
    if not spec.tie_weights:
        transposed = (spec.output_dim, spec.input_dim)
        params["reverse_embeddings"] = initialize(
            spec.embeddings_initializer, reverse_key, transposed
        )
    return LayerWeights(params=params)


def _reversible_apply(
    spec: s.ReversibleEmbedding, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Forward: y = embeddings[ids]. Reverse: logits = x @ embeddings^T (or the untied
    `reverse_embeddings`), soft-capped with `logit_soft_cap`."""
    ids, hidden = (list(inputs) + [None, None])[:2]
    if ids is not None:  # as Embedding: ids outside [0, input_dim) give zero vectors
        ids = ids.astype(jnp.int32)
        inside = (ids >= 0) & (ids < spec.input_dim)
        rows = jnp.take(params["embeddings"], jnp.clip(ids, 0, spec.input_dim - 1), axis=0)
        return [jnp.where(inside[..., None], rows, jnp.zeros((), rows.dtype))]
    assert hidden is not None
    kernel = params["embeddings"].T if spec.tie_weights else params["reverse_embeddings"]
    logits = hidden @ kernel
    if spec.logit_soft_cap is not None:
        cap = spec.logit_soft_cap
        logits = jnp.tanh(logits / cap) * cap
    return [logits]


def _reversible_mask(
    spec: s.ReversibleEmbedding, masks: list[Array | None], inputs: list[Array]
) -> list[Array | None]:
    ids = inputs[0] if inputs else None
    if ids is not None:
        return [ids != 0 if spec.mask_zero else None]
    return [masks[1] if len(masks) > 1 else None]


def _token_shape(spec: s.ClassToken, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    shape = _features(spec, shapes)
    expect_rank(spec, shape, 3, exactly=True)
    return [(shape[0], None if shape[1] is None else shape[1] + 1, shape[2])]


def _token_init(spec: s.ClassToken, key: Array, shapes: list[Shape]) -> LayerWeights:
    token = initialize(spec.initializer, key, (1, 1, shapes[0][-1]))
    return LayerWeights(params={"class_token": token})


def _token_apply(
    spec: s.ClassToken, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = concat([class_token] * batch, x) along time."""
    x = inputs[0]
    token = jnp.broadcast_to(params["class_token"].astype(x.dtype), (x.shape[0], 1, x.shape[2]))
    return [jnp.concatenate([token, x], axis=1)]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(s.PositionEmbedding, _position_shape, _position_apply, _position_init,
             mask="drop", compute_mask=lambda spec, masks, xs: [None]),
    Lowering(s.SinePositionEncoding, _same, _sine_apply,
             mask="drop", compute_mask=lambda spec, masks, xs: [None]),
    Lowering(s.RotaryEmbedding, _rotary_shape, _rotary_apply, mask="propagate"),
    Lowering(s.ReversibleEmbedding, _reversible_shape, _reversible_apply, _reversible_init,
             compute_mask=_reversible_mask, mask="consume",
             masks_output=lambda spec, masked: [spec.mask_zero or (len(masked) > 1 and masked[1])],
             governs=regularized()),
    Lowering(s.ClassToken, _token_shape, _token_apply, _token_init),
]  # fmt: skip
