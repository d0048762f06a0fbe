"""Conformance cases of the keras.applications helper layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.conformance.cases import Case, Invalid, NumpyReference

CASES: dict[str, list[Case]] = {
    "LayerScale": [
        Case({"init_values": 1e-6, "projection_dim": 4}, [[3, 4]]),
        Case({"init_values": 0.5, "projection_dim": 3}, [[5, 5, 3]]),  # ConvNeXt: NHWC
    ],
    "CustomScaleLayer": [
        Case({"scale": 0.17}, [[3, 4], [3, 4]]),
        Case({"scale": 1.0}, [[4, 4, 2], [4, 4, 2]]),  # InceptionResNetV2: feature maps
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "LayerScale": [
        Invalid({"init_values": 1.0, "projection_dim": 5}, [[3, 4]], "projection_dim=5", id="dim")
    ],
    "CustomScaleLayer": [
        Invalid({"scale": 1.0}, [[3, 4], [3, 2]], "same shape", id="shapes"),
    ],
}

# Keras keeps these inside keras.applications, not keras.layers: NumPy references.


def _layer_scale(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    return [xs[0] * p["gamma"]]  # y = x * gamma, per channel


def _custom_scale(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    return [xs[0] + xs[1] * spec.scale]  # InceptionResNetV2: y = x0 + scale * x1


REFERENCES = [
    NumpyReference("LayerScale", CASES["LayerScale"][1], _layer_scale),
    NumpyReference("CustomScaleLayer", CASES["CustomScaleLayer"][0], _custom_scale),
]
