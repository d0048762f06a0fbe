"""JSON -> plain data + `SourceMap`.

JSON is read twice: `json` decides what is valid JSON (and reports syntax errors at their line
and column), then the YAML composer, for which JSON is a subset, supplies positions, rejects
duplicate keys and enforces the limits (nesting, integer digits, expansion) at their place. If
the composer cannot follow (tab indentation, say), the data stands with file-level locations.
"""

from __future__ import annotations

import json
from typing import Any

from kspec.errors import Diagnostic, LimitError, Location, SpecError
from kspec.spec.limits import MAX_FILE_BYTES, MAX_INTEGER_DIGITS, MAX_NESTING_DEPTH
from kspec.spec.source_map import SourceMap
from kspec.spec.yaml_reader import read_yaml


class _LongInteger(Exception):
    """An integer literal over `MAX_INTEGER_DIGITS`, found by `json` (the composer locates it)."""


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _LongInteger(text)
    return int(text)


def read_json(text: str, file: str = "<string>") -> tuple[Any, SourceMap]:
    """Parse JSON text into plain data and its source map; errors are `SpecError`s."""
    if len(text) > MAX_FILE_BYTES:
        read_yaml(text, file)  # raises the size error
    try:
        data = json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise SpecError(
            Diagnostic(f"invalid JSON: {exc.msg}", Location(file, exc.lineno, exc.colno))
        ) from None
    except (RecursionError, _LongInteger) as exc:
        read_yaml(text, file)  # locates the limit, if the composer can follow the text
        problem = (
            f"JSON nested too deeply (more than {MAX_NESTING_DEPTH} levels)"
            if isinstance(exc, RecursionError)
            else "integer too large; integers must fit in 64 bits"
        )
        raise LimitError(Diagnostic(problem, Location(file, 1, 1))) from None
    try:
        positioned, source_map = read_yaml(text, file)
    except LimitError:
        raise
    except SpecError as exc:
        if any("duplicate key" in d.message for d in exc.diagnostics):
            raise
        return data, SourceMap(file)
    return (positioned, source_map) if positioned == data else (data, SourceMap(file))
