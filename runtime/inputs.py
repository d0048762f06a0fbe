"""The model inputs a call was given, by input name: Keras accepts one array per input in
order, a list of them, or a dict by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kspec.errors import DataError


def named_inputs(names: Sequence[str], inputs: tuple[Any, ...]) -> dict[str, Any]:
    """`{input name: value}` in the model's input order; a clear error for a wrong count or
    a missing name."""
    names = list(names)
    if len(inputs) == 1 and isinstance(inputs[0], Mapping):
        given = dict(inputs[0])
        missing = [n for n in names if n not in given]
        if missing:
            raise DataError(f"missing model input(s) {missing}; inputs: {names}")
        return {n: given[n] for n in names}
    if len(inputs) == 1 and isinstance(inputs[0], list | tuple) and len(names) > 1:
        inputs = tuple(inputs[0])
    if len(inputs) != len(names):
        raise DataError(f"the model takes {len(names)} input(s) {names}. Received: {len(inputs)}")
    return dict(zip(names, inputs, strict=True))
