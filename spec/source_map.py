"""Where each value of a loaded document came from: key path -> `file:line:col`.

Positions live beside the plain data rather than inside it, so the data stays plain dicts and lists
that pydantic validates as is, and every later stage can still point at the line a user wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from kspec.errors import Location

PathItem = str | int
Path = tuple[PathItem, ...]


@dataclass
class SourceMap:
    """Locations of values (`values`) and of mapping keys (`keys`), by key path."""

    file: str = "<string>"
    values: dict[Path, Location] = field(default_factory=dict)
    keys: dict[Path, Location] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> Location | None:
        """The location of `path`, or of its nearest ancestor that has one.

        With `key=True` the position of the mapping key is preferred, which is where a misspelt
        or unexpected parameter should be reported.
        """
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return Location(self.file, 1, 1) if self.file != "<dict>" else None
            path = path[:-1]
            key = False

    def move(self, old: Path, new: Path) -> None:
        """Re-home every entry under `old` to `new` (used when sugar rewrites the tree)."""
        for table in (self.values, self.keys):
            moved = {new + p[len(old) :]: loc for p, loc in table.items() if p[: len(old)] == old}
            for p in [p for p in table if p[: len(old)] == old]:
                del table[p]
            table.update(moved)

    def shift_index(self, prefix: Path, start: int, delta: int) -> None:
        """Renumber list items `prefix + (i,)` for i >= start by `delta` (after a removal)."""
        n = len(prefix)

        def renumber(p: Path) -> Path:
            if p[:n] == prefix and len(p) > n and isinstance(p[n], int) and p[n] >= start:
                return prefix + (p[n] + delta,) + p[n + 1 :]
            return p

        self.values = {renumber(p): loc for p, loc in self.values.items()}
        self.keys = {renumber(p): loc for p, loc in self.keys.items()}

    def graft(self, prefix: Path, other: SourceMap, note: str | None = None) -> None:
        """Take every entry of `other` (another file's map, or a template's) under `prefix`,
        each location gaining `note` (e.g. `f.yaml:3:5: note: included here`)."""
        for mine, theirs in ((self.values, other.values), (self.keys, other.keys)):
            for path, loc in theirs.items():
                mine[prefix + path] = loc.with_note(note) if note else loc

    def replace_subtree(self, prefix: Path, other: SourceMap) -> None:
        """Drop the entries under `prefix` and take `other`'s there instead (after a subtree
        was rewritten on its own, re-rooted map)."""
        n = len(prefix)
        self.values = {p: loc for p, loc in self.values.items() if p[:n] != prefix}
        self.keys = {p: loc for p, loc in self.keys.items() if p[:n] != prefix}
        self.graft(prefix, other)

    def subtree(self, prefix: Path) -> SourceMap:
        """The entries under `prefix`, re-rooted (a template's definition, to graft elsewhere)."""
        n = len(prefix)
        sub = SourceMap(self.file)
        sub.values = {p[n:]: loc for p, loc in self.values.items() if p[:n] == prefix}
        sub.keys = {p[n:]: loc for p, loc in self.keys.items() if p[:n] == prefix}
        return sub

    def __iter__(self) -> Iterator[Path]:
        return iter(self.values)
