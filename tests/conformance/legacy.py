"""Conformance cases of the Keras 1 layers MaxoutDense and Highway."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid

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
