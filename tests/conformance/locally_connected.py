"""Conformance cases of the locally connected layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.conformance.cases import Case, Invalid, NumpyReference

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

# Gone from Keras 3: a NumPy loop over output positions, each with its own kernel (Keras 2).


def _local_1d(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    (x,) = xs  # (batch, steps, channels), stride 1, valid padding, no activation
    (k,) = spec.kernel_size if isinstance(spec.kernel_size, tuple) else (spec.kernel_size,)
    steps = x.shape[1] - k + 1
    out = [
        x[:, t : t + k, :].reshape(len(x), -1) @ p["kernel"][t] + p["bias"][t] for t in range(steps)
    ]
    return [np.stack(out, axis=1)]


REFERENCES = [NumpyReference("LocallyConnected1D", CASES["LocallyConnected1D"][0], _local_1d)]
