"""Every lowering, keyed by its schema class: an explicit table, checked against the schema
registry by a test (each layer type has exactly one lowering)."""

from __future__ import annotations

from typing import Any

from kspec.compiler.custom import CUSTOM_LOWERINGS
from kspec.compiler.layers import (
    activations,
    applications,
    attention,
    composition,
    convolution,
    core,
    embedding,
    legacy,
    locally_connected,
    merge,
    noise,
    normalization,
    pooling,
    preprocessing,
    recurrent,
    reshaping,
    transformer,
    wrappers,
)
from kspec.compiler.lowering import Composite, Lowering
from kspec.schemas.base import LayerSpec

FAMILIES = [
    core, convolution, pooling, reshaping, locally_connected, merge, activations, normalization,
    noise, embedding, recurrent, wrappers, composition, applications, attention,
    transformer, legacy, preprocessing,
]  # fmt: skip

Entry = Lowering[Any] | Composite[Any]
"""A layer type's lowering, or for layers holding others (wrappers, sub-models) the
`Composite` that lowers each node from the lowerings of what it holds."""

LOWERINGS: dict[type[LayerSpec], Entry] = {
    lowering.spec_type: lowering for family in FAMILIES for lowering in family.LOWERINGS
}


def registered(spec_type: type[LayerSpec]) -> Entry:
    """The entry of a layer schema, built-in or registered custom (validated specs only hold
    registered types)."""
    entry = LOWERINGS.get(spec_type) or CUSTOM_LOWERINGS.get(spec_type)
    assert entry is not None, f"no lowering registered for layer type {spec_type.__name__}"
    return entry
