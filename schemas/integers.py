"""Integers in a spec must fit in 64 bits: shapes, units, seeds and sizes all become int64
(or narrower) arrays and XLA dimensions, and a larger one would fail deep inside JAX, if not
crash it. Refused at validation, each where it is written."""

from __future__ import annotations

from typing import Any

from kspec.errors import Diagnostic, LimitError
from kspec.spec import SourceMap
from kspec.spec.source_map import Path

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def out_of_range_integers(data: Any, source_map: SourceMap) -> list[Diagnostic]:
    """A diagnostic for every integer of the plain tree `data` outside int64 (walked without
    recursion)."""
    problems, stack = [], [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in enumerate(value))
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            problems.append(_diagnostic(path, value, source_map))
    return sorted(problems, key=_position)


def _diagnostic(path: Path, value: int, source_map: SourceMap) -> Diagnostic:
    shown = str(value) if value.bit_length() < 200 else f"with {len(str(value)):,} digits"
    return Diagnostic(
        f"integer {shown} does not fit in 64 bits (the range is -2**63 to 2**63 - 1)",
        source_map.locate(path),
    )


def _position(diagnostic: Diagnostic) -> tuple[int, int]:
    where = diagnostic.location
    return (where.line, where.col) if where else (0, 0)


def check_seed(seed: int) -> int:
    """`seed`, if it fits in 64 bits (what `jax.random.PRNGKey` takes); else a `LimitError`."""
    if not INT64_MIN <= seed <= INT64_MAX:
        raise LimitError(f"seed {seed} does not fit in 64 bits (the range is -2**63 to 2**63 - 1)")
    return seed
