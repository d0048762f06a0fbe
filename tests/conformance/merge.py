"""Conformance cases of the merge layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

# One shared implementation: Add covers the shape rule, the others one row each more.
_ELEMENTWISE = {
    name: [Case({}, [[4], [4]]), Case({}, [[3, 4], [1, 4], [3, 1]], id="broadcast")]
    for name in ("Multiply", "Average", "Maximum", "Minimum")
}
_ELEMENTWISE["Add"] = [
    *_ELEMENTWISE["Multiply"],
    Case({}, [[3, 4], [4]], id="lower-rank"),
    Case({}, [[None, 4], [None, 4]], id="unknown-time"),
]
_BAD_ELEMENTWISE = {
    name: [
        Invalid({}, [[3], [4]], "incompatible shapes", id="3-vs-4"),
        Invalid({}, [[2, 3], [3, 3]], "do not broadcast on axis 1", id="axis-1"),
    ]
    for name in ("Add", "Multiply", "Average", "Maximum", "Minimum")
}

CASES: dict[str, list[Case]] = {
    **_ELEMENTWISE,
    "Subtract": [Case({}, [[4], [4]]), Case({}, [[2, 3], [2, 1]], id="broadcast")],
    "Concatenate": [
        Case({}, [[3], [4]]),
        Case({"axis": 1}, [[2, 4], [3, 4], [1, 4]], id="axis-1"),
        Case({"axis": 1}, [[None, 4], [2, 4]], id="unknown-time"),
    ],
    "Dot": [
        Case({"axes": 1}, [[4], [4]]),
        Case({"axes": [2, 1]}, [[3, 4], [4, 5]], id="pair"),
        Case({"axes": [1, 2], "normalize": True}, [[5], [3, 5]], id="normalize-rank-mix"),
    ],
    "Merge": [
        Case({"mode": "sum"}, [[4], [4]]),
        Case({"mode": "cos", "dot_axes": 1}, [[4], [4]], id="cos"),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    **_BAD_ELEMENTWISE,
    "Subtract": [
        Invalid({}, [[4], [4], [4]], "takes 2 input", id="three-inputs"),
        Invalid({}, [[4], [5]], "incompatible shapes", id="3-vs-4"),
    ],
    "Concatenate": [
        Invalid({}, [[2, 3], [3, 3]], "must agree on every axis but -1", id="other-axis"),
        Invalid({}, [[3], [2, 3]], "one rank", id="ranks"),
        Invalid({"axis": 3}, [[3], [3]], "out of range", id="axis-range"),
    ],
    "Dot": [
        Invalid({"axes": 1}, [[3], [4]], "equal sizes on the dot axes", id="sizes"),
        Invalid({"axes": 1}, [[3], [3], [3]], "takes 2 input", id="three-inputs"),
        Invalid({"axes": 3}, [[3], [3]], "out of range", id="axis-range"),
    ],
    "Merge": [
        Invalid({"mode": "sum"}, [[3], [4]], "incompatible shapes", id="sum"),
        Invalid({"mode": "dot", "dot_axes": 1}, [[3], [4]], "equal sizes", id="dot"),
    ],
}

REFERENCES = [
    KerasReference("Subtract", CASES["Subtract"][1]),
    KerasReference("Concatenate", CASES["Concatenate"][1]),
    KerasReference("Dot", CASES["Dot"][1]),
    KerasReference("Average", CASES["Average"][1]),
]
