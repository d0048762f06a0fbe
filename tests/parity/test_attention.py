"""Attention parity with Keras 3 (MultiHeadAttention, GroupQueryAttention, Attention,
AdditiveAttention, EinsumDense), weights randomised (biases too) and copied with set_weights;
masks from Embedding(mask_zero) and attention_mask, causal masks, returned scores; the fused
and einsum lowerings against each other; `value_dim != key_dim` against NumPy."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import kspec
from kspec.compiler import attention as att
from tests.parity.harness import ATOL, RTOL, assert_random_parity, keras_side

L = keras.layers
RNG = np.random.default_rng(0)


def _compare(spec: dict[str, Any], keras_model: keras.Model, xs: list[np.ndarray]) -> kspec.Model:
    return assert_random_parity(spec, keras_model, xs)


def _floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _cross(layer: dict[str, Any], q: tuple[int, ...], v: tuple[int, ...], **out: Any) -> dict:
    return {
        "kspec": 1,
        "inputs": {"q": {"shape": list(q)}, "v": {"shape": list(v)}},
        "layers": [{**layer, "name": "att", "inputs": {"query": "q", "value": "v"}}],
        **out,
    }


MHA_GRID = [
    pytest.param({"num_heads": 2, "key_dim": 3}, {}, (5, 6), (7, 4), id="cross-fused"),
    pytest.param(
        {"num_heads": 3, "key_dim": 2, "output_shape": [2, 3], "use_bias": False},
        {"output_shape": (2, 3), "use_bias": False}, (5, 6), (5, 6), id="output-shape-no-bias",
    ),
    pytest.param(
        {"num_heads": 2, "key_dim": 2, "attention_axes": [1, 2]},
        {"attention_axes": (1, 2)}, (3, 4, 5), (3, 4, 5), id="2d-image-attention",
    ),
    pytest.param(
        {"num_heads": 2, "key_dim": 3, "attention_axes": 2},
        {"attention_axes": 2}, (3, 4, 5), (3, 4, 5), id="attention-axis-2",
    ),
    pytest.param(
        {"num_heads": 2, "key_dim": 3, "dropout": 0.3},
        {"dropout": 0.3}, (5, 6), (4, 6), id="dropout-inference",
    ),
    pytest.param(
        {"num_heads": 2, "key_dim": 3, "use_causal_mask": True},
        {"use_causal_mask": True}, (5, 6), (5, 6), id="causal",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("params", "keras_kwargs", "q", "v"), MHA_GRID)
def test_multi_head_attention_parity(params: dict, keras_kwargs: dict, q: tuple, v: tuple) -> None:
    causal = keras_kwargs.pop("use_causal_mask", False)
    with keras_side():
        qi, vi = keras.Input(q), keras.Input(v)
        layer = L.MultiHeadAttention(params["num_heads"], params["key_dim"], **keras_kwargs)
        keras_model = keras.Model([qi, vi], layer(qi, vi, use_causal_mask=causal))
    _compare(_cross({"type": "MultiHeadAttention", **params}, q, v), keras_model,
             [_floats(3, *q), _floats(3, *v)])  # fmt: skip


@pytest.mark.parametrize("causal", [False, True], ids=["padded", "padded-causal"])
def test_self_attention_with_padding_masks_matches_keras(causal: bool) -> None:
    ids = RNG.integers(1, 9, (4, 6)).astype(np.int32)
    ids[0, 4:] = 0
    ids[2, 2:] = 0
    spec = {
        "kspec": 1,
        "inputs": {"ids": {"shape": [6], "dtype": "int32"}},
        "layers": [
            {"type": "Embedding", "input_dim": 9, "output_dim": 8, "mask_zero": True},
            {
                "type": "MultiHeadAttention",
                "num_heads": 2,
                "key_dim": 4,
                "use_causal_mask": causal,
                "inputs": ["embedding", "embedding"],
            },
            {"type": "GlobalAveragePooling1D"},
        ],
    }
    with keras_side():
        x = keras.Input((6,), dtype="int32")
        e = L.Embedding(9, 8, mask_zero=True)(x)
        y = L.MultiHeadAttention(2, 4)(e, e, use_causal_mask=causal)
        keras_model = keras.Model(x, L.GlobalAveragePooling1D()(y))
    _compare(spec, keras_model, [ids])


def test_attention_mask_input_combines_with_padding_and_causal() -> None:
    ids = RNG.integers(1, 7, (3, 5)).astype(np.int32)
    ids[1, 3:] = 0
    allowed = RNG.integers(0, 2, (3, 5, 5)).astype(np.int32)
    allowed[:, :, 0] = 1  # every query row keeps a key
    spec = {
        "kspec": 1,
        "inputs": {
            "ids": {"shape": [5], "dtype": "int32"},
            "m": {"shape": [5, 5], "dtype": "int32"},
        },
        "layers": [
            {
                "type": "Embedding",
                "input_dim": 7,
                "output_dim": 6,
                "mask_zero": True,
                "inputs": ["ids"],
            },
            {
                "type": "MultiHeadAttention",
                "num_heads": 2,
                "key_dim": 3,
                "use_causal_mask": True,
                "return_attention_scores": True,
                "inputs": {"query": "embedding", "value": "embedding", "attention_mask": "m"},
            },
        ],
        "outputs": ["multi_head_attention:0", "multi_head_attention:1"],
    }
    with keras_side():
        x, m = keras.Input((5,), dtype="int32"), keras.Input((5, 5), dtype="int32")
        e = L.Embedding(7, 6, mask_zero=True)(x)
        out, scores = L.MultiHeadAttention(2, 3)(
            e, e, attention_mask=m, use_causal_mask=True, return_attention_scores=True
        )
        keras_model = keras.Model([x, m], [out, scores])
    _compare(spec, keras_model, [ids, allowed])


def test_value_dim_differs_from_key_dim_against_numpy() -> None:
    spec = _cross({"type": "MultiHeadAttention", "num_heads": 2, "key_dim": 3, "value_dim": 5},
                  (4, 6), (5, 7))  # fmt: skip
    model = kspec.load(spec)
    model.init(0)
    weights = [w * 0 + RNG.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    q, v = _floats(2, 4, 6), _floats(2, 5, 7)
    qh = np.einsum("btd,dnh->btnh", q, wq) + bq
    kh = np.einsum("bsd,dnh->bsnh", v, wk) + bk
    vh = np.einsum("bsd,dnh->bsnh", v, wv) + bv
    logits = np.einsum("btnh,bsnh->bnts", qh, kh) / np.sqrt(3.0)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    heads = np.einsum("bnts,bsnh->btnh", probs, vh)
    expected = np.einsum("btnh,nhd->btd", heads, wo) + bo
    np.testing.assert_allclose(model.predict([q, v]), expected, rtol=RTOL, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_fused_and_einsum_paths_agree(causal: bool) -> None:
    q, k, v = (jnp.asarray(_floats(2, 5, 3, 4)) for _ in range(3))
    mask = jnp.asarray(RNG.integers(0, 2, (2, 5, 5)).astype(bool)).at[:, :, 0].set(True)
    fused = att.AttentionPlan((1,), 4, fused=True, causal=causal)
    einsum = att.AttentionPlan((1,), 4, fused=False, causal=causal)
    a, _ = att.attend(fused, q, k, v, mask)
    b, _ = att.attend(einsum, q, k, v, mask)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL)


def test_lowering_choice_follows_keras() -> None:
    assert att.fusable(3, 4, 4, 0.0, False)
    assert not att.fusable(3, 4, 4, 0.1, False)  # attention dropout
    assert not att.fusable(3, 4, 4, 0.0, True)  # scores returned
    assert not att.fusable(4, 4, 4, 0.0, False)  # images: custom attention axes
    assert not att.fusable(3, 4, 5, 0.0, False)  # value_dim != key_dim


@pytest.mark.parametrize(("heads", "kv_heads", "causal"), [(4, 2, False), (2, 1, True)])
def test_group_query_attention_parity(heads: int, kv_heads: int, causal: bool) -> None:
    layer = {
        "type": "GroupedQueryAttention",
        "head_dim": 3,
        "num_query_heads": heads,
        "num_key_value_heads": kv_heads,
        "use_causal_mask": causal,
    }
    with keras_side():
        qi, vi = keras.Input((5, 6)), keras.Input((7, 6))
        gqa = L.GroupQueryAttention(3, heads, kv_heads)
        keras_model = keras.Model([qi, vi], gqa(qi, vi, use_causal_mask=causal))
    model = _compare(
        _cross(layer, (5, 6), (7, 6)), keras_model, [_floats(2, 5, 6), _floats(2, 7, 6)]
    )
    assert model.spec.layers[0].type == "GroupQueryAttention"


def test_group_query_attention_scores_parity() -> None:
    layer = {
        "type": "GroupQueryAttention",
        "head_dim": 2,
        "num_query_heads": 4,
        "num_key_value_heads": 2,
        "return_attention_scores": True,
    }
    with keras_side():
        qi, vi = keras.Input((4, 5)), keras.Input((3, 5))
        out = L.GroupQueryAttention(2, 4, 2)(qi, vi, return_attention_scores=True)
        keras_model = keras.Model([qi, vi], list(out))
    spec = _cross(layer, (4, 5), (3, 5), outputs=["att"])
    _compare(spec, keras_model, [_floats(2, 4, 5), _floats(2, 3, 5)])


LUONG_GRID = [
    ("Attention", {}, {}),
    ("Attention", {"use_scale": True, "score_mode": "concat"}, {}),
    ("Attention", {"use_scale": True, "use_causal_mask": True}, {}),
    ("Attention", {"return_attention_scores": True}, {}),
    ("AdditiveAttention", {}, {}),
    ("AdditiveAttention", {"use_scale": False, "dropout": 0.2}, {}),
    ("AdditiveAttention", {"return_attention_scores": True, "use_causal_mask": True}, {}),
]


@pytest.mark.parametrize(("kind", "params", "_"), LUONG_GRID)
@pytest.mark.parametrize("masked", [False, True], ids=["dense", "masked"])
def test_luong_and_bahdanau_parity(kind: str, params: dict, _: dict, masked: bool) -> None:
    params = dict(params)
    call = {k: params[k] for k in ("use_causal_mask", "return_attention_scores") if k in params}
    ids = RNG.integers(1, 6, (3, 5)).astype(np.int32)
    ids[1, 3:] = 0
    spec = {
        "kspec": 1,
        "inputs": {"ids": {"shape": [5], "dtype": "int32"}},
        "layers": [
            {"type": "Embedding", "input_dim": 6, "output_dim": 4, "mask_zero": masked},
            {
                "type": kind,
                **params,
                "name": "att",
                "inputs": {"query": "embedding", "value": "embedding"},
            },
        ],
        "outputs": ["att"],
    }
    kwargs = {k: v for k, v in params.items() if k not in call}
    with keras_side():
        x = keras.Input((5,), dtype="int32")
        e = L.Embedding(6, 4, mask_zero=masked)(x)
        out = getattr(L, kind)(**kwargs)([e, e], **call)
        keras_model = keras.Model(x, list(out) if isinstance(out, tuple) else out)
    _compare(spec, keras_model, [ids])


EINSUM_GRID = [
    ("ab,bc->ac", [4], "c", (3,)),
    ("abc,cd->abd", [None, 5], "d", (4, 3)),
    ("abc,cde->abde", [None, 2, 3], "de", (4, 3)),
    ("...b,bc->...c", [6], None, (2, 4, 3)),
    ("abc...,bd->adc...", [5, 4], "d", (3, 4, 2)),
]


@pytest.mark.parametrize(("equation", "output_shape", "bias_axes", "shape"), EINSUM_GRID)
def test_einsum_dense_parity(
    equation: str, output_shape: list, bias_axes: Any, shape: tuple
) -> None:
    layer = {
        "type": "EinsumDense",
        "equation": equation,
        "output_shape": output_shape,
        "bias_axes": bias_axes,
        "activation": "tanh",
    }
    with keras_side():
        x = keras.Input(shape)
        dense = L.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
        keras_model = keras.Model(x, dense(x))
    spec = {"kspec": 1, "inputs": {"x": {"shape": list(shape)}}, "layers": [layer]}
    _compare(spec, keras_model, [_floats(2, *shape)])


def test_identity_passes_values_and_masks() -> None:
    spec = {
        "kspec": 1,
        "inputs": {"ids": {"shape": [4], "dtype": "int32"}},
        "layers": [
            {"type": "Embedding", "input_dim": 5, "output_dim": 3, "mask_zero": True},
            {"type": "Identity"},
            {"type": "GlobalAveragePooling1D"},
        ],
    }
    with keras_side():
        x = keras.Input((4,), dtype="int32")
        y = L.Identity()(L.Embedding(5, 3, mask_zero=True)(x))
        keras_model = keras.Model(x, L.GlobalAveragePooling1D()(y))
    ids = np.array([[1, 2, 0, 0], [3, 4, 1, 0]], np.int32)
    _compare(spec, keras_model, [ids])


def test_multi_head_attention_dropout_applies_in_training() -> None:
    model = kspec.load(_cross({"type": "MultiHeadAttention", "num_heads": 2, "key_dim": 2,
                               "dropout": 0.5}, (4, 3), (4, 3)))  # fmt: skip
    variables = model.init(0)
    xs = {"q": jnp.asarray(_floats(2, 4, 3)), "v": jnp.asarray(_floats(2, 4, 3))}
    run = model.compiled.apply
    infer = run(variables, xs, training=False)[0]
    train = run(variables, xs, training=True, rng=jax.random.PRNGKey(1))[0]
    assert not np.allclose(np.asarray(infer), np.asarray(train))
