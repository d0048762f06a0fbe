"""Lowering of Embedding: a table lookup; `mask_zero` makes the mask later layers consume."""

from __future__ import annotations

from typing import Any

from kspec.compiler.deferred import jax, jnp
from kspec.compiler.initializers import initialize
from kspec.compiler.lora import effective_weight, lora_weights
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
from kspec.compiler.precision import UNCAST
from kspec.errors import ShapeError
from kspec.schemas.layers import embedding as s


def _embedding_shape(spec: s.Embedding, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    (shape,) = shapes
    if spec.input_length is not None:
        if len(shape) != 2 or shape[1] not in (None, spec.input_length):
            raise ShapeError(
                f"input_length={spec.input_length} expects ids of shape "
                f"(None, {spec.input_length}). Received: shape={format_shape(shape)}"
            )
        shape = (shape[0], spec.input_length)
    return [(*shape, spec.output_dim)]


def _embedding_init(spec: s.Embedding, key: Array, shapes: list[Shape]) -> LayerWeights:
    table_key, lora_key = jax.random.split(key)
    shape = (spec.input_dim, spec.output_dim)
    embeddings = initialize(spec.embeddings_initializer, table_key, shape)
    return lora_weights(spec, lora_key, "embeddings", embeddings, {}, suffix="embeddings")


def _embedding_apply(
    spec: s.Embedding, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = embeddings[ids]; ids outside [0, input_dim) give zeros."""
    ids = inputs[0].astype(jnp.int32)
    table = effective_weight(spec, params, call, "embeddings", suffix="embeddings")
    inside = (ids >= 0) & (ids < spec.input_dim)
    rows = jnp.take(table, jnp.clip(ids, 0, spec.input_dim - 1), axis=0)
    return [jnp.where(inside[..., None], rows, jnp.zeros((), rows.dtype))]


def _embedding_mask(
    spec: s.Embedding, masks: list[Array | None], inputs: list[Array]
) -> list[Array | None]:
    return [inputs[0] != 0 if spec.mask_zero else None]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(
        s.Embedding,
        _embedding_shape,
        _embedding_apply,
        _embedding_init,
        compute_mask=_embedding_mask,
        masks_output=lambda spec, masked: [spec.mask_zero],
        governs=regularized(embeddings="embeddings"),
        precision=UNCAST,  # Keras: `autocast = False`; the rows leave in the compute dtype
    ),
]
