"""File includes: `{type: Model, include: encoders/vision.yaml}` becomes an inline `spec:`.

The path is relative to the directory of the file that writes it (the current directory for a
spec given as text or a dict) and must stay inside that directory tree, symlinks resolved,
unless the caller allows otherwise (`allow_outside_includes=True`, CLI
`--allow-outside-includes`). The included file is loaded like any spec (sugar, blocks, its own
includes relative to itself); its `compile:` recipe (and `kspec: 1`) is dropped, since a
sub-model trains as part of the model that includes it. Its locations are grafted under the
node's `spec` with a note at the include site, so a mistake inside it is reported in that file
*and* where it was included. After loading, every sub-model is inline: `to_yaml` writes the
inlined form, and a checkpoint's spec needs no other file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath
from typing import Any

from kspec.errors import Diagnostic, LimitError, Location, SpecError
from kspec.spec.limits import MAX_INCLUDE_DEPTH, budget, size_of
from kspec.spec.source_map import Path, SourceMap

_ALLOW_OUTSIDE: ContextVar[bool] = ContextVar("allow_outside_includes", default=False)


@contextmanager
def outside_includes_allowed(allowed: bool = True) -> Iterator[None]:
    """Within the block, loads that do not say otherwise may include files outside the
    including file's directory (the CLI's `--allow-outside-includes`)."""
    token = _ALLOW_OUTSIDE.set(allowed)
    try:
        yield
    finally:
        _ALLOW_OUTSIDE.reset(token)


Loader = Callable[[FilePath, str, "Includes"], tuple[Any, SourceMap]]
"""Reads one spec file (path, name to show in messages) into canonical data and its source
map (`spec/document.py`)."""


@dataclass(frozen=True)
class Includes:
    """How the includes of one file resolve: against `directory`, kept inside it unless
    `allow_outside`; `chain` is the files being included (resolved path, name as shown),
    outermost first, to report cycles."""

    directory: FilePath
    allow_outside: bool
    load: Loader
    chain: tuple[tuple[FilePath, str], ...] = ()
    cache: dict[tuple[FilePath, int], tuple[Any, SourceMap]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Files loaded so far in this load, by path and include depth (see `_load`)."""

    @classmethod
    def for_source(
        cls, file: FilePath | None, allow_outside: bool | None, load: Loader
    ) -> Includes:
        """The includes of a top-level spec: its file's directory (or the current one)."""
        allowed = _ALLOW_OUTSIDE.get() if allow_outside is None else allow_outside
        if file is None:
            return cls(FilePath.cwd().resolve(), allowed, load)
        resolved = file.resolve()
        return cls(resolved.parent, allowed, load, ((resolved, str(file)),))


def resolve_includes(data: Any, source_map: SourceMap, includes: Includes) -> Any:
    """`data` with every `include:` of a Model node replaced by the file's spec (in place);
    `source_map` gains the included files' locations."""
    if isinstance(data, dict):
        _resolve_layers(data.get("layers"), ("layers",), source_map, includes)
    return data


def _resolve_layers(layers: Any, path: Path, source_map: SourceMap, includes: Includes) -> None:
    """Every Model node of a layer list, sub-models and Keras 1 `Merge` branches included."""
    if not isinstance(layers, list):
        return
    for i, node in enumerate(layers):
        if not isinstance(node, dict):
            continue
        here = (*path, i)
        if node.get("type") == "Model" and "include" in node:
            layers[i] = _include(node, here, source_map, includes)
        elif node.get("type") == "Model" and isinstance(node.get("spec"), dict):
            _resolve_layers(
                node["spec"].get("layers"), (*here, "spec", "layers"), source_map, includes
            )
        elif node.get("type") == "Merge":
            _resolve_layers(node.get("layers"), (*here, "layers"), source_map, includes)


