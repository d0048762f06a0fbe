"""keras-hub building blocks against keras-hub itself (the optional `hub` test extra; skipped
without it) with randomised weights, and against NumPy references of keras-hub's code for the
weight-free position layers and the ViT class token (these always run; the encoder's and
decoder's NumPy references are conformance rows, tests/conformance/transformer.py), and the
TransformerDecoder's refusals of encoder masks it cannot apply."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

import kspec
from kspec.errors import SpecError
from tests.parity.harness import RTOL, assert_random_parity, keras_side

L = keras.layers
RNG = np.random.default_rng(0)


def _hub() -> Any:
    return pytest.importorskip("keras_hub")


def _ids(batch: int, length: int, vocab: int, pad: bool = True) -> np.ndarray:
    ids = RNG.integers(1, vocab, (batch, length)).astype(np.int32)
    if pad:
        ids[0, length - 2 :] = 0
    return ids


def _spec(inputs: dict[str, Any], layers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"kspec": 1, "inputs": inputs, "layers": layers, **extra}


IDS = {"ids": {"shape": [6], "dtype": "int32"}}
EMBED = {"type": "Embedding", "input_dim": 9, "output_dim": 8, "mask_zero": True, "inputs": ["ids"]}


@pytest.mark.parametrize(
    "params",
    [{}, {"normalize_first": True, "activation": "gelu", "layer_norm_epsilon": 1e-3}],
    ids=["post-norm", "pre-norm-gelu"],
)
def test_transformer_encoder_with_padding_matches_keras_hub(params: dict) -> None:
    hub = _hub()
    spec = _spec(IDS, [EMBED, {"type": "TransformerEncoder", "intermediate_dim": 16,
                               "num_heads": 2, **params}])  # fmt: skip
    with keras_side():
        x = keras.Input((6,), dtype="int32")
        e = L.Embedding(9, 8, mask_zero=True)(x)
        y = hub.layers.TransformerEncoder(16, 2, **params)(e)
        keras_model = keras.Model(x, y)
    assert_random_parity(spec, keras_model, [_ids(3, 6, 9)])


def test_transformer_encoder_named_masks_match_keras_hub() -> None:
    hub = _hub()
    inputs = {"x": {"shape": [5, 8]}, "pad": {"shape": [5], "dtype": "int32"},
              "allowed": {"shape": [5, 5], "dtype": "int32"}}  # fmt: skip
    layer = {
        "type": "TransformerEncoder",
        "intermediate_dim": 12,
        "num_heads": 4,
        "inputs": {"inputs": "x", "padding_mask": "pad", "attention_mask": "allowed"},
    }
    with keras_side():
        x, pad, allowed = (
            keras.Input((5, 8)),
            keras.Input((5,), dtype="int32"),
            keras.Input((5, 5), dtype="int32"),
        )
        y = hub.layers.TransformerEncoder(12, 4)(x, padding_mask=pad, attention_mask=allowed)
        keras_model = keras.Model([x, pad, allowed], y)
    pad_v = np.ones((2, 5), np.int32)
    pad_v[1, 3:] = 0
    allowed_v = RNG.integers(0, 2, (2, 5, 5)).astype(np.int32)
    allowed_v[:, :, 0] = 1
    xs = [RNG.standard_normal((2, 5, 8)).astype(np.float32), pad_v, allowed_v]
    assert_random_parity(_spec(inputs, [layer]), keras_model, xs)


@pytest.mark.parametrize(
    ("cross", "params"),
    [(False, {}), (True, {}), (True, {"normalize_first": True, "use_causal_mask": False})],
    ids=["decoder-only", "cross", "cross-prenorm-noncausal"],
)
def test_transformer_decoder_matches_keras_hub(cross: bool, params: dict) -> None:
    hub = _hub()
    causal = params.pop("use_causal_mask", True)
    inputs = {**IDS, **({"ctx": {"shape": [4, 8]}} if cross else {})}
    layer = {"type": "TransformerDecoder", "intermediate_dim": 16, "num_heads": 2,
             "use_causal_mask": causal, **params,
             "inputs": ["embedding", "ctx"] if cross else ["embedding"]}  # fmt: skip
    with keras_side():
        x = keras.Input((6,), dtype="int32")
        e = L.Embedding(9, 8, mask_zero=True)(x)
        decoder = hub.layers.TransformerDecoder(16, 2, **params)
        if cross:
            ctx = keras.Input((4, 8))
            keras_model = keras.Model([x, ctx], decoder(e, ctx, use_causal_mask=causal))
        else:
            keras_model = keras.Model(x, decoder(e, use_causal_mask=causal))
    xs = [_ids(3, 6, 9)] + ([RNG.standard_normal((3, 4, 8)).astype(np.float32)] if cross else [])
    assert_random_parity(_spec(inputs, [EMBED, layer]), keras_model, xs)


def _decoder_error(inputs: dict[str, Any], call: dict[str, str]) -> str:
    layer = {"type": "TransformerDecoder", "intermediate_dim": 8, "num_heads": 2, "inputs": call}
    with pytest.raises(SpecError) as info:
        kspec.load(_spec(inputs, [layer]))
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.node == "transformer_decoder"
    return diagnostic.message


@pytest.mark.parametrize(
    ("mask", "shape"), [("encoder_padding_mask", [5]), ("encoder_attention_mask", [6, 5])]
)
def test_transformer_decoder_encoder_masks_need_an_encoder_sequence(mask: str, shape: list) -> None:
    """keras-hub's decoder reads the encoder masks only in its cross-attention block, which it
    builds only for an `encoder_sequence`: kspec refuses a mask that would be dropped."""
    inputs = {"x": {"shape": [6, 4]}, "m": {"shape": shape, "dtype": "int32"}}
    message = _decoder_error(inputs, {"decoder_sequence": "x", mask: "m"})
    shapes = ", ".join(f"(None, {', '.join(map(str, s))})" for s in ([6, 4], shape))
    assert message == (
        f"TransformerDecoder: encoder masks need an `encoder_sequence` (input shapes: {shapes})"
    )


def test_transformer_decoder_encoder_padding_mask_has_the_encoder_length() -> None:
    """The cross-attention's padding mask covers the encoder's positions (5), not the decoder's."""
    inputs = {"x": {"shape": [6, 4]}, "ctx": {"shape": [5, 4]},
              "pad": {"shape": [6], "dtype": "int32"}}  # fmt: skip
    call = {"decoder_sequence": "x", "encoder_sequence": "ctx", "encoder_padding_mask": "pad"}
    assert _decoder_error(inputs, call) == (
        "TransformerDecoder: a padding mask has shape (batch, 5). Received: (None, 6) "
        "(input shapes: (None, 6, 4), (None, 5, 4), (None, 6))"
    )


