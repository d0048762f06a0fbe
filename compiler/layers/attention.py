"""Lowerings of the attention layers. The attention itself (masks, fused or einsum path) is
`kspec.compiler.attention`; this module holds each layer's shapes, weights and wiring.

Weight names, shapes and order are Keras 3's: MultiHeadAttention and GroupQueryAttention hold
EinsumDense sublayers `query`, `key`, `gate` (with `use_gate`), `value`, `attention_output`,
each `kernel` then `bias`.
"""

from __future__ import annotations

from typing import Any

from kspec.compiler import attention as att
from kspec.compiler.deferred import jax, jnp
from kspec.compiler.initializers import initialize
from kspec.compiler.layers.einsum_dense import LOWERINGS as EINSUM_LOWERINGS
from kspec.compiler.layers.projections import (
    gated,
    head_shapes,
    projection_rules,
    projection_weights,
)
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
from kspec.schemas.fields import GlorotUniform
from kspec.schemas.layers import attention as s

_PROJECTIONS = ("query", "key", "gate", "value", "attention_output")


def padded(values: list[Any], count: int = 4) -> list[Any]:
    """Per-argument values, the optional ones left out as None (a plain `[query, value]`
    list from a caller that does not arrange by argument)."""
    return [*values, *[None] * (count - len(values))]


def _qkv_shapes(spec: LayerSpec, shapes: list[Shape]) -> tuple[Shape, Shape, Shape, Shape | None]:
    layer = type(spec).__name__
    query, value, key, mask = padded(shapes)
    assert query is not None and value is not None
    key = value if key is None else key
    expect_rank(spec, query, 3)
    for name, shape in (("query", query), ("value", value), ("key", key)):
        if shape[-1] is None:
            raise ShapeError(
                f"{layer} needs a known last dimension of `{name}`. "
                f"Received: {name}_shape={format_shape(shape)}"
            )
    if len(value) != len(query) or value[1:-1] != key[1:-1]:
        raise ShapeError(
            f"{layer}: `value` and `key` need the query's rank and equal dimensions except the "
            f"last one. Received: query_shape={format_shape(query)}, value_shape="
            f"{format_shape(value)}, key_shape={format_shape(key)}"
        )
    return query, value, key, mask


def _check_mask(spec: LayerSpec, mask: Shape | None, scores: Shape, axes: tuple[int, ...]) -> None:
    """`attention_mask` must broadcast to the scores once Keras inserts the heads axis."""
    if mask is None:
        return
    layer = type(spec).__name__
    expanded = list(mask)
    while len(expanded) < len(scores):
        expanded.insert(len(expanded) - 2 * len(axes), 1)
    fits = len(expanded) == len(scores) and all(
        m in (None, 1) or d is None or m == d for m, d in zip(expanded, scores, strict=True)
    )
    if not fits:
        raise ShapeError(
            f"{layer}: `attention_mask` of shape {format_shape(mask)} does not broadcast to "
            f"the attention scores {format_shape(scores)} (batch, heads, query positions, "
            "key positions)"
        )


def _bands_need_sequences(spec: Any, query: Shape, axes: tuple[int, ...]) -> None:
    """Keras builds causal and sliding-window masks `[1, T, S]` from axis 1: they mean
    something only for sequences attended over time."""
    options = [name for name in ("use_causal_mask", "sliding_window") if getattr(spec, name)]
    if options and (len(query) != 3 or axes != (1,)):
        raise ShapeError(
            f"{options[0]} needs sequences (batch, time, features) attended over time. "
            f"Received: query_shape={format_shape(query)}"
        )


def _flash_fits(spec: s.MultiHeadAttention, query: Shape, axes: tuple[int, ...]) -> None:
    """`flash_attention: true` forces `jax.nn.dot_product_attention`: one attention axis of
    rank-3 inputs and equal key and value head sizes."""
    fits = len(query) == 3 and axes == (1,) and spec.head_value_dim == spec.key_dim
    if spec.flash_attention and not fits:
        raise ShapeError(
            "flash_attention=True needs the fused kernel: (batch, time, features) inputs "
            "attended over time, value_dim equal to key_dim. Received: query_shape="
            f"{format_shape(query)}, attention_axes={list(axes)}, key_dim={spec.key_dim}, "
            f"value_dim={spec.head_value_dim}"
        )


