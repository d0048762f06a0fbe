"""Every lowering, keyed by its schema class: an explicit table, checked against the schema
registry by a test (each layer type has exactly one lowering)."""

from __future__ import annotations

from typing import Any

from kspec.compiler.layers import (
    activations,
    convolution,
    core,
    embedding,
    locally_connected,
    merge,
    noise,
    normalization,
    pooling,
    recurrent,
    reshaping,
    wrappers,
)
from kspec.compiler.lowering import Lowering
from kspec.schemas.base import LayerSpec

FAMILIES = [
    core, convolution, pooling, reshaping, locally_connected, merge, activations, normalization,
    noise, embedding, recurrent, wrappers,
]  # fmt: skip

LOWERINGS: dict[type[LayerSpec], Lowering[Any]] = {
    lowering.spec_type: lowering for family in FAMILIES for lowering in family.LOWERINGS
}
