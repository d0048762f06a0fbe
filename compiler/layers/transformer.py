"""Lowerings of the keras-hub building blocks, following keras-hub's code
(`keras_hub/src/layers/modeling/transformer_encoder.py`, `transformer_decoder.py`,
`transformer_layer_utils.py`, `position_embedding.py`, `sine_position_encoding.py`,
`rotary_embedding.py`, Keras' `layers/core/reversible_embedding.py`, and the class token of
`models/vit/vit_layers.py`). Weight names and order are keras-hub's: the encoder's are
`self_attention_layer/query/kernel`, ..., `self_attention_layer_norm/gamma`, ...
"""

from __future__ import annotations

from typing import Any

from kspec.compiler import attention as att
from kspec.compiler.activations import activation
from kspec.compiler.deferred import jax, jnp
from kspec.compiler.layers.attention import multi_head, padded
from kspec.compiler.layers.positions import LOWERINGS as POSITION_LOWERINGS
from kspec.compiler.layers.projections import head_shapes, projection_weights
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    expect_rank,
    format_shape,
)
from kspec.errors import ShapeError
from kspec.schemas.base import LayerSpec
from kspec.schemas.layers import transformer as s

_FEEDFORWARD = ("feedforward_intermediate_dense", "feedforward_output_dense")


def _sequence(spec: LayerSpec, name: str, shape: Shape | None) -> None:
    """Call argument `name`, when given, is a (batch, steps, features) sequence with known
    features."""
    if shape is None:
        return
    expect_rank(spec, shape, 3, exactly=True)
    if shape[-1] is None:
        raise ShapeError(
            f"{type(spec).__name__}: `{name}` needs a known feature size. "
            f"Received: {name}_shape={format_shape(shape)}"
        )


def _masks_fit(layer: str, seq: Shape, padding: Shape | None, attention: Shape | None,
               keys: Shape) -> None:  # fmt: skip
    if padding is not None and tuple(padding) not in ((seq[0], keys[1]), (None, keys[1])):
        raise ShapeError(
            f"{layer}: a padding mask has shape (batch, {keys[1]}). "
            f"Received: {format_shape(padding)}"
        )
    if attention is not None and (len(attention) != 3 or attention[1:] != (seq[1], keys[1])):
        raise ShapeError(
            f"{layer}: an attention mask has shape (batch, {seq[1]}, {keys[1]}). "
            f"Received: {format_shape(attention)}"
        )


def _heads(spec: Any, hidden: int) -> int:
    if hidden // spec.num_heads == 0:
        raise ShapeError(
            f"Attention `key_dim` computed cannot be zero. The `hidden_dim` value of {hidden} "
            f"has to be equal to or greater than `num_heads` value of {spec.num_heads}."
        )
    return hidden // spec.num_heads


