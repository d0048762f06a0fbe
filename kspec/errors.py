"""The errors a user can meet: every mistake in a spec becomes one `SpecError`.

A `SpecError` carries one or more `Diagnostic`s, each with the location in the source file
(`file:line:col`, 1-based) and the node it concerns, so the CLI can print compiler-style lines.
This module imports nothing from kspec: every stage may raise these.
"""

from __future__ import annotations

from dataclasses import dataclass


def printable(text: str) -> str:
    """`text` with control and format characters escaped (`\\x1b`, `\\n`, `\\u202e`): a name
    from an untrusted spec must not move the cursor, recolour or clear a terminal, nor split
    one diagnostic over several lines."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


@dataclass(frozen=True)
class Location:
    """A 1-based position in a source file; `file` is `<string>` for text given inline."""

    file: str
    line: int
    col: int
    notes: tuple[str, ...] = ()
    """Where else the value matters, as `file:line:col: note: ...` lines: the use site of a
    template block, the node that includes another file."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def with_note(self, note: str) -> Location:
        """This location with one more note line (the innermost context first)."""
        return Location(self.file, self.line, self.col, (*self.notes, note))


@dataclass(frozen=True)
class Diagnostic:
    """One user-facing problem: where it is, which node it concerns, and what is wrong."""

    message: str
    location: Location | None = None
    node: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        node = f"node '{self.node}': " if self.node else ""
        notes = (
            "".join(f"\n  {printable(note)}" for note in self.location.notes)
            if self.location
            else ""
        )
        return printable(f"{where}{self.severity}: {node}{self.message}") + notes


class SpecError(Exception):
    """A spec that cannot be loaded, validated or compiled; holds every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = Diagnostic(diagnostics)
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ShapeError(SpecError):
    """A shape a layer cannot accept. Lowerings raise it bare; the graph walker adds the node
    and its place."""


class LimitError(SpecError):
    """An input over one of kspec's documented limits (size, nesting, expansion, memory),
    refused before the work it would cost."""


class CheckpointError(SpecError):
    """A checkpoint that is missing, corrupt, or does not fit the model it is loaded into."""


class KspecDeprecationWarning(DeprecationWarning):
    """An old (Keras 1/2) name in a spec: still accepted, with the new name to use instead."""


class PluginWarning(UserWarning):
    """An installed layer plugin that failed to load: its layer types are unavailable, every
    other layer works."""


class ExportError(SpecError):
    """A model that cannot be exported as asked (a platform that does not lower, an output
    directory that is not an earlier export), or an artifact that fails its verify step."""


class KerasImportError(SpecError):
    """A Keras file or model that kspec cannot import faithfully: unreadable, unsafe, not a
    Keras file, or weights that do not fit the translated spec. Names the file and layer."""
