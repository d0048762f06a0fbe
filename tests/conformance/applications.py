"""Conformance cases of the keras.applications helper layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid

CASES: dict[str, list[Case]] = {
    "LayerScale": [Case({"init_values": 1e-6, "projection_dim": 4}, [[3, 4]])],
    "CustomScaleLayer": [Case({"scale": 0.17}, [[3, 4], [3, 4]])],
}

INVALID: dict[str, list[Invalid]] = {
    "LayerScale": [
        Invalid({"init_values": 1.0, "projection_dim": 5}, [[3, 4]], "projection_dim=5", id="dim")
    ],
    "CustomScaleLayer": [
        Invalid({"scale": 1.0}, [[3, 4], [3, 2]], "same shape", id="shapes"),
    ],
}
