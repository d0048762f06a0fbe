"""The row types of the conformance tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    """One layer configuration and the shapes (batch axis excluded) of its inputs."""

    params: dict[str, Any]
    shapes: list[list[int | None]]
    training: bool = False
    dtype: str = "float32"
    id: str = ""


@dataclass(frozen=True)
class Invalid:
    """A configuration whose input shapes the layer must reject with a `ShapeError`."""

    params: dict[str, Any]
    shapes: list[list[int | None]]
    match: str = ""
    id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
