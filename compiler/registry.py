"""Every lowering, keyed by its schema class: an explicit table, checked against the schema
registry by a test (each layer type has exactly one lowering)."""

from __future__ import annotations

from typing import Any

from kspec.compiler.custom import CUSTOM_LOWERINGS
from kspec.compiler.layers import (
    activations,
    composition,
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
    noise, embedding, recurrent, wrappers, composition,
]  # fmt: skip

LOWERINGS: dict[type[LayerSpec], Lowering[Any]] = {
    lowering.spec_type: lowering for family in FAMILIES for lowering in family.LOWERINGS
}


def lowering_for(spec_type: type[LayerSpec]) -> Lowering[Any]:
    """The lowering of a layer schema, built-in or registered custom."""
    lowering = LOWERINGS.get(spec_type) or CUSTOM_LOWERINGS.get(spec_type)
    if lowering is None:
        raise KeyError(f"no lowering registered for layer type {spec_type.__name__}")
    return lowering
