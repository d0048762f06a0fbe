"""Conformance cases of the normalization layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

CASES: dict[str, list[Case]] = {
    "BatchNormalization": [
        Case({}, [[4]]),
        Case({"axis": 1, "center": False}, [[3, 4, 5]], id="channels-first"),
        Case({"momentum": 0.5, "scale": False}, [[None, 3]], training=True, id="training"),
    ],
    "LayerNormalization": [
        Case({}, [[3, 4]]),
        Case({"axis": [1, 2], "scale": False}, [[3, 4]], id="axes"),
        Case({"rms_scaling": True}, [[None, 4]], id="rms-scaling"),
    ],
    "GroupNormalization": [
        Case({"groups": 2}, [[3, 4]]),
        Case({"groups": -1, "axis": 1}, [[3, 2, 2]], id="instance-channels-first"),
    ],
    "UnitNormalization": [
        Case({}, [[4]]),
        Case({"axis": [-2, -1]}, [[None, 3]], id="axes"),
    ],
    "RMSNormalization": [
        Case({}, [[3, 4]]),
        Case({"axis": [1, 2], "epsilon": 0.1}, [[2, 3]], id="axes"),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "BatchNormalization": [
        Invalid({"axis": 3}, [[4]], "Axis 3 is out of bounds", id="axis-out-of-bounds"),
        Invalid({"axis": 1}, [[None, 4]], "needs a known size on axis 1", id="unknown-size"),
    ],
    "LayerNormalization": [
        Invalid({"axis": [-1, -3]}, [[4]], "Axis -3 is out of bounds", id="axis-out-of-bounds"),
    ],
    "GroupNormalization": [
        Invalid({"groups": 3}, [[4]], "must be a multiple of the number of groups"),
        Invalid({}, [[2, 4]], "cannot be more than the number of channels", id="default-32-groups"),
    ],
    "UnitNormalization": [Invalid({"axis": 2}, [[4]], "Axis 2 is out of bounds")],
    "RMSNormalization": [Invalid({"axis": 1}, [[None, 3]], "needs a known size on axis 1")],
}

REFERENCES = [  # moving statistics, gamma and beta all random
    KerasReference("BatchNormalization", CASES["BatchNormalization"][1]),
    KerasReference("LayerNormalization", CASES["LayerNormalization"][0]),
    KerasReference("GroupNormalization", CASES["GroupNormalization"][0]),
    KerasReference("UnitNormalization", CASES["UnitNormalization"][0]),
]
