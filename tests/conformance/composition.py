"""Conformance cases of sub-model nodes (`type: Model`).

No invalid-shape rows: a Model node is lowered with its compiled sub-model, which the
registry's placeholder does not have; tests/test_submodels.py checks shape mismatches."""

from __future__ import annotations

import keras

from tests.conformance.cases import Case, Invalid, KerasReference

_MLP = {"inputs": {"x": [5]}, "layers": [{"type": "Dense", "units": 3, "activation": "relu"}]}
_TWO_IN_TWO_OUT = {
    "inputs": {"a": [None, 4], "b": [None, 4]},
    "layers": [
        {"type": "Add", "inputs": ["a", "b"]},
        {"type": "BatchNormalization"},
        {"type": "Dropout", "rate": 0.5},
        {"type": "LSTM", "units": 2, "return_state": True},
    ],
}
_NESTED = {
    "inputs": {"image": [6, 6, 2]},
    "layers": [
        {"type": "Model", "name": "features", "spec": {
            "inputs": {"x": [None, None, 2]},
            "layers": [{"type": "Conv2D", "filters": 3, "kernel_size": 3},
                       {"type": "GlobalAveragePooling2D"}],
        }},
        {"type": "Dense", "units": 2},
    ],
}  # fmt: skip

CASES: dict[str, list[Case]] = {
    "Model": [
        Case({"spec": _MLP}, [[5]]),
        Case({"spec": _TWO_IN_TWO_OUT}, [[None, 4], [None, 4]], training=True, id="bn-lstm"),
        Case({"spec": _NESTED}, [[6, 6, 2]], id="nested"),
    ],
}

INVALID: dict[str, list[Invalid]] = {"Model": []}

REFERENCES = [
    KerasReference(
        "Model",
        CASES["Model"][0],
        lambda: keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="relu")]),
    ),
]
