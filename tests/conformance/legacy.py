"""Conformance cases of the Keras 1 layers MaxoutDense and Highway."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.conformance.cases import Case, Invalid, NumpyReference

CASES: dict[str, list[Case]] = {
    "MaxoutDense": [
        Case({"units": 3}, [[5]]),
        Case({"units": 2, "nb_feature": 2, "use_bias": False}, [[4]], id="no-bias"),
    ],
    "Highway": [
        Case({}, [[4]]),
        Case({"activation": "relu", "use_bias": False}, [[3]], id="relu-no-bias"),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "MaxoutDense": [Invalid({"units": 2}, [[3, 4]], "rank 2", id="rank-3")],
    "Highway": [Invalid({}, [[None]], "known last dimension")],
}

# Keras 1 layers, gone from Keras 3: NumPy references of Keras 1's formulas.


def _maxout(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    pieces = [
        xs[0] @ p["kernel"][k] + (p["bias"][k] if spec.use_bias else 0.0)
        for k in range(spec.nb_feature)
    ]
    return [np.max(pieces, axis=0)]


def _highway(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    transform = 1.0 / (1.0 + np.exp(-(x @ p["carry_kernel"] + p["carry_bias"])))
    value = x @ p["kernel"] + p["bias"]  # Keras 1's default activation: linear
    return [transform * value + (1.0 - transform) * x]


REFERENCES = [
    NumpyReference("MaxoutDense", CASES["MaxoutDense"][0], _maxout),
    NumpyReference("MaxoutDense", CASES["MaxoutDense"][1], _maxout),
    NumpyReference("Highway", CASES["Highway"][0], _highway),
]
