"""JSON -> plain data + `SourceMap`.

JSON is read twice: `json` decides what is valid JSON (and reports syntax errors at their line
and column), then the YAML composer, for which JSON is a subset, supplies positions and rejects
duplicate keys. If the composer cannot follow (tab indentation, say), the data stands with
file-level locations.
"""

from __future__ import annotations

import json
from typing import Any

from kspec.errors import Diagnostic, Location, SpecError
from kspec.spec.source_map import SourceMap
from kspec.spec.yaml_reader import read_yaml


def read_json(text: str, file: str = "<string>") -> tuple[Any, SourceMap]:
    """Parse JSON text into plain data and its source map; errors are `SpecError`s."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            Diagnostic(f"invalid JSON: {exc.msg}", Location(file, exc.lineno, exc.colno))
        ) from None
    except RecursionError:
        raise SpecError(Diagnostic("JSON nested too deeply", Location(file, 1, 1))) from None
    try:
        positioned, source_map = read_yaml(text, file)
    except SpecError as exc:
        if any("duplicate key" in d.message for d in exc.diagnostics):
            raise
        return data, SourceMap(file)
    return (positioned, source_map) if positioned == data else (data, SourceMap(file))
