"""Conformance cases of the locally connected layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid

CASES: dict[str, list[Case]] = {
    "LocallyConnected1D": [
        Case({"filters": 3, "kernel_size": 2}, [[6, 4]]),
        Case(
            {"filters": 2, "kernel_size": 3, "strides": 2, "data_format": "channels_first"},
            [[3, 7]],
            id="strided-cf",
        ),
    ],
    "LocallyConnected2D": [
        Case({"filters": 3, "kernel_size": [2, 3], "activation": "relu"}, [[5, 6, 2]]),
        Case(
            {"filters": 2, "kernel_size": 2, "strides": [2, 1], "use_bias": False},
            [[5, 4, 3]],
            id="strided-no-bias",
        ),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "LocallyConnected1D": [
        Invalid({"filters": 2, "kernel_size": 3}, [[None, 4]], "needs known spatial"),
        Invalid({"filters": 2, "kernel_size": 5}, [[4, 4]], "is larger than the input"),
    ],
    "LocallyConnected2D": [
        Invalid({"filters": 2, "kernel_size": 3}, [[4, 2, 1]], "is larger than the input"),
        Invalid({"filters": 2, "kernel_size": 1}, [[4, 4]], "rank 4", id="rank-3"),
    ],
}
