"""Conformance cases of the recurrent layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

_GRID = [
    Case({"units": 3}, [[5, 4]]),
    Case({"units": 2, "return_sequences": True, "return_state": True}, [[None, 3]], id="rs-st"),
    Case({"units": 2, "go_backwards": True, "unroll": True}, [[4, 3]], id="unroll-backwards"),
    Case({"units": 3, "dropout": 0.5, "recurrent_dropout": 0.3}, [[4, 2]], training=True),
    Case({"units": 2, "use_bias": False, "return_sequences": True}, [[3, 2]], id="no-bias"),
]

CASES: dict[str, list[Case]] = {
    "SimpleRNN": _GRID,
    "LSTM": [*_GRID, Case({"units": 2, "return_state": True}, [[3, 4], [2], [2]], id="init-st")],
    "GRU": [
        *_GRID,
        Case({"units": 2, "reset_after": False}, [[3, 4]], id="reset-before"),
        Case({"units": 2, "return_state": True}, [[3, 4], [2]], id="initial-state"),
    ],
}

_INVALID = [
    Invalid({"units": 2}, [[4]], "expects an input of rank 3"),
    Invalid({"units": 2}, [[3, None]], "needs a known last dimension", id="unknown-features"),
    Invalid({"units": 2, "unroll": True}, [[None, 3]], "unroll=True needs a known number"),
    Invalid({"units": 2, "stateful": True}, [[3, 4]], "stateful=True needs a fixed batch size"),
    Invalid({"units": 2}, [[3, 4], [3], [3], [3]], "takes 1 input, or 1", id="too-many"),
]

INVALID: dict[str, list[Invalid]] = {
    "SimpleRNN": _INVALID,
    "LSTM": [*_INVALID, Invalid({"units": 2}, [[3, 4], [3], [2]], "must have shape")],
    "GRU": _INVALID,
}

REFERENCES = [
    KerasReference("LSTM", CASES["LSTM"][0]),
    KerasReference("GRU", CASES["GRU"][0]),
    KerasReference("SimpleRNN", CASES["SimpleRNN"][0]),
]
