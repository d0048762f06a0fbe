"""Conformance cases of the preprocessing layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

CASES: dict[str, list[Case]] = {
    "Rescaling": [
        Case({"scale": 0.5, "offset": -1.0}, [[4, 4, 3]]),
        Case({"scale": [1.0, 2.0, 3.0]}, [[2, 3]], id="per-channel"),
    ],
    "Normalization": [
        Case({}, [[5]], id="state"),
        Case({"axis": [1, 2]}, [[2, 3]], id="two-axes-state"),
        Case({"mean": [1.0, 2.0], "variance": [4.0, 9.0], "invert": True}, [[3, 2]], id="given"),
    ],
    "Resizing": [
        Case({"height": 3, "width": 5}, [[6, 4, 2]]),
        Case({"height": 8, "width": 8, "interpolation": "nearest"}, [[4, 4, 1]], id="nearest"),
        Case({"height": 2, "width": 3, "data_format": "channels_first"}, [[2, 4, 4]], id="cf"),
    ],
    "CenterCrop": [
        Case({"height": 2, "width": 3}, [[5, 6, 2]]),
        Case({"height": 2, "width": 2, "data_format": "channels_first"}, [[1, 3, 4]], id="cf"),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "Rescaling": [],
    "Normalization": [Invalid({"axis": 3}, [[4, 2]], "must be in the range")],
    "Resizing": [Invalid({"height": 2, "width": 2}, [[4, 4]], "rank 4", id="rank-3")],
    "CenterCrop": [Invalid({"height": 5, "width": 2}, [[4, 4, 1]], "at least as large")],
}

REFERENCES = [
    KerasReference("Rescaling", CASES["Rescaling"][0]),
    KerasReference("Normalization", CASES["Normalization"][2]),
    KerasReference("CenterCrop", CASES["CenterCrop"][0]),
]
