"""Every lowering, keyed by its schema class: an explicit table, checked against the schema
registry by a test (each layer type has exactly one lowering)."""

from __future__ import annotations

from typing import Any

from kspec.compiler.layers import core
from kspec.compiler.lowering import Lowering
from kspec.schemas.base import LayerSpec

LOWERINGS: dict[type[LayerSpec], Lowering[Any]] = {
    lowering.spec_type: lowering for lowering in [*core.LOWERINGS]
}
