"""Conformance cases of the core layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

CASES: dict[str, list[Case]] = {
    "Dense": [
        Case({"units": 3}, [[4]]),
        Case({"units": 5, "activation": "relu", "use_bias": False}, [[6, 4]]),
        Case({"units": 1, "kernel_initializer": {"RandomNormal": {"stddev": 0.1}}}, [[2, 3, 4]]),
        Case({"units": 2}, [[None, 4]], id="unknown-time"),
        Case({"units": 3, "lora_rank": 2}, [[4]], id="lora"),
    ],
    "Identity": [Case({}, [[4]]), Case({}, [[None, 3]])],
    "Activation": [
        Case({"activation": "tanh"}, [[5]]),
        Case({"activation": "softmax"}, [[3, 4]]),
        Case({"activation": "glu"}, [[3, 4]], id="glu"),  # halves the last axis
    ],
    "Dropout": [
        Case({"rate": 0.5}, [[6]]),
        Case({"rate": 0.3, "seed": 3}, [[4, 5]], training=True),
        Case({"rate": 0.5, "noise_shape": [None, 1, 5]}, [[4, 5]], training=True),
    ],
    "Flatten": [
        Case({}, [[2, 3, 4]]),
        Case({}, [[7]]),
        Case({"data_format": "channels_first"}, [[2, 3, 4]]),
    ],
    "Reshape": [
        Case({"target_shape": [3, 4]}, [[12]]),
        Case({"target_shape": [-1, 2]}, [[3, 4]]),
        Case({"target_shape": [-1]}, [[2, 3, 2]]),
    ],
    "Permute": [
        Case({"dims": [2, 1]}, [[3, 4]]),
        Case({"dims": [3, 1, 2]}, [[2, 3, 4]]),
    ],
    "RepeatVector": [
        Case({"n": 3}, [[4]]),
        Case({"n": 1}, [[2]]),
    ],
    "Lambda": [
        Case({"expression": "x ** 2"}, [[4]]),
        Case({"expression": "mean(x, axis=1)"}, [[3, 4]]),
        Case({"expression": "x0 + x1"}, [[4], [4]], id="two-inputs"),
        Case({"expression": "concatenate([x, x], axis=-1)", "output_shape": [3, 8]}, [[3, 4]]),
    ],
    "ActivityRegularization": [
        Case({"l1": 0.01}, [[4]]),
        Case({"l2": 0.1}, [[2, 3]], training=True),
    ],
    "Masking": [
        Case({}, [[3, 4]]),
        Case({"mask_value": 1.0}, [[5, 2]]),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "Identity": [],
    "Dense": [
        Invalid({"units": 3}, [[]], "rank >= 2", id="rank-1"),
        Invalid({"units": 3}, [[4, None]], "known last dimension", id="unknown-features"),
    ],
    "Reshape": [
        Invalid({"target_shape": [5]}, [[12]], "cannot reshape", id="size-mismatch"),
        Invalid({"target_shape": [-1, 5]}, [[12]], "do not divide", id="not-divisible"),
    ],
    "Permute": [
        Invalid({"dims": [2, 1]}, [[3]], "Permute expects an input of rank 3", id="rank-mismatch"),
    ],
    "RepeatVector": [Invalid({"n": 2}, [[3, 4]], "rank 2", id="rank-3")],
    "Dropout": [Invalid({"rate": 0.5, "noise_shape": [None, 3]}, [[4]], "broadcast")],
    "Lambda": [
        Invalid({"expression": "x @ x"}, [[3]], "Lambda expression failed", id="bad-matmul"),
        Invalid({"expression": "reshape(x, (5,))"}, [[4]], "Lambda expression failed"),
    ],
    "Activation": [
        Invalid({"activation": "glu"}, [[4, 3]], "glu halves the last axis", id="glu-odd"),
    ],
    "Flatten": [],
    "ActivityRegularization": [],
    "Masking": [],
}

REFERENCES = [
    KerasReference("Dense", CASES["Dense"][0]),
    KerasReference("Dense", CASES["Dense"][1]),
    KerasReference("Permute", CASES["Permute"][1]),
    KerasReference("Flatten", CASES["Flatten"][2]),
    KerasReference("Activation", CASES["Activation"][2]),
]
