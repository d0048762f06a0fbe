"""Conformance cases of Embedding."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

CASES: dict[str, list[Case]] = {
    "Embedding": [
        Case({"input_dim": 10, "output_dim": 3}, [[4]], dtype="int32"),
        Case({"input_dim": 7, "output_dim": 2, "mask_zero": True}, [[None]], dtype="int32"),
        Case({"input_dim": 5, "output_dim": 4, "input_length": 3}, [[3]], id="input-length"),
        Case({"input_dim": 6, "output_dim": 2}, [[2, 3]], id="rank-3-ids"),
        Case({"input_dim": 6, "output_dim": 3, "lora_rank": 2}, [[4]], id="lora"),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "Embedding": [
        Invalid(
            {"input_dim": 5, "output_dim": 2, "input_length": 4},
            [[3]],
            "input_length=4 expects ids of shape",
            id="length-mismatch",
        ),
        Invalid(
            {"input_dim": 5, "output_dim": 2, "input_length": 4},
            [[4, 2]],
            "input_length=4 expects ids",
            id="rank-3-with-length",
        ),
    ],
}

REFERENCES = [KerasReference("Embedding", CASES["Embedding"][0])]
