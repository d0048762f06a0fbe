"""Stage 1 entry point: `load_document(source) -> Document` (plain tree + source map)."""

from __future__ import annotations

import copy
import os
import stat
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from kspec.errors import Diagnostic, LimitError, Location, SpecError
from kspec.spec.blocks import expand_blocks
from kspec.spec.includes import Includes, resolve_includes
from kspec.spec.json_reader import read_json
from kspec.spec.limits import MAX_FILE_BYTES, budget
from kspec.spec.merge_models import expand_merge_of_models
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


def load_document(source: Source, *, allow_outside_includes: bool | None = None) -> Document:
    """Read a spec from a file path, YAML/JSON text, or an already-parsed dict.

    A `str` is taken as a path when it names an existing file or ends in a spec suffix and holds
    no newline; otherwise it is YAML (or JSON) text. Included files (`include:`) must lie inside
    the including file's directory unless `allow_outside_includes` (default: False, or what
    `spec.includes.outside_includes_allowed` set). The whole load, includes and all, spends
    one expansion budget (`spec.limits`).
    """
    with budget():
        return _load(source, allow_outside_includes)


def _load(source: Source, allow_outside_includes: bool | None) -> Document:
    file: FilePath | None = None
    if isinstance(source, dict):
        data, source_map = copy.deepcopy(source), SourceMap("<dict>")
    elif isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        file = FilePath(source)
        data, source_map = _read_file(file)
    elif isinstance(source, str):
        data, source_map = read_yaml(source, "<string>")
    else:
        raise SpecError(
            f"expected a file path, YAML/JSON text or a dict. Received: {type(source).__name__}"
        )
    includes = Includes.for_source(file, allow_outside_includes, _load_included)
    return Document(_canonical(data, source_map, includes), source_map)


def _canonical(data: Any, source_map: SourceMap, includes: Includes) -> Any:
    """A read spec in canonical form: sugar, blocks, includes, Keras 1 merges of models."""
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
    data = expand_blocks(desugar(data, source_map), source_map)
    data = resolve_includes(data, source_map, includes)
    return expand_merge_of_models(data, source_map)


def _load_included(path: FilePath, shown: str, includes: Includes) -> tuple[Any, SourceMap]:
    """An included file, loaded as a spec of its own (its includes relative to it), its
    locations naming it `shown`."""
    data, source_map = _read_file(path, shown)
    return _canonical(data, source_map, includes), source_map


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and (text.endswith(SPEC_SUFFIXES) or os.path.isfile(text))


def _read_file(path: FilePath, shown: str | None = None) -> tuple[Any, SourceMap]:
    name = shown or str(path)
    raw = _read_bytes(path, name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line, col = before.count(b"\n") + 1, exc.start - before.rfind(b"\n")
        raise SpecError(
            Diagnostic(
                f"file is not UTF-8 text ({exc.reason}: byte 0x{raw[exc.start]:02x})",
                Location(name, line, col),
            )
        ) from None
    if path.suffix == ".json":
        return read_json(text, name)
    return read_yaml(text, name)


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _read_bytes(path: FilePath, name: str) -> bytes:
    """A spec file's bytes: a regular file of at most `MAX_FILE_BYTES` (checked before it is
    opened, so a FIFO or `/dev/zero` never blocks or streams; and while read, so a growing
    file stops at the cap)."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise SpecError(f"{name}: cannot read a spec from {kind}; give a .yaml or .json file")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(f"{name}: no such file") from None
    except OSError as exc:
        raise SpecError(f"{name}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise LimitError(
            f"{name}: file is larger than {MAX_FILE_BYTES // 2**20} MiB; a spec is read whole"
        )
    return raw
