"""Conformance cases of the keras-hub building blocks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tests.conformance.cases import Case, Invalid, NumpyReference

CASES: dict[str, list[Case]] = {
    "TransformerEncoder": [
        Case({"intermediate_dim": 8, "num_heads": 2}, [[5, 4]]),
        Case({"intermediate_dim": 6, "num_heads": 1, "normalize_first": True}, [[None, 3]]),
        Case({"intermediate_dim": 6, "num_heads": 2, "dropout": 0.5}, [[3, 4]], training=True),
        # `[inputs, padding_mask, attention_mask]`; dropout at inference takes Keras' einsum
        # path, whose fully masked query rows (two in the drawn masks) are zeros (the fused path
        # averages the values there)
        Case({"intermediate_dim": 8, "num_heads": 2, "dropout": 0.25, "activation": "gelu",
              "layer_norm_epsilon": 0.5}, [[6, 4], [6], [6, 6]], id="masks"),
    ],
    "TransformerDecoder": [
        Case({"intermediate_dim": 8, "num_heads": 2}, [[5, 4]]),
        Case({"intermediate_dim": 8, "num_heads": 2, "use_causal_mask": False}, [[5, 4], [3, 6]]),
        # every call argument: decoder and encoder sequences, then the decoder's padding and
        # attention masks and the encoder's (the cross-attention's) padding and attention masks.
        # Not causal: keras-hub joins the causal mask by an int `minimum`, kspec by a logical and,
        # the same on 0/1 masks but not on these masks' negative entries (see below)
        Case({"intermediate_dim": 6, "num_heads": 2, "use_causal_mask": False,
              "normalize_first": True}, [[5, 4], [3, 6], [5], [5, 5], [3], [5, 3]],
             id="masks"),
    ],
    "PositionEmbedding": [
        Case({"sequence_length": 8}, [[5, 3]]),
        Case({"sequence_length": 4}, [[4, 2]]),
    ],
    "SinePositionEncoding": [Case({}, [[5, 4]]), Case({"max_wavelength": 100.0}, [[3, 6]])],
    "RotaryEmbedding": [
        Case({}, [[5, 4]]),
        Case({"sequence_axis": 1, "feature_axis": 3}, [[5, 2, 6]]),
    ],
    "ReversibleEmbedding": [
        Case({"input_dim": 7, "output_dim": 3}, [[4]], dtype="int32"),
        Case({"input_dim": 7, "output_dim": 3, "tie_weights": False, "mask_zero": True}, [[5]],
             dtype="int32"),
    ],
    "ClassToken": [Case({}, [[4, 3]]), Case({"initializer": "zeros"}, [[2, 5]])],
}  # fmt: skip

INVALID: dict[str, list[Invalid]] = {
    "TransformerEncoder": [
        Invalid({"intermediate_dim": 4, "num_heads": 5}, [[3, 4]],
                "Attention `key_dim` computed cannot be zero", id="heads"),
        Invalid({"intermediate_dim": 4, "num_heads": 1}, [[3, 4], [4]],
                "TransformerEncoder: a padding mask has shape", id="padding"),
        Invalid({"intermediate_dim": 4, "num_heads": 1}, [[3, None]],
                "TransformerEncoder: `inputs` needs a known feature size. "
                "Received: inputs_shape=(None, 3, None)", id="features"),
    ],
    "TransformerDecoder": [
        Invalid({"intermediate_dim": 4, "num_heads": 1}, [[3]],
                "TransformerDecoder expects an input of rank 3", id="rank"),
    ],
    "PositionEmbedding": [
        Invalid({"sequence_length": 3}, [[4, 2]], "embeds at most sequence_length=3", id="long"),
    ],
    "SinePositionEncoding": [],
    "RotaryEmbedding": [
        Invalid({}, [[4, 3]], "Rotary dimension must be even", id="odd"),
    ],
    "ReversibleEmbedding": [],
    "ClassToken": [Invalid({}, [[3, 4, 5]], "expects an input of rank 3", id="rank")],
}  # fmt: skip

# keras_hub layers (keras_hub is not a test dependency): NumPy references of its formulas.


def _position(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    steps = xs[0].shape[1]
    return [np.broadcast_to(p["embeddings"][:steps], xs[0].shape)]


def _sine(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    _, steps, width = xs[0].shape  # keras_hub: sin on even features, cos on odd, per position
    position = np.arange(steps)[:, None]
    rate = 1.0 / spec.max_wavelength ** (2 * (np.arange(width) // 2) / width)
    angle = position * rate[None]
    table = np.where(np.arange(width) % 2 == 0, np.sin(angle), np.cos(angle))
    return [np.broadcast_to(table, xs[0].shape)]


def _class_token(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    token = np.broadcast_to(p["class_token"], (len(xs[0]), 1, xs[0].shape[2]))
    return [np.concatenate([token, xs[0]], axis=1)]


# TransformerEncoder / TransformerDecoder at inference, from keras-hub's code:
# keras_hub/src/layers/modeling/transformer_encoder.py, transformer_decoder.py (`call`,
# `_compute_self_attention_mask`) and transformer_layer_utils.py
# (`merge_padding_and_attention_mask`, `compute_causal_mask`), over Keras 3's
# keras/src/layers/attention/multi_head_attention.py (`_compute_attention`, `_masked_softmax`)
# and keras/src/layers/activations/softmax.py. Each block is `norm(x + sublayer(x))`, or with
# `normalize_first` `x + sublayer(norm(x))`; LayerNormalization has the spec's epsilon; the
# feedforward is `output_dense(activation(intermediate_dense(x)))`; a padding mask `(B, S)`
# and an attention mask `(B, T, S)` are cast to int32 and merged by `minimum`, the decoder's
# causal mask `i >= j` joins its self-attention mask by `minimum` too, and MHA keeps the
# nonzero positions. Masked scores are replaced by -1e9 before the softmax; on Keras' einsum
# path (attention dropout > 0) the masked probabilities are then zeroed, so a fully masked
# query row gives zeros, while the fused `dot_product_attention` (dropout 0) averages the
# values there. The conformance inputs are standard normal, so a mask input keeps the
# positions whose value truncates to a nonzero int32 (|x| >= 1); `minimum` keeps a negative
# entry, which the masks of keras-hub's domain (booleans, 0/1) never have. (The decoder's
# CachedMultiHeadAttention hands its int mask straight to `_compute_attention`, whose einsum
# path keeps the entries > 0.5 rather than the nonzero ones: no row here has decoder dropout.)

_ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "gelu": lambda x: 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0))),
}


def _merge(padding: np.ndarray | None, attention: np.ndarray | None) -> np.ndarray | None:
    mask = None if padding is None else padding.astype(np.int32)[:, None, :]
    if attention is None:
        return mask
    attention = attention.astype(np.int32)
    return attention if mask is None else np.minimum(mask, attention)


def _norm(spec: Any, p: dict[str, np.ndarray], name: str, x: np.ndarray) -> np.ndarray:
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    scaled = (x - mean) / np.sqrt(var + spec.layer_norm_epsilon)
    return scaled * p[f"{name}/gamma"] + p[f"{name}/beta"]


def _mha(spec: Any, p: dict[str, np.ndarray], name: str, query: np.ndarray, value: np.ndarray,
         mask: np.ndarray | None) -> np.ndarray:  # fmt: skip
    def dense(x: np.ndarray, part: str) -> np.ndarray:
        return np.einsum("btd,dnh->btnh", x, p[f"{name}/{part}/kernel"]) + p[f"{name}/{part}/bias"]

    q, k, v = dense(query, "query"), dense(value, "key"), dense(value, "value")
    scores = np.einsum("bsnh,btnh->bnts", k, q / math.sqrt(q.shape[-1]))
    keep = None if mask is None else mask.astype(bool)[:, None]
    if keep is not None:
        scores = np.where(keep, scores, -1e9)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    if keep is not None and spec.dropout > 0.0:
        probs = np.where(keep, probs, 0.0)
    out = np.einsum("bnts,bsnh->btnh", probs, v)
    kernel = p[f"{name}/attention_output/kernel"]
    return np.einsum("btnh,nhd->btd", out, kernel) + p[f"{name}/attention_output/bias"]


def _block(spec: Any, p: dict[str, np.ndarray], norm: str, x: np.ndarray,
           sublayer: Any) -> np.ndarray:  # fmt: skip
    if spec.normalize_first:
        return x + sublayer(_norm(spec, p, norm, x))
    return _norm(spec, p, norm, x + sublayer(x))


def _feedforward(spec: Any, p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    inner, outer = "feedforward_intermediate_dense", "feedforward_output_dense"
    h = _ACTIVATIONS[spec.activation](x @ p[f"{inner}/kernel"] + p[f"{inner}/bias"])
    return h @ p[f"{outer}/kernel"] + p[f"{outer}/bias"]


def _encoder(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    x, padding, attention = [*xs, None, None][:3]
    mask = _merge(padding, attention)
    name = "self_attention_layer"
    x = _block(spec, p, f"{name}_norm", x, lambda h: _mha(spec, p, name, h, h, mask))
    return [_block(spec, p, "feedforward_layer_norm", x, lambda h: _feedforward(spec, p, h))]


def _decoder(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    x, enc, dec_pad, dec_att, enc_pad, enc_att = [*xs, *[None] * 5][:6]
    mask = _merge(dec_pad, dec_att)
    if spec.use_causal_mask:
        steps = np.arange(x.shape[1])
        causal = np.broadcast_to(steps[:, None] >= steps[None, :], (len(x), *steps.shape * 2))
        mask = causal if mask is None else np.minimum(mask, causal)
    x = _block(spec, p, "self_attention_layer_norm", x,
               lambda h: _mha(spec, p, "self_attention", h, h, mask))  # fmt: skip
    if enc is not None:
        cross = _merge(enc_pad, enc_att)
        x = _block(spec, p, "cross_attention_layer_norm", x,
                   lambda h: _mha(spec, p, "cross_attention", h, enc, cross))  # fmt: skip
    return [_block(spec, p, "feedforward_layer_norm", x, lambda h: _feedforward(spec, p, h))]


REFERENCES = [
    NumpyReference("TransformerEncoder", CASES["TransformerEncoder"][0], _encoder),
    NumpyReference("TransformerEncoder", CASES["TransformerEncoder"][1], _encoder),
    NumpyReference("TransformerEncoder", CASES["TransformerEncoder"][3], _encoder),
    NumpyReference("TransformerDecoder", CASES["TransformerDecoder"][0], _decoder),
    NumpyReference("TransformerDecoder", CASES["TransformerDecoder"][1], _decoder),
    NumpyReference("TransformerDecoder", CASES["TransformerDecoder"][2], _decoder),
    NumpyReference("PositionEmbedding", CASES["PositionEmbedding"][0], _position),
    NumpyReference("SinePositionEncoding", CASES["SinePositionEncoding"][1], _sine),
    NumpyReference("ClassToken", CASES["ClassToken"][0], _class_token),
]
