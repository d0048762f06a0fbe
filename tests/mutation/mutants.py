"""Enumerating, sampling and applying mutants: mutmut's operators, one mutant per source copy."""

from __future__ import annotations

import difflib
import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from mutmut.mutation.file_mutation import Mutation, create_mutations, deep_replace

_CONTEXT = 24  # characters of unchanged code kept either side of a change in a description


@dataclass(frozen=True)
class Mutant:
    """One mutation of one file. `index` counts the file's mutants in source order, so it is
    stable only for unchanged source; `key` (file, line text, change) survives edits elsewhere
    and names the mutants judged equivalent in pyproject."""

    path: str
    index: int
    line: int
    # The first line of the innermost statement around the mutated node: the line coverage
    # records for it (a multi-line statement counts as its first line).
    statement: int
    # The innermost function around it (first, last line); None at module or class level, code
    # that runs once at import, whichever test imports the module first.
    scope: tuple[int, int] | None
    # On the function's own header (a default argument): run at import, read by its calls.
    header: bool
    description: str
    line_text: str

    @property
    def name(self) -> str:
        return f"{self.path}:{self.index}"

    @property
    def key(self) -> str:
        return f"{self.path} | {self.line_text} | {self.description}"


@dataclass(frozen=True)
class Selection:
    """Which files are mutated, and where in them. In a file under `alias_map_paths`, only the
    assignments to names matching `alias_map_names` (the Keras 1 alias maps) are mutated; the
    rest of `schemas/` is validation code that the schema tests cover by other means."""

    paths: tuple[str, ...]
    alias_map_paths: tuple[str, ...] = ()
    alias_map_names: str = "$^"

    def files(self, root: Path) -> list[str]:
        found: set[str] = set()
        for entry in self.paths:
            target = root / entry
            if target.is_dir():
                found |= {p.relative_to(root).as_posix() for p in target.rglob("*.py")}
            else:
                found.add(Path(entry).as_posix())
        return sorted(found)

    def restricted(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.alias_map_paths)


def _common_prefix(a: str, b: str) -> int:
    shorter = min(len(a), len(b))
    return next((i for i in range(shorter) if a[i] != b[i]), shorter)


def describe(before: str, after: str) -> str:
    """`before -> after` for the changed part of a node, with a little unchanged code around it
    (a removed call argument shows the call, not the whole multi-line statement)."""
    b, a = " ".join(before.split()), " ".join(after.split())
    head = _common_prefix(b, a)
    tail = _common_prefix(b[head:][::-1], a[head:][::-1])
    lo = max(0, head - _CONTEXT)
    cut = max(0, tail - _CONTEXT)
    pre, post = ("…" if lo else ""), ("…" if cut else "")
    return f"`{pre}{b[lo : len(b) - cut]}{post}` -> `{pre}{a[lo : len(a) - cut]}{post}`"


def _ranges(module: cst.Module) -> dict[cst.CSTNode, CodeRange]:
    return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


def _spans(
    positions: dict[cst.CSTNode, CodeRange], kinds: tuple[type, ...], names: str = ""
) -> list[tuple[int, int]]:
    """(first, last) lines of the nodes of `kinds`; for assignments, only to matching names."""
    pattern = re.compile(names)
    spans = []
    for node, where in positions.items():
        if not isinstance(node, kinds):
            continue
        if isinstance(node, cst.Assign | cst.AnnAssign):
            targets = (
                [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            )
            if not any(isinstance(t, cst.Name) and pattern.match(t.value) for t in targets):
                continue
        spans.append((where.start.line, where.end.line))
    return spans


@cache
def _parsed(
    path: str, code: str, selection: Selection
) -> tuple[cst.Module, dict[cst.CSTNode, CodeRange], list[Mutation]]:
    """mutmut's mutations of one file (its pragma, annotation and docstring rules applied),
    less those outside the alias maps in a restricted file."""
    module, mutations, _classes, _functions = create_mutations(path, code)
    positions = _ranges(module)
    if selection.restricted(path):
        maps = _spans(positions, (cst.Assign, cst.AnnAssign), selection.alias_map_names)
        mutations = [
            m
            for m in mutations
            if any(lo <= positions[m.original_node].start.line <= hi for lo, hi in maps)
        ]
    return module, positions, mutations


def _innermost(spans: list[tuple[int, int]]) -> tuple[int, int] | None:
    return max(spans, key=lambda span: (span[0], -span[1])) if spans else None


def file_mutants(root: Path, path: str, selection: Selection) -> list[Mutant]:
    """Every mutant of one file, in source order."""
    code = (root / path).read_text()
    lines = code.splitlines()
    module, positions, mutations = _parsed(path, code, selection)
    functions = _spans(positions, (cst.FunctionDef,))
    statements = _spans(positions, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
    found = []
    for index, mutation in enumerate(mutations):
        first = positions[mutation.original_node].start.line
        scope = _innermost([span for span in functions if span[0] <= first <= span[1]])
        statement = _innermost([span for span in statements if span[0] <= first <= span[1]])
        found.append(
            Mutant(
                path=path,
                index=index,
                line=first,
                statement=statement[0] if statement else first,
                scope=scope,
                header=scope is not None and statement == scope,
                description=describe(
                    module.code_for_node(mutation.original_node),
                    module.code_for_node(mutation.mutated_node),
                ),
                line_text=lines[first - 1].strip(),
            )
        )
    return found


def all_mutants(root: Path, selection: Selection) -> list[Mutant]:
    return [m for path in selection.files(root) for m in file_mutants(root, path, selection)]


def sample(mutants: list[Mutant], size: int, seed: int) -> list[Mutant]:
    """The same `size` mutants for the same seed and source (the order is the draw's)."""
    return random.Random(seed).sample(mutants, min(size, len(mutants)))


def mutated_source(root: Path, mutant: Mutant, selection: Selection) -> str:
    """The whole file with this one mutation applied."""
    module, _positions, mutations = _parsed(
        mutant.path, (root / mutant.path).read_text(), selection
    )
    chosen = mutations[mutant.index]
    mutated = deep_replace(module, chosen.original_node, chosen.mutated_node)
    assert isinstance(mutated, cst.Module)
    return mutated.code


def diff(original: str, mutated: str, path: str) -> str:
    """A unified diff with one line of context, for the survivor list."""
    lines = difflib.unified_diff(
        original.splitlines(keepends=True), mutated.splitlines(keepends=True), path, path, n=1
    )
    return "".join(list(lines)[2:])


@contextmanager
def applied(file: Path, source: str) -> Iterator[None]:
    """`file` holds `source` inside the block; afterwards its original bytes and mtime, also on
    an exception or Ctrl-C (the mtime too, so the original's cached bytecode stays valid)."""
    original = file.read_bytes()
    stat = file.stat()
    try:
        file.write_text(source)
        yield
    finally:
        file.write_bytes(original)
        os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
