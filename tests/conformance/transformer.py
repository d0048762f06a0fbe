"""Conformance cases of the keras-hub building blocks."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.conformance.cases import Case, Invalid, NumpyReference

CASES: dict[str, list[Case]] = {
    "TransformerEncoder": [
        Case({"intermediate_dim": 8, "num_heads": 2}, [[5, 4]]),
        Case({"intermediate_dim": 6, "num_heads": 1, "normalize_first": True}, [[None, 3]]),
        Case({"intermediate_dim": 6, "num_heads": 2, "dropout": 0.5}, [[3, 4]], training=True),
    ],
    "TransformerDecoder": [
        Case({"intermediate_dim": 8, "num_heads": 2}, [[5, 4]]),
        Case({"intermediate_dim": 8, "num_heads": 2, "use_causal_mask": False}, [[5, 4], [3, 6]]),
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
    ],
    "TransformerDecoder": [
        Invalid({"intermediate_dim": 4, "num_heads": 1}, [[3]], "expects an input of rank 3",
                id="rank"),
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


REFERENCES = [
    NumpyReference("PositionEmbedding", CASES["PositionEmbedding"][0], _position),
    NumpyReference("SinePositionEncoding", CASES["SinePositionEncoding"][1], _sine),
    NumpyReference("ClassToken", CASES["ClassToken"][0], _class_token),
]
