"""The memory budget models are priced against (`--max-memory`); JAX-free, so the CLI can set
it before deciding whether to import JAX."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LIMIT: ContextVar[int | None] = ContextVar("kspec_memory_limit", default=None)


@contextmanager
def memory_limit(limit: int | None) -> Iterator[None]:
    """Within the block, build/init/fit refuse models needing more than `limit` bytes
    (`None`: what the device has free)."""
    token = _LIMIT.set(limit)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def max_memory() -> int | None:
    """The budget set by the innermost `memory_limit`, if any."""
    return _LIMIT.get()