def _encoder_shape(spec: s.TransformerEncoder, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    x, padding, attention = padded(shapes, 3)
    _sequence(spec, "inputs", x)
    _heads(spec, x[-1])
    _masks_fit("TransformerEncoder", x, padding, attention, x)
    return [x]


def _decoder_shape(spec: s.TransformerDecoder, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    x, enc, dec_pad, dec_att, enc_pad, enc_att = padded(shapes, 6)
    _sequence(spec, "decoder_sequence", x)
    _sequence(spec, "encoder_sequence", enc)
    _heads(spec, x[-1])
    _masks_fit("TransformerDecoder", x, dec_pad, dec_att, x)
    if enc is None and (enc_pad or enc_att):
        raise ShapeError("TransformerDecoder: encoder masks need an `encoder_sequence`")
    if enc is not None:
        _masks_fit("TransformerDecoder", x, enc_pad, enc_att, enc)
    return [x]


def _block_init(spec: Any, key: Array, hidden: int, attentions: list[tuple[str, int]],
                ff_norm_first: bool) -> LayerWeights:  # fmt: skip
    """Attention blocks (name, key/value size) each followed by `<name>_layer_norm`... in
    keras-hub's build order; the encoder builds `feedforward_layer_norm` before the dense
    layers, the decoder after them."""
    head = _heads(spec, hidden)
    keys = jax.random.split(key, len(attentions) + 1)
    params: Weights = {}
    for (name, source), k in zip(attentions, keys, strict=False):
        shapes = head_shapes(hidden, source, source, spec.num_heads, head, head, (hidden,))
        params |= projection_weights(spec, k, shapes, prefix=f"{name}/", use_bias=True)
        params |= _norm_weights(f"{name.removesuffix('_layer')}_layer_norm", hidden)
    dense = {
        _FEEDFORWARD[0]: ((hidden, spec.intermediate_dim), (spec.intermediate_dim,)),
        _FEEDFORWARD[1]: ((spec.intermediate_dim, hidden), (hidden,)),
    }
    ff = projection_weights(spec, keys[-1], dense, use_bias=True)
    norm = _norm_weights("feedforward_layer_norm", hidden)
    params |= (norm | ff) if ff_norm_first else (ff | norm)
    return LayerWeights(params=params)


def _norm_weights(name: str, size: int) -> Weights:
    return {f"{name}/gamma": jnp.ones((size,)), f"{name}/beta": jnp.zeros((size,))}


def _encoder_init(spec: s.TransformerEncoder, key: Array, shapes: list[Shape]) -> LayerWeights:
    hidden = shapes[0][-1]
    return _block_init(spec, key, hidden, [("self_attention_layer", hidden)], True)


def _decoder_init(spec: s.TransformerDecoder, key: Array, shapes: list[Shape]) -> LayerWeights:
    x, enc = padded(shapes, 6)[:2]
    blocks = [("self_attention", x[-1])] + ([("cross_attention", enc[-1])] if enc else [])
    return _block_init(spec, key, x[-1], blocks, False)


def _layer_norm(params: Weights, name: str, x: Array, epsilon: float) -> Array:
    """Keras' LayerNormalization over the last axis: `x * inv + (beta - mean * inv)`."""
    mean = jnp.mean(x, -1, keepdims=True)
    var = jnp.var(x, -1, keepdims=True)
    gamma, beta = (
        params[f"{name}/{w}"].reshape((1,) * (x.ndim - 1) + (-1,)) for w in ("gamma", "beta")
    )
    inv = jax.lax.rsqrt(var + epsilon) * gamma
    return x * inv + (beta - mean * inv)


def padding_and_attention(padding: Array | None, attention: Array | None) -> Array | None:
    """keras-hub's `merge_padding_and_attention_mask`: `min(padding[:, None], attention)`."""
    mask = None if padding is None else padding.astype(jnp.int32)[:, None, :]
    if attention is None:
        return mask
    attention = attention.astype(jnp.int32)
    return attention if mask is None else jnp.minimum(mask, attention)


def _residual(
    spec: Any, params: Weights, norm: str, x: Array, branch: Any, call: LayerCall
) -> Array:
    """`norm(x + dropout(branch(x)))`; with `normalize_first`, `x + dropout(branch(norm(x)))`.
    Each residual dropout draws from the call's rng folded with its norm's name."""
    eps = spec.layer_norm_epsilon
    h = branch(_layer_norm(params, norm, x, eps) if spec.normalize_first else x)
    if call.training and spec.dropout > 0.0:
        salt = sum(ord(c) for c in norm)
        rng, packed = call.need_rng(type(spec).__name__), call.env.lowering.packed_dropout_masks()
        h = att.dropout(h, spec.dropout, salt, rng, packed)
    y = x + h
    return y if spec.normalize_first else _layer_norm(params, norm, y, eps)


def _attend(spec: Any, params: Weights, name: str, query: Array, value: Array,
            masks: list[Array | None], mask: Array | None, causal: bool,
            call: LayerCall) -> Array:  # fmt: skip
    """The block's MultiHeadAttention `name` (head size `hidden // num_heads`), fused where
    Keras' would be; `masks` are the query and value masks Keras' MHA reads off its inputs."""
    head = query.shape[-1] // spec.num_heads
    plan = att.AttentionPlan(
        (1,), head, att.fusable(3, head, head, spec.dropout, False), causal, spec.dropout
    )
    inner = LayerCall(call.training, call.rng, masks, call.state, call.env)
    return multi_head(plan, params, [query, value, None, mask], inner, prefix=f"{name}/")[0]


def _feedforward(spec: Any, params: Weights, x: Array) -> Array:
    """`dense(activation(dense(x)))` with keras-hub's feedforward layer names."""
    inner, outer = ((params[f"{n}/kernel"], params[f"{n}/bias"]) for n in _FEEDFORWARD)
    hidden = activation(spec.activation)(att.add_trailing(x @ inner[0], inner[1]))
    return att.add_trailing(hidden @ outer[0], outer[1])


def _encoder_apply(
    spec: s.TransformerEncoder, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """x = norm(x + mha(x, x)); y = norm(x + ffn(x)); masks: keras-hub's padding/attention."""
    x, padding, attention = padded(inputs, 3)
    own = call.masks[0] if call.masks else None
    mask = padding_and_attention(own if padding is None else padding, attention)

    def attend(h: Array) -> Array:
        return _attend(spec, params, "self_attention_layer", h, h, [own, own], mask, False, call)

    x = _residual(spec, params, "self_attention_layer_norm", x, attend, call)
    x = _residual(spec, params, "feedforward_layer_norm", x,
                  lambda h: _feedforward(spec, params, h), call)  # fmt: skip
    return [x]


def _decoder_apply(
    spec: s.TransformerDecoder, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Causal self-attention block, cross-attention block over `encoder_sequence` (if given),
    feedforward block; each residual and normalized as in TransformerEncoder."""
    x, enc, dec_pad, dec_att, enc_pad, enc_att = padded(inputs, 6)
    masks = padded(call.masks, 2)
    self_mask = padding_and_attention(masks[0] if dec_pad is None else dec_pad, dec_att)
    causal = spec.use_causal_mask

    def attend(h: Array) -> Array:
        return _attend(spec, params, "self_attention", h, h, [], self_mask, causal, call)

    x = _residual(spec, params, "self_attention_layer_norm", x, attend, call)
    if enc is not None:
        cross_mask = padding_and_attention(masks[1] if enc_pad is None else enc_pad, enc_att)

        def cross(h: Array) -> Array:
            return _attend(spec, params, "cross_attention", h, enc, [], cross_mask, False, call)

        x = _residual(spec, params, "cross_attention_layer_norm", x, cross, call)
    x = _residual(spec, params, "feedforward_layer_norm", x,
                  lambda h: _feedforward(spec, params, h), call)  # fmt: skip
    return [x]


def _first_mask(spec: Any, masks: list[Array | None], inputs: list[Array]) -> list[Array | None]:
    """keras-hub's blocks support masking: the output carries the sequence's mask."""
    return [masks[0] if masks else None]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(s.TransformerEncoder, _encoder_shape, _encoder_apply, _encoder_init,
             compute_mask=_first_mask, mask="consume",
             masks_output=lambda spec, masked: [bool(masked) and masked[0]]),
    Lowering(s.TransformerDecoder, _decoder_shape, _decoder_apply, _decoder_init,
             compute_mask=_first_mask, mask="consume",
             masks_output=lambda spec, masked: [bool(masked) and masked[0]]),
    *POSITION_LOWERINGS,
]  # fmt: skip
