"""The row types of the conformance tables (the checks live in `kspec.compiler.conformance`,
which plugin authors run on their own layers through `kspec.testing`), and of the reference
rows: one or a few cases per family whose outputs are checked against Keras 3 (weights
randomised, then copied in: tests/parity/harness.py) or, where Keras 3 has no such layer,
against NumPy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kspec.compiler.conformance import Case as Case
from kspec.compiler.conformance import Invalid as Invalid
from kspec.compiler.conformance import Reference


@dataclass(frozen=True)
class KerasReference:
    """`case` of `type_name` against Keras 3's layer: `keras_layer()` builds it (by default
    `keras.layers.<type_name>(**case.params)`); `positional` calls it on the inputs as
    separate arguments (`MultiHeadAttention(query, value)`) rather than as one list."""

    type_name: str
    case: Case
    keras_layer: Callable[[], Any] | None = None
    positional: bool = False


@dataclass(frozen=True)
class NumpyReference:
    """`case` of `type_name` against `reference(spec, params, inputs)`, written in NumPy."""

    type_name: str
    case: Case
    reference: Reference
