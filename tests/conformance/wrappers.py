"""Conformance cases of the wrapper layers (TimeDistributed, Bidirectional)."""

from __future__ import annotations

import keras

from tests.conformance.cases import Case, Invalid, KerasReference

_LSTM = {"type": "LSTM", "units": 2}

CASES: dict[str, list[Case]] = {
    "TimeDistributed": [
        Case({"layer": {"type": "Dense", "units": 3}}, [[4, 5]]),
        Case({"layer": {"type": "Conv2D", "filters": 2, "kernel_size": 3}}, [[None, 5, 5, 1]],
             id="conv2d"),
    ],
    "Bidirectional": [
        Case({"layer": _LSTM}, [[4, 3]]),
        Case({"layer": {**_LSTM, "return_sequences": True, "return_state": True},
              "merge_mode": None}, [[None, 3]], id="none-states"),
        Case({"layer": {"type": "GRU", "units": 2, "return_sequences": True},
              "merge_mode": "ave"}, [[4, 3]], id="gru-ave"),
    ],
}  # fmt: skip

INVALID: dict[str, list[Invalid]] = {
    "TimeDistributed": [
        Invalid({"layer": {"type": "Dense", "units": 3}}, [[4]], "expects an input of rank"),
    ],
    "Bidirectional": [
        Invalid({"layer": _LSTM}, [[4]], "expects an input of rank 3"),
        Invalid({"layer": _LSTM}, [[4, 3], [2]], "forward and the backward initial states"),
    ],
}

REFERENCES = [
    KerasReference(
        "TimeDistributed",
        CASES["TimeDistributed"][0],
        lambda: keras.layers.TimeDistributed(keras.layers.Dense(3)),
    ),
    KerasReference(
        "Bidirectional",
        CASES["Bidirectional"][0],
        lambda: keras.layers.Bidirectional(keras.layers.LSTM(2)),
    ),
]
