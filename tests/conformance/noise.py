"""Conformance cases of the noise layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

CASES: dict[str, list[Case]] = {
    "GaussianNoise": [
        Case({"stddev": 0.3}, [[4]]),
        Case({"stddev": 0.5, "seed": 2}, [[3, 4]], training=True),
    ],
    "GaussianDropout": [
        Case({"rate": 0.3}, [[4]]),
        Case({"rate": 0.5}, [[3, 4]], training=True),
    ],
    "AlphaDropout": [
        Case({"rate": 0.2}, [[4]]),
        Case({"rate": 0.2, "noise_shape": [None, 1, 4]}, [[3, 4]], training=True),
    ],
    "SpatialDropout1D": [
        Case({"rate": 0.5}, [[5, 3]]),
        Case({"rate": 0.5}, [[None, 3]], training=True),
    ],
    "SpatialDropout2D": [
        Case({"rate": 0.5}, [[4, 4, 3]], training=True),
        Case({"rate": 0.5, "data_format": "channels_first"}, [[3, 4, 4]], training=True),
    ],
    "SpatialDropout3D": [
        Case({"rate": 0.5}, [[2, 2, 2, 3]], training=True),
        Case({"rate": 0.2, "data_format": "channels_first"}, [[3, 2, 2, 2]]),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "AlphaDropout": [Invalid({"rate": 0.5, "noise_shape": [None, 3]}, [[4]], "broadcast")],
    "SpatialDropout1D": [Invalid({"rate": 0.5}, [[4]], "rank 3", id="rank-2")],
    "SpatialDropout2D": [Invalid({"rate": 0.5}, [[4, 3]], "rank 4", id="rank-3")],
    "SpatialDropout3D": [Invalid({"rate": 0.5}, [[4, 4, 3]], "rank 5", id="rank-4")],
    "GaussianNoise": [],
    "GaussianDropout": [],
}

REFERENCES = [  # at inference: the identity, as Keras
    KerasReference("GaussianNoise", CASES["GaussianNoise"][0]),
    KerasReference("AlphaDropout", CASES["AlphaDropout"][0]),
]