# MultiHeadAttention --------------------------------------------------------------------------


def _mha_axes(spec: s.MultiHeadAttention, rank: int) -> tuple[int, ...]:
    axes = att.default_axes(rank, spec.axes)
    if not axes or any(not 1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
        raise ShapeError(
            f"attention_axes must be distinct axes between batch and features (1..{rank - 2}). "
            f"Received: attention_axes={spec.attention_axes}"
        )
    return axes


def _mha_shape(spec: s.MultiHeadAttention, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    query, _, key, mask = _qkv_shapes(spec, shapes)
    axes = _mha_axes(spec, len(query))
    _bands_need_sequences(spec, query, axes)
    _flash_fits(spec, query, axes)
    heads, dim = spec.num_heads, spec.key_dim
    scores = att.scores_shape((*query[:-1], heads, dim), (*key[:-1], heads, dim), axes)
    _check_mask(spec, mask, scores, axes)
    out = (*query[:-1], *(spec.output_dims or (query[-1],)))
    return [out, scores] if spec.return_attention_scores else [out]


def _keras_masks_fit(
    spec: s.MultiHeadAttention, shapes: list[Shape | None], masked: list[bool | None]
) -> None:
    """Keras turns the query's mask into `[B, ..., T, 1]` and the value's and key's into
    `[B, ..., 1, S]`: the scores' layout only when attention runs over the last axis before
    the features (Keras' Softmax refuses the mask, or misreads it, otherwise)."""
    query = shapes[0]
    assert query is not None
    axes = _mha_axes(spec, len(query))
    carriers = [name for name, flag in zip(("query", "value", "key"), masked, strict=False) if flag]
    if carriers and axes != (len(query) - 2,):
        raise ShapeError(
            f"MultiHeadAttention: the Keras mask of `{carriers[0]}` applies to attention over "
            f"the last axis before the features only. Received: query_shape="
            f"{format_shape(query)}, attention_axes={list(axes)}; pass an `attention_mask` "
            "shaped like the scores without the heads axis instead"
        )


def _mha_init(spec: s.MultiHeadAttention, key: Array, shapes: list[Shape]) -> LayerWeights:
    query, value, key_shape, _ = padded(shapes)
    key_shape = key_shape or value
    out = spec.output_dims or (query[-1],)
    heads, value_dim = spec.num_heads, spec.head_value_dim
    kernels = head_shapes(query[-1], value[-1], key_shape[-1], heads, spec.key_dim, value_dim, out)
    if spec.use_gate:
        kernels = gated(kernels, ((query[-1], heads, value_dim), (heads, value_dim)))
    return LayerWeights(params=projection_weights(spec, key, kernels))


def _mha_apply(
    spec: s.MultiHeadAttention, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = out(concat_h softmax(q_h k_h^T / sqrt(key_dim)) v_h), masks as Keras combines them."""
    query = inputs[0]
    axes = _mha_axes(spec, query.ndim)
    scores = spec.return_attention_scores
    fused = att.fusable(
        query.ndim, spec.key_dim, spec.head_value_dim, spec.dropout, scores, spec.flash_attention
    )
    plan = att.AttentionPlan(
        axes, spec.key_dim, fused, spec.use_causal_mask, spec.dropout, spec.seed,
        spec.sliding_window,
    )  # fmt: skip
    return multi_head(plan, params, inputs, call, scores, gate=spec.use_gate)


def multi_head(
    plan: att.AttentionPlan,
    params: Weights,
    inputs: list[Array | None],
    call: LayerCall,
    scores: bool = False,
    prefix: str = "",
    gate: bool = False,
) -> list[Array]:
    """Project query, key (default: value) and value, attend, project back (after multiplying
    by `sigmoid(gate(query))` with `gate`). The weights are `<prefix>query/kernel`, ...;
    masks are the inputs' Keras masks plus `attention_mask`."""
    query, value, key, attention_mask = padded(inputs)
    assert query is not None and value is not None
    query_mask, value_mask, key_mask = (call.masks + [None] * 3)[:3]
    mask = att.keras_mask(query_mask, value_mask, key_mask, attention_mask, None)
    p = {name: params.get(f"{prefix}{name}") for name in _weight_names()}
    q = att.project(query, p["query/kernel"], p["query/bias"])
    k = att.project(value if key is None else key, p["key/kernel"], p["key/bias"])
    v = att.project(value, p["value/kernel"], p["value/bias"])
    rng = call.rng if call.training and plan.dropout > 0.0 else None
    packed = call.env.lowering.packed_dropout_masks()
    out, probs = att.attend(
        plan, q, k, v, mask, training=call.training, rng=rng, packed_dropout=packed
    )
    if gate:
        out = out * jax.nn.sigmoid(att.project(query, p["gate/kernel"], p["gate/bias"]))
    y = att.project_out(out, p["attention_output/kernel"], p["attention_output/bias"])
    return [y, probs] if scores else [y]


def _weight_names() -> list[str]:
    return [f"{layer}/{part}" for layer in _PROJECTIONS for part in ("kernel", "bias")]


def query_mask_out(spec: Any, masks: list[Array | None], inputs: list[Array]) -> list[Array | None]:
    """Keras sets the query's mask on the attention output; the scores carry none."""
    return [masks[0], None]


def _masked_like_query(spec: Any, masked: list[bool]) -> list[bool]:
    return [bool(masked) and masked[0], False]


# GroupQueryAttention -------------------------------------------------------------------------


def _gqa_shape(spec: s.GroupQueryAttention, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    query, value, key, mask = _qkv_shapes(spec, shapes)
    expect_rank(spec, query, 3, exactly=True)
    if query[-1] != value[-1]:
        raise ShapeError(
            "GroupQueryAttention: the last dimension of `query` and `value` must be equal. "
            f"Received: query_shape={format_shape(query)}, value_shape={format_shape(value)}"
        )
    _bands_need_sequences(spec, query, (1,))
    scores = (query[0], spec.num_query_heads, query[1], key[1])
    _check_mask(spec, mask, scores, (1,))
    return [query, scores] if spec.return_attention_scores else [query]


def _gqa_init(spec: s.GroupQueryAttention, key: Array, shapes: list[Shape]) -> LayerWeights:
    query, value, key_shape, _ = padded(shapes)
    key_shape = key_shape or value
    nq, nkv, h = spec.num_query_heads, spec.num_key_value_heads, spec.head_dim
    kernels = {
        "query": ((query[-1], nq, h), (nq, h)),
        "key": ((key_shape[-1], nkv, h), (nkv, h)),
        "value": ((value[-1], nkv, h), (nkv, h)),
        "attention_output": ((nq, h, query[-1]), (query[-1],)),
    }
    if spec.use_gate:
        kernels = gated(kernels, ((query[-1], nq, h), (nq, h)))
    return LayerWeights(params=projection_weights(spec, key, kernels))


def _gqa_apply(
    spec: s.GroupQueryAttention, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """MultiHeadAttention whose key/value heads are each shared by a group of query heads."""
    scores = spec.return_attention_scores
    fused = att.fusable(3, spec.head_dim, spec.head_dim, spec.dropout, scores, spec.flash_attention)
    plan = att.AttentionPlan(
        (1,), spec.head_dim, fused, spec.use_causal_mask, spec.dropout, spec.seed,
        spec.sliding_window,
    )  # fmt: skip
    return multi_head(plan, params, inputs, call, scores, gate=spec.use_gate)


# Attention and AdditiveAttention -------------------------------------------------------------


def _luong_shape(spec: Any, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    layer = type(spec).__name__
    query, value, key = padded(shapes, 3)
    assert query is not None and value is not None
    key = value if key is None else key
    for shape in (query, value, key):
        expect_rank(spec, shape, 3, exactly=True)
    if query[-1] != key[-1] or key[1] != value[1]:
        raise ShapeError(
            f"{layer}: `query` and `key` need the same last dimension and `key` the value's "
            f"length. Received: query_shape={format_shape(query)}, value_shape="
            f"{format_shape(value)}, key_shape={format_shape(key)}"
        )
    out = (query[0], query[1], value[2])
    return [out, (query[0], query[1], value[1])] if spec.return_attention_scores else [out]


def _attention_init(spec: s.Attention, key: Array, shapes: list[Shape]) -> LayerWeights:
    params: Weights = {}
    if spec.use_scale:
        params["scale"] = jnp.ones((), jnp.float32)
    if spec.score_mode == "concat":
        params["concat_score_weight"] = jnp.ones((), jnp.float32)
    return LayerWeights(params=params)


def _additive_init(spec: s.AdditiveAttention, key: Array, shapes: list[Shape]) -> LayerWeights:
    if not spec.use_scale:
        return LayerWeights()
    return LayerWeights(params={"scale": initialize(GlorotUniform(), key, (shapes[0][-1],))})


def _luong_scores(spec: Any, params: Weights, q: Array, k: Array) -> Array:
    """Keras' `_calculate_scores` of Attention (dot or concat) and AdditiveAttention."""
    scale = params.get("scale")
    if isinstance(spec, s.Attention) and spec.score_mode == "dot":
        scores = q @ jnp.swapaxes(k, -2, -1)
        return scores if scale is None else scores * scale
    summed = q[..., :, None, :] + k[..., None, :, :]
    if isinstance(spec, s.AdditiveAttention):
        factor = 1.0 if scale is None else scale.reshape(1, 1, 1, -1)
        return jnp.sum(factor * jnp.tanh(summed), axis=-1)
    inner = summed if scale is None else scale * summed
    return params["concat_score_weight"] * jnp.sum(jnp.tanh(inner), axis=-1)


def _luong_apply(spec: Any, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
    """softmax(scores, masked -1e9) @ value; the output is zero where the query is masked."""
    query, value, key = padded(inputs, 3)
    query_mask, value_mask = padded(call.masks, 2)[:2]
    scores = _luong_scores(spec, params, query, value if key is None else key)
    mask = None if value_mask is None else value_mask.astype(bool)[:, None, :]
    if spec.use_causal_mask:
        causal = att.causal_mask(scores.shape[-2], scores.shape[-1])
        mask = causal if mask is None else mask & causal
    if mask is not None:
        scores = jnp.where(mask, scores, scores - 1e9)
    weights = jax.nn.softmax(scores, axis=-1)
    kept = weights
    if call.training and spec.dropout > 0:
        packed = call.env.lowering.packed_dropout_masks()
        kept = att.dropout(weights, spec.dropout, spec.seed, call.rng, packed)
    out = kept @ value
    if query_mask is not None:
        out = jnp.where(query_mask.astype(bool)[..., None], out, jnp.zeros((), out.dtype))
    return [out, weights] if spec.return_attention_scores else [out]


def _lowering(spec_type: type, shape: Any, apply: Any, init: Any, **kw: Any) -> Lowering[Any]:
    return Lowering(
        spec_type,
        shape,
        apply,
        init,
        compute_mask=query_mask_out,
        mask="consume",
        masks_output=_masked_like_query,
        **kw,
    )


LOWERINGS: list[Lowering[Any]] = [
    _lowering(
        s.MultiHeadAttention, _mha_shape, _mha_apply, _mha_init,
        governs=projection_rules(*_PROJECTIONS), check_masks=_keras_masks_fit,
    ),
    _lowering(
        s.GroupQueryAttention, _gqa_shape, _gqa_apply, _gqa_init,
        governs=projection_rules(*_PROJECTIONS),
    ),
    _lowering(s.Attention, _luong_shape, _luong_apply, _attention_init),
    _lowering(s.AdditiveAttention, _luong_shape, _luong_apply, _additive_init),
    *EINSUM_LOWERINGS,
]  # fmt: skip