def _include(node: dict[str, Any], path: Path, source_map: SourceMap, includes: Includes) -> Any:
    site = source_map.locate((*path, "include"))
    if "spec" in node:
        raise SpecError(
            Diagnostic(
                "a Model node takes `spec:` or `include:`, not both; keep one",
                source_map.locate((*path, "include"), key=True),
            )
        )
    value = node["include"]
    if not isinstance(value, str) or not value:
        raise SpecError(Diagnostic(f"`include` takes a file path. Received: {value!r}", site))
    shown = _shown(value, source_map.file)
    target = _target(value, shown, source_map.file, site, includes)
    note = f"{site}: note: included from here" if site else "note: included from here"
    chain = (*includes.chain, (target, shown))
    with budget() as spent:
        outer, spent.via = spent.via, f"includes ({' -> '.join(name for _, name in chain)})"
        try:
            data, included = _load(target, shown, replace(includes, chain=chain), site)
        except SpecError as exc:
            raise type(exc)([_with_note(d, note, site) for d in exc.diagnostics]) from None
        finally:
            spent.via = outer
    # the file's own recipe and format version are a top-level spec's; a bad version stays to
    # be reported where it is written
    data = {k: v for k, v in data.items() if k != "compile" and (k, v) != ("kspec", 1)}
    for table in (source_map.values, source_map.keys):
        for key in [p for p in table if p[: len(path) + 1] == (*path, "include")]:
            del table[key]
    source_map.graft((*path, "spec"), included, note)
    return {**{k: v for k, v in node.items() if k != "include"}, "spec": data}


def _load(
    target: FilePath, shown: str, includes: Includes, site: Location | None
) -> tuple[Any, SourceMap]:
    """The included file, loaded once per load and depth: a file included again (a chain
    that includes each file twice doubles per level) is charged to the budget and copied,
    not read and parsed again."""
    key = (target, len(includes.chain))
    if key not in includes.cache:
        loaded = includes.load(target, shown, replace(includes, directory=target.parent))
        includes.cache[key] = (_copy(loaded[0]), _copy_map(loaded[1]))
        return loaded
    data, source_map = includes.cache[key]
    with budget() as spent:
        spent.charge(*size_of(data), site, spent.via or "includes")
    return _copy(data), _copy_map(source_map)


def _copy(value: Any) -> Any:
    """A copy of a plain tree (later stages edit lists and mappings in place); nesting is
    bounded by the readers."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _copy_map(source_map: SourceMap) -> SourceMap:
    """Locations are immutable: a copy of the tables is a copy of the map."""
    return SourceMap(source_map.file, dict(source_map.values), dict(source_map.keys))


def _target(
    value: str, shown: str, including: str, site: Location | None, includes: Includes
) -> FilePath:
    """The file an `include:` names, checked: inside the tree, not a cycle, there."""
    target = (includes.directory / value).resolve()
    if not includes.allow_outside and not target.is_relative_to(includes.directory):
        raise SpecError(
            Diagnostic(
                f"include '{value}' leaves the directory of {_where(including)}; pass "
                "allow_outside_includes=True (CLI: --allow-outside-includes) to allow it",
                site,
            )
        )
    files = [file for file, _ in includes.chain]
    if target in files:
        names = [name for _, name in includes.chain[files.index(target) :]]
        raise SpecError(Diagnostic(f"include cycle: {' -> '.join([*names, names[0]])}", site))
    if not target.exists():
        raise SpecError(Diagnostic(f"included file '{shown}' does not exist", site))
    if len(includes.chain) >= MAX_INCLUDE_DEPTH:
        names = " -> ".join([name for _, name in includes.chain] + [shown])
        raise LimitError(
            Diagnostic(f"includes nested more than {MAX_INCLUDE_DEPTH} files deep: {names}", site)
        )
    return target


def _shown(value: str, including: str) -> str:
    """An included file as messages name it: the path as written, joined to the including
    file's name as shown (`models/encoders/vision.yaml`)."""
    if including.startswith("<"):  # `<string>`, `<dict>`: relative to the current directory
        return os.path.normpath(value)
    return os.path.normpath(os.path.join(os.path.dirname(including), value))


def _where(including: str) -> str:
    return "the current directory" if including.startswith("<") else including


def _with_note(diagnostic: Diagnostic, note: str, site: Location | None) -> Diagnostic:
    """A mistake inside an included file, also pointing at the include site."""
    location = diagnostic.location.with_note(note) if diagnostic.location else site
    return Diagnostic(diagnostic.message, location, diagnostic.node, diagnostic.severity)
