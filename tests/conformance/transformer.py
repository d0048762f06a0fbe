"""Conformance cases of the keras-hub building blocks."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid

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
