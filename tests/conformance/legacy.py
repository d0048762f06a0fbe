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


_ACTIVATIONS = {None: lambda v: v, "relu": lambda v: np.maximum(v, 0.0)}
"""The activations the Highway cases use (None: Keras 1's default, linear)."""


def _highway(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    """Keras 1 `Highway.call`: y = t * activation(x W + b) + (1 - t) * x, t = sigmoid(x W_carry
    + b_carry); `bias=False` drops both biases."""
    x = xs[0]
    carry_bias, bias = (p["carry_bias"], p["bias"]) if spec.use_bias else (0.0, 0.0)
    transform = 1.0 / (1.0 + np.exp(-(x @ p["carry_kernel"] + carry_bias)))
    value = _ACTIVATIONS[spec.activation](x @ p["kernel"] + bias)
    return [transform * value + (1.0 - transform) * x]


REFERENCES = [
    NumpyReference("MaxoutDense", CASES["MaxoutDense"][0], _maxout),
    NumpyReference("MaxoutDense", CASES["MaxoutDense"][1], _maxout),
    NumpyReference("Highway", CASES["Highway"][0], _highway),
    NumpyReference("Highway", CASES["Highway"][1], _highway),
]
