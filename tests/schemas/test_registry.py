"""The layer index (`schemas/registry.py`) against the family modules it points to: every
layer schema a family defines is indexed there, under its family, and nothing else is."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from kspec.schemas.base import LayerSpec
from kspec.schemas.registry import (
    FAMILIES,
    TYPE_ALIASES,
    TYPE_SYNONYMS,
    family_module_name,
    known_type_names,
)

LAYERS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "layers"


def _defined_layers(module_name: str) -> set[str]:
    """The layer types a module defines: LayerSpec subclasses with their own `type`."""
    module = importlib.import_module(module_name)
    return {
        cls.__name__
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, LayerSpec)
        and cls.__module__ == module_name
        and "type" in cls.model_fields
    }


def test_each_family_indexes_exactly_the_layers_its_module_defines() -> None:
    for family, names in FAMILIES.items():
        assert _defined_layers(family_module_name(family)) == set(names), family


def test_no_module_defines_layers_outside_the_index() -> None:
    modules = {p.stem for p in LAYERS_DIR.glob("*.py") if p.stem != "__init__"}
    for stem in modules - set(FAMILIES):
        assert not _defined_layers(f"kspec.schemas.layers.{stem}"), stem


def test_every_name_is_one_type() -> None:
    names = known_type_names()
    assert len(names) == len(set(names))
    builtin = {name for names in FAMILIES.values() for name in names}
    assert set(TYPE_ALIASES.values()) | set(TYPE_SYNONYMS.values()) <= builtin
