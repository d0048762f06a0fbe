"""Stage 1 entry point: `load_document(source) -> Document` (plain tree + source map)."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from kspec.errors import Diagnostic, Location, SpecError
from kspec.spec.json_reader import read_json
from kspec.spec.source_map import SourceMap
from kspec.spec.sugar import desugar
from kspec.spec.yaml_reader import read_yaml

SPEC_SUFFIXES = (".yaml", ".yml", ".json")

Source = str | os.PathLike[str] | dict[str, Any]


@dataclass(frozen=True)
class Document:
    """A spec as plain data in canonical form, with where each value was written."""

    data: Any
    source_map: SourceMap

    @property
    def file(self) -> str:
        return self.source_map.file


def load_document(source: Source) -> Document:
    """Read a spec from a file path, YAML/JSON text, or an already-parsed dict.

    A `str` is taken as a path when it names an existing file or ends in a spec suffix and holds
    no newline; otherwise it is YAML (or JSON) text.
    """
    if isinstance(source, dict):
        data, source_map = copy.deepcopy(source), SourceMap("<dict>")
    elif isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        data, source_map = _read_file(FilePath(source))
    elif isinstance(source, str):
        data, source_map = read_yaml(source, "<string>")
    else:
        raise SpecError(
            f"expected a file path, YAML/JSON text or a dict. Received: {type(source).__name__}"
        )
    if data is None:
        raise SpecError(Diagnostic("the spec is empty", Location(source_map.file, 1, 1)))
    if not isinstance(data, dict):
        raise SpecError(
            Diagnostic(
                f"a spec must be a mapping with `kspec`, `inputs` and `layers`. "
                f"Received: {type(data).__name__}",
                source_map.locate(()),
            )
        )
    return Document(desugar(data, source_map), source_map)


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and (text.endswith(SPEC_SUFFIXES) or os.path.isfile(text))


def _read_file(path: FilePath) -> tuple[Any, SourceMap]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            Diagnostic(f"file is not UTF-8 text ({exc.reason})", Location(str(path), 1, 1))
        ) from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror})") from None
    if path.suffix == ".json":
        return read_json(text, str(path))
    return read_yaml(text, str(path))
