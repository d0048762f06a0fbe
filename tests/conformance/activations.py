"""Conformance cases of the advanced activation layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

CASES: dict[str, list[Case]] = {
    "ReLU": [
        Case({}, [[4]]),
        Case({"max_value": 1.5, "negative_slope": 0.1, "threshold": 0.5}, [[3, 4]], id="all"),
    ],
    "LeakyReLU": [Case({}, [[4]]), Case({"negative_slope": 0.05}, [[None, 3]], id="slope")],
    "PReLU": [
        Case({"shared_axes": [1, 2]}, [[3, 4, 2]], id="shared"),
        Case({"shared_axes": 1, "alpha_initializer": "ones"}, [[None, 3]], id="unknown-time"),
    ],
    "ELU": [Case({}, [[4]]), Case({"alpha": 0.5}, [[2, 3]], id="alpha")],
    "ThresholdedReLU": [Case({}, [[4]]), Case({"theta": 0.2}, [[2, 3]], id="theta")],
    "Softmax": [
        Case({}, [[4]]),
        Case({"axis": [1, 2]}, [[3, 4]], id="axes"),
        Case({}, [[3, 4], [1, 4]], id="mask-input"),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "PReLU": [
        Invalid({}, [[None, 3]], "known sizes", id="unknown"),
        Invalid(
            {"shared_axes": [3]}, [[4, 3]], "name axes the input does not have", id="axis-range"
        ),
    ],
    "Softmax": [Invalid({}, [[3, 4], [3, 3]], "must broadcast", id="mask-shape")],
    "ReLU": [],
    "LeakyReLU": [],
    "ELU": [],
    "ThresholdedReLU": [],
}

REFERENCES = [
    KerasReference("PReLU", CASES["PReLU"][0]),  # a weight of its own, randomised
    KerasReference("ReLU", CASES["ReLU"][1]),
    KerasReference("Softmax", CASES["Softmax"][1]),
]
