"""What an import did, line by line: `import-report.txt`.

Every Keras layer is either mapped (to a kspec node, with each conversion applied and each
config key dropped, and why) or refused (with what to do instead). The report is built while
the config is translated and read by people, so each entry is one plain sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

KINDS = ("mapped", "renamed", "converted", "dropped", "note", "refused")
"""Entry kinds, in the order the report lists them for each layer."""


@dataclass(frozen=True)
class Entry:
    """One fact about one Keras layer (`layer` None: about the whole model)."""

    kind: str
    layer: str | None
    text: str

    def __str__(self) -> str:
        where = f"{self.layer}: " if self.layer else ""
        return f"{self.kind:<9} {where}{self.text}"


@dataclass
class ImportReport:
    """The entries of one translation, in the order they were found (layer by layer)."""

    source: str
    keras_version: str | None = None
    backend: str | None = None
    entries: list[Entry] = field(default_factory=list)

    def add(self, kind: str, layer: str | None, text: str) -> None:
        assert kind in KINDS, kind
        self.entries.append(Entry(kind, layer, text))

    def of_kind(self, kind: str) -> list[Entry]:
        return [e for e in self.entries if e.kind == kind]

    def lines(self) -> list[str]:
        """The report's lines: a header naming the source and its Keras version, then one line
        per entry (`mapped    dense_1: Dense -> Dense`)."""
        version = self.keras_version or "unknown"
        backend = f", backend {self.backend}" if self.backend else ""
        header = f"source: {self.source} (Keras {version}{backend})"
        return [header, *(str(e) for e in self.entries)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.lines())

    def __str__(self) -> str:
        return "\n".join(self.lines()) + "\n"
