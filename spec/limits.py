"""The limits of stage 1, and the expansion budget one load shares.

A spec is untrusted input, and every way the format lets a small text stand for a large tree
(YAML aliases, `blocks:` using blocks, `include:` of files that include files) can amplify it
exponentially. So one load of a spec - the top-level file and everything it includes, each
time it is included - spends one `Budget` of values and bytes; each amplifier charges what it
produces, and the first charge over a cap is a located `LimitError`. Nesting is capped too, so
no later stage can overflow Python's stack. The numbers are documented in docs/limits.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from kspec.errors import Diagnostic, LimitError, Location

MAX_FILE_BYTES = 4 * 2**20
"""Largest spec file (or spec text) read, in bytes."""
MAX_VALUES = 100_000
"""Most scalars, lists and mappings one load produces: aliases, block uses and includes
counted each time they are expanded."""
MAX_BYTES = 32 * 2**20
"""Most bytes of scalar text one load produces, counted the same way (one 1 MB string
aliased 40 times is over)."""
MAX_NESTING_DEPTH = 100
"""Deepest nesting of lists and mappings in one file."""
MAX_INCLUDE_DEPTH = 16
"""Longest chain of files including files."""
MAX_BLOCK_DEPTH = 32
"""Longest chain of blocks using blocks."""
MAX_INTEGER_DIGITS = 40
"""Most digits of an integer literal (any 64-bit integer has at most 20)."""


@dataclass
class Budget:
    """What one load has produced so far."""

    values: int = 0
    bytes: int = 0
    via: str | None = None
    """What is producing values now, when not the file's own text (`includes (a -> b)`)."""

    def charge(self, values: int, size: int, where: Location | None, what: str) -> None:
        """Count `values` values of `size` bytes produced by `what` (e.g. "aliases");
        refuse the load once over a cap."""
        self.values += values
        self.bytes += size
        self.check(0, where, what)
        if self.bytes > MAX_BYTES:
            raise LimitError(
                Diagnostic(
                    f"the spec expands to more than {MAX_BYTES // 2**20} MiB of text through "
                    f"{what}; write the values out or expand less",
                    where,
                )
            )

    def check(self, values: int, where: Location | None, what: str) -> None:
        """Refuse, before producing them, `values` more values than the load may spend."""
        if self.values + values > MAX_VALUES:
            raise LimitError(
                Diagnostic(
                    f"the spec expands to more than {MAX_VALUES:,} values through {what}; "
                    "write the values out or expand less",
                    where,
                )
            )


_CURRENT: ContextVar[Budget | None] = ContextVar("kspec_spec_budget", default=None)


@contextmanager
def budget() -> Iterator[Budget]:
    """The budget of the load in progress, or a fresh one for a load that starts here."""
    current = _CURRENT.get()
    if current is not None:
        yield current
        return
    token = _CURRENT.set(fresh := Budget())
    try:
        yield fresh
    finally:
        _CURRENT.reset(token)


def size_of(value: Any) -> tuple[int, int]:
    """(values, bytes) of a plain tree, walked without recursion; a scalar's bytes are its
    text's length (8 for a number)."""
    stack, values, size = [value], 0, 0
    while stack:
        item = stack.pop()
        values += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            size += len(item) if isinstance(item, str) else 8
    return values, size
