"""Every lowering, keyed by its schema class: each family module's `LOWERINGS` list, checked
against the schema registry by a test (each layer type has exactly one lowering).

A family's lowerings live in `compiler/layers/<family>.py`, named as its schemas' module
(`schemas/registry.FAMILIES`), and are imported the first time a layer of the family is
lowered, as its schemas are validated: shape-checking a spec imports only what it uses.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

from kspec.compiler.custom import CUSTOM_LOWERINGS
from kspec.compiler.lowering import Composite, Lowering
from kspec.schemas.base import LayerSpec
from kspec.schemas.registry import FAMILIES, family_module_name

Entry = Lowering[Any] | Composite[Any]
"""A layer type's lowering, or for layers holding others (wrappers, sub-models) the
`Composite` that lowers each node from the lowerings of what it holds."""


def family_module(family: str) -> ModuleType:
    """`compiler/layers/<family>.py`, imported now if it was not yet."""
    return importlib.import_module(f"kspec.compiler.layers.{family}")


@cache
def _family_lowerings(family: str) -> dict[type[LayerSpec], Entry]:
    return {lowering.spec_type: lowering for lowering in family_module(family).LOWERINGS}


def all_lowerings() -> dict[type[LayerSpec], Entry]:
    """Every built-in lowering (imports every family)."""
    return {k: v for family in FAMILIES for k, v in _family_lowerings(family).items()}


def registered(spec_type: type[LayerSpec]) -> Entry:
    """The entry of a layer schema, built-in or registered custom (validated specs only hold
    registered types)."""
    family = spec_type.__module__.rpartition(".")[2]
    builtin = family in FAMILIES and spec_type.__module__ == family_module_name(family)
    entry = _family_lowerings(family).get(spec_type) if builtin else None
    entry = entry or CUSTOM_LOWERINGS.get(spec_type)
    assert entry is not None, f"no lowering registered for layer type {spec_type.__name__}"
    return entry
