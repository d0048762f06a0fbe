"""Custom layer types: schemas registered at run time (`kspec.register_layer`, or a plugin
package's `kspec.layers` entry point), next to the built-in catalogue.

The built-in catalogue (`registry.FAMILIES`) is a fixed index; this table is the one part
that grows. Every place that accepts a layer (`GraphSpec.layers`, a wrapper's `layer:`, a
sub-model's layers) looks a node's `type` up when it validates (`schemas/nodes.py`), here
too, so registering a type rebuilds nothing.

Plugins are only *listed* here (package metadata, no import): loading them imports the
compiler, hence JAX, so that is the runtime's job. This module never imports JAX.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any, Literal

from kspec.schemas.base import LayerSpec

ENTRY_POINT_GROUP = "kspec.layers"
"""The entry-point group a plugin package declares; each entry point names a list of
lowerings (`mylayers = "kspec_mylayers:LOWERINGS"`)."""

CUSTOM_LAYERS: dict[str, type[LayerSpec]] = {}
"""Registered custom layer schemas by type name, in registration order."""

ORIGINS: dict[str, str] = {}
"""Who registered each custom type: a plugin's distribution name, or the schema's module."""


@dataclass
class Plugin:
    """An installed plugin: its entry point and, once the runtime has loaded it, the types it
    registered or why it failed."""

    name: str
    """The distribution name (`kspec-mylayers`), what `pip install` takes."""
    entry_point: importlib.metadata.EntryPoint
    types: tuple[str, ...] = ()
    error: str | None = None
    loaded: bool = False

    def describe(self) -> str:
        """`kspec-mylayers (GatedLinearUnit, Scale)`, or why it has no types."""
        if self.error is not None:
            return f"{self.name} (failed to load: {self.error})"
        if not self.loaded:
            return f"{self.name} (not loaded)"
        return f"{self.name} ({', '.join(self.types) or 'no layer types'})"


_PLUGINS: list[Plugin] | None = None


def installed_plugins() -> list[Plugin]:
    """The plugins installed in this environment, from package metadata (nothing imported)."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = [
            Plugin(ep.dist.name if ep.dist is not None else ep.name, ep)
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        ]
    return _PLUGINS


def plugins_note() -> str:
    """The end of an unknown-type message: which plugins could have provided the type."""
    plugins = installed_plugins()
    if not plugins:
        return "no layer plugins installed"
    return "installed layer plugins: " + ", ".join(p.describe() for p in plugins)


def custom_type_name(cls: Any) -> str:
    """The type name of a would-be custom layer schema, or `TypeError`/`ValueError` saying what
    is wrong with it. The class is named after its type, as built-in schemas are: node names,
    builder classes and messages use the class name."""
    if not (isinstance(cls, type) and issubclass(cls, LayerSpec)):
        raise TypeError(f"a layer schema must subclass kspec.LayerSpec. Received: {cls!r}")
    field = cls.model_fields.get("type")
    default = field.default if field is not None else None
    if not isinstance(default, str) or field.annotation != Literal[default]:  # type: ignore[union-attr, valid-type]
        raise ValueError(
            f"{cls.__name__} needs a field `type: Literal[{cls.__name__!r}] = {cls.__name__!r}`"
        )
    if default != cls.__name__:
        raise ValueError(
            f"a layer schema is named after its type: class {cls.__name__} declares "
            f"type {default!r}; rename the class or the type"
        )
    return default


def add_custom_layer(cls: type[LayerSpec], origin: str) -> None:
    """Make `cls` a valid layer `type` everywhere a layer is accepted."""
    CUSTOM_LAYERS[cls.__name__] = cls
    ORIGINS[cls.__name__] = origin


def remove_custom_layer(name: str) -> None:
    CUSTOM_LAYERS.pop(name, None)
    ORIGINS.pop(name, None)
