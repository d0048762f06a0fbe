"""Conformance cases of ConvLSTM2D."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

_CF = {"data_format": "channels_first"}

CASES: dict[str, list[Case]] = {
    "ConvLSTM2D": [
        Case({"filters": 2, "kernel_size": 3}, [[3, 5, 6, 2]]),
        Case(
            {
                "filters": 2,
                "kernel_size": 2,
                "padding": "same",
                "strides": 2,
                "return_sequences": True,
                "return_state": True,
                **_CF,
            },
            [[None, 2, 5, 4]],
            id="rs-st-cf",
        ),
        Case(
            {"filters": 3, "kernel_size": [3, 2], "go_backwards": True, "unroll": True},
            [[3, 4, 4, 1]],
            id="unroll-backwards",
        ),
        Case(
            {"filters": 2, "kernel_size": 3, "dropout": 0.5, "recurrent_dropout": 0.3},
            [[3, 5, 5, 2]],
            training=True,
        ),
        Case(
            {"filters": 2, "kernel_size": 2, "use_bias": False, "dilation_rate": 2},
            [[2, 5, 5, 1]],
            id="no-bias-dilated",
        ),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "ConvLSTM2D": [
        Invalid({"filters": 2, "kernel_size": 3}, [[5, 4, 2]], "expects an input of rank 5"),
        Invalid({"filters": 2, "kernel_size": 3}, [[2, 4, 4, None]], "known channel dimension"),
        Invalid({"filters": 2, "kernel_size": 5}, [[2, 4, 4, 1]], "does not fit", id="small"),
        Invalid(
            {"filters": 2, "kernel_size": 3, "unroll": True},
            [[None, 4, 4, 1]],
            "unroll=True needs a known number",
        ),
        Invalid(
            {"filters": 2, "kernel_size": 3, "stateful": True},
            [[2, 4, 4, 1]],
            "stateful=True needs a fixed batch size",
        ),
        Invalid(
            {"filters": 2, "kernel_size": 3, "padding": "same"},
            [[2, 4, 4, 1], [4, 4, 3], [4, 4, 2]],
            "must have shape",
            id="bad-state",
        ),
    ],
}

REFERENCES = [KerasReference("ConvLSTM2D", CASES["ConvLSTM2D"][0])]
