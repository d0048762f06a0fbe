"""Conformance cases of the spatial reshaping layers: cropping, zero padding, upsampling."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

CF = {"data_format": "channels_first"}

CASES: dict[str, list[Case]] = {
    "Cropping1D": [
        Case({}, [[5, 3]]),
        Case({"cropping": [0, 2]}, [[None, 3]], id="unknown-steps"),
    ],
    "Cropping2D": [
        Case({"cropping": 1}, [[5, 6, 2]]),
        Case({"cropping": [[1, 0], [1, 1]], **CF}, [[2, 5, None]], id="asymmetric-cf"),
    ],
    "Cropping3D": [
        Case({}, [[4, 5, 6, 2]]),
        Case({"cropping": [1, [0, 2], 0], **CF}, [[2, 3, 4, 5]], id="mixed-cf"),
    ],
    "ZeroPadding1D": [
        Case({}, [[5, 3]]),
        Case({"padding": [2, 0], **CF}, [[3, None]], id="asymmetric-cf"),
    ],
    "ZeroPadding2D": [
        Case({}, [[4, 4, 2]]),
        Case({"padding": [[0, 1], [2, 3]], **CF}, [[2, 3, None]], id="asymmetric-cf"),
    ],
    "ZeroPadding3D": [
        Case({"padding": 1}, [[2, 3, 4, 2]]),
        Case({"padding": [1, 0, [0, 2]], **CF}, [[2, 3, 3, 2]], id="mixed-cf"),
    ],
    "UpSampling1D": [
        Case({}, [[4, 3]]),
        Case({"size": 3}, [[None, 2]], id="unknown-steps"),
    ],
    "UpSampling2D": [
        Case({"size": [2, 3]}, [[3, 4, 2]]),
        Case({"interpolation": "bilinear", **CF}, [[2, 3, None]], id="bilinear-cf"),
        Case({"interpolation": "bicubic", "size": 3}, [[3, 3, 1]], id="bicubic"),
    ],
    "UpSampling3D": [
        Case({}, [[2, 3, 2, 2]]),
        Case({"size": [1, 2, 3], **CF}, [[2, 2, 3, 2]], id="cf"),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "Cropping1D": [
        Invalid({"cropping": [2, 3]}, [[5, 3]], "cropping must leave at least one element"),
        Invalid({}, [[5]], "rank 3", id="rank-2"),
    ],
    "Cropping2D": [
        Invalid({"cropping": [[1, 1], [2, 2]]}, [[5, 4, 1]], "Received: shape="),
    ],
    "Cropping3D": [Invalid({}, [[2, 5, 5, 1]], "cropping must leave at least one element")],
    "ZeroPadding1D": [Invalid({}, [[5, 3, 2]], "rank 3", id="rank-4")],
    "ZeroPadding2D": [Invalid({}, [[5, 3]], "rank 4", id="rank-3")],
    "ZeroPadding3D": [Invalid({}, [[5, 3, 2]], "rank 5", id="rank-4")],
    "UpSampling1D": [Invalid({}, [[5, 3, 2]], "rank 3", id="rank-4")],
    "UpSampling2D": [Invalid({}, [[5, 3]], "rank 4", id="rank-3")],
    "UpSampling3D": [Invalid({}, [[5, 3, 2]], "rank 5", id="rank-4")],
}

REFERENCES = [
    KerasReference("Cropping2D", CASES["Cropping2D"][0]),
    KerasReference("Cropping2D", CASES["Cropping2D"][1]),  # channels_first
    KerasReference("ZeroPadding3D", CASES["ZeroPadding3D"][1]),
    KerasReference("UpSampling2D", CASES["UpSampling2D"][0]),
]