def test_position_embedding_matches_keras_hub() -> None:
    hub = _hub()
    layers = [
        {"type": "PositionEmbedding", "sequence_length": 9, "name": "pos", "inputs": ["x"]},
        {"type": "Add", "inputs": ["x", "pos"]},
    ]
    with keras_side():
        x = keras.Input((5, 4))
        keras_model = keras.Model(x, L.Add()([x, hub.layers.PositionEmbedding(9)(x)]))
    spec = _spec({"x": {"shape": [5, 4]}}, layers)
    assert_random_parity(spec, keras_model, [RNG.standard_normal((2, 5, 4)).astype(np.float32)])


@pytest.mark.parametrize(("tie", "cap"), [(True, None), (False, 2.0)])
def test_reversible_embedding_ties_input_and_output(tie: bool, cap: float | None) -> None:
    hub = _hub()
    layers = [
        {"type": "ReversibleEmbedding", "name": "tokens", "input_dim": 11, "output_dim": 6,
         "tie_weights": tie, "logit_soft_cap": cap},
        {"type": "Dense", "units": 6, "activation": "tanh"},
        {"shares": "tokens", "name": "logits", "inputs": {"reverse": "dense"}},
    ]  # fmt: skip
    with keras_side():
        x = keras.Input((5,), dtype="int32")
        tokens = hub.layers.ReversibleEmbedding(11, 6, tie_weights=tie, logit_soft_cap=cap)
        h = L.Dense(6, activation="tanh")(tokens(x))
        keras_model = keras.Model(x, tokens(h, reverse=True))
    spec = _spec({"ids": {"shape": [5], "dtype": "int32"}}, layers)
    model = assert_random_parity(spec, keras_model, [_ids(2, 5, 11, pad=False)])
    assert model.compiled.output_shapes == [(None, 5, 11)]


def test_reversible_and_rotary_embeddings_pass_the_padding_mask_on() -> None:
    """`mask_zero` ids mask the ReversibleEmbedding's output (as keras-hub's Embedding base),
    and RotaryEmbedding propagates it: a masked average then skips the padded steps."""
    layers = [
        {"type": "ReversibleEmbedding", "input_dim": 7, "output_dim": 4, "mask_zero": True},
        {"type": "RotaryEmbedding"},
        {"type": "GlobalAveragePooling1D", "name": "mean"},
    ]
    model = kspec.load(_spec({"ids": {"shape": [5], "dtype": "int32"}}, layers))
    variables = model.init(0)
    ids = np.array([[3, 1, 0, 0, 0], [2, 5, 6, 4, 0]], np.int32)
    rotated = kspec.load(_spec({"ids": {"shape": [5], "dtype": "int32"}}, layers[:2]))
    per_step = np.asarray(rotated.apply(variables, ids))
    kept = (ids != 0)[..., None]
    expected = (per_step * kept).sum(1) / kept.sum(1)
    np.testing.assert_allclose(model.apply(variables, ids), expected, rtol=1e-6)


def test_reversible_embedding_in_reverse_needs_vectors_of_its_size() -> None:
    layer = {"type": "ReversibleEmbedding", "input_dim": 7, "output_dim": 4,
             "inputs": {"reverse": "h"}}  # fmt: skip
    with pytest.raises(kspec.SpecError) as raised:
        kspec.load(_spec({"h": {"shape": [5, 3]}}, [layer]))
    assert [d.message for d in raised.value.diagnostics] == [
        "ReversibleEmbedding in reverse expects vectors of size 4. Received: shape=(None, 5, 3)"
    ]


def test_sine_position_encoding_against_keras_hub_formula() -> None:
    """NumPy of `sine_position_encoding.py`: sin on even features, cos on odd ones."""
    model = kspec.load(_spec({"x": {"shape": [7, 6]}}, [{"type": "SinePositionEncoding",
                                                          "max_wavelength": 100.0}]))  # fmt: skip
    model.init(0)
    positions = np.arange(7, dtype=np.float32)[:, None]
    timescales = (1 / 100.0) ** (2 * (np.arange(6) // 2) / 6)
    angles = positions * timescales
    expected = np.where(np.arange(6) % 2 == 0, np.sin(angles), np.cos(angles))
    out = model.predict(np.zeros((2, 7, 6), np.float32))
    np.testing.assert_allclose(out, np.broadcast_to(expected, (2, 7, 6)), rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "axes"), [((5, 8), {}), ((4, 5, 3), {"sequence_axis": 2, "feature_axis": 1})]
)
def test_rotary_embedding_against_keras_hub_formula(shape: tuple, axes: dict) -> None:
    """NumPy of `rotary_embedding.py` (linear rope): rotate the feature halves by t * f."""
    layer = {"type": "RotaryEmbedding", "max_wavelength": 50.0, "scaling_factor": 2.0, **axes}
    model = kspec.load(_spec({"x": {"shape": list(shape)}}, [layer]))
    model.init(0)
    x = RNG.standard_normal((2, *shape)).astype(np.float32)
    seq, feat = axes.get("sequence_axis", 1), axes.get("feature_axis", -1)
    moved = np.moveaxis(x, (feat, seq), (-1, 1))
    dim = moved.shape[-1]
    inverse = 50.0 ** (-np.arange(0, dim, 2) / dim) / 2.0
    freq = np.arange(moved.shape[1])[:, None] * inverse
    angle = np.concatenate([freq, freq], -1).reshape(
        (1, moved.shape[1]) + (1,) * (moved.ndim - 3) + (dim,)
    )
    half = dim // 2
    rotated = np.concatenate([-moved[..., half:], moved[..., :half]], -1)
    expected = np.moveaxis(moved * np.cos(angle) + rotated * np.sin(angle), (-1, 1), (feat, seq))
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=1e-5)


def test_rotary_embedding_matches_keras_hub() -> None:
    hub = _hub()
    with keras_side():
        x = keras.Input((5, 8))
        keras_model = keras.Model(x, hub.layers.RotaryEmbedding(max_wavelength=50)(x))
    spec = _spec({"x": {"shape": [5, 8]}}, [{"type": "RotaryEmbedding", "max_wavelength": 50.0}])
    assert_random_parity(spec, keras_model, [RNG.standard_normal((2, 5, 8)).astype(np.float32)])


def test_class_token_prepends_the_learned_vector() -> None:
    """As keras-hub's `ViTPatchingAndEmbedding`: `concat([tile(class_token), patches], 1)`."""
    model = kspec.load(_spec({"x": {"shape": [4, 3]}}, [{"type": "ClassToken"}]))
    model.init(0)
    token = RNG.standard_normal((1, 1, 3)).astype(np.float32)
    model.set_weights([token])
    x = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    out = model.predict(x)
    assert model.compiled.output_shapes == [(None, 5, 3)]
    np.testing.assert_array_equal(out, np.concatenate([np.tile(token, (2, 1, 1)), x], axis=1))
