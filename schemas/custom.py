"""Custom layer types: schemas registered at run time (`kspec.register_layer`, or a plugin
package's `kspec.layers` entry point), next to the built-in catalogue.

The built-in catalogue (`registry.LAYER_TYPES`) is a fixed list; this table is the one part
that grows. Every place that accepts a layer (`GraphSpec.layers`, a wrapper's `layer:`, a
sub-model's layers) reads it when it validates, so registering a type rebuilds nothing: the
`CustomLayers` marker in the layer unions dispatches a custom `type` to its schema and leaves
the built-in discriminated union (and its JSON Schema) exactly as it was.

Plugins are only *listed* here (package metadata, no import): loading them imports the
compiler, hence JAX, so that is the runtime's job. This module never imports JAX.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import CoreSchema, core_schema

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


def _tag(value: Any) -> str | None:
    """A layer's `type`, if it is a string (anything else is the built-in union's to report)."""
    if isinstance(value, BaseModel):
        tag = getattr(value, "type", None)
    else:
        tag = value.get("type") if isinstance(value, dict) else None
    return tag if isinstance(tag, str) else None


class CustomLayers:
    """Pydantic marker for the layer unions: a value whose `type` is a registered custom type
    is validated (and serialized, and described in JSON Schema) by that type's schema; any
    other value goes to the built-in union unchanged.

    Validation errors inside a custom layer keep their place (`layers.2.units`): pydantic
    merges a `ValidationError` raised in a validator into the outer one.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        builtin = handler(source)
        return core_schema.no_info_wrap_validator_function(
            _validate,
            builtin,
            serialization=core_schema.wrap_serializer_function_ser_schema(
                _serialize, schema=builtin, info_arg=True
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        json_schema = handler(schema)
        for custom in CUSTOM_LAYERS.values():
            with _describing(custom) as first:
                entry = handler(_by_reference(custom.__pydantic_core_schema__, first))
            # only the reference: the union's description must not be repeated on it
            json_schema.setdefault("oneOf", []).append({"$ref": entry["$ref"]})
        return json_schema


def _by_reference(schema: CoreSchema, define: bool) -> CoreSchema:
    """A `$ref` to a layer schema's definition, which is added (once) when `define`."""
    if schema["type"] == "definitions":
        model, definitions = schema["schema"], schema["definitions"]
    else:
        model, definitions = schema, []
    reference = core_schema.definition_reference_schema(model["ref"])  # type: ignore[typeddict-item]
    return core_schema.definitions_schema(reference, [*definitions, model]) if define else reference


_DESCRIBING: set[type[LayerSpec]] = set()
"""Custom schemas whose JSON Schema is being written, so that one nesting a layer union refers
to itself by `$ref` instead of recursing."""


@contextmanager
def _describing(cls: type[LayerSpec]) -> Iterator[bool]:
    """Mark `cls` as being described; yields False when it already was (a recursion)."""
    first = cls not in _DESCRIBING
    _DESCRIBING.add(cls)
    try:
        yield first
    finally:
        if first:
            _DESCRIBING.discard(cls)


def _validate(value: Any, builtin: Callable[[Any], Any]) -> Any:
    custom = CUSTOM_LAYERS.get(_tag(value) or "")
    return builtin(value) if custom is None else custom.model_validate(value)


def _serialize(value: Any, builtin: Callable[[Any], Any], info: Any) -> Any:
    custom = CUSTOM_LAYERS.get(_tag(value) or "")
    if custom is None or not isinstance(value, custom):
        return builtin(value)
    return value.__pydantic_serializer__.to_python(
        value,
        mode=info.mode,
        by_alias=info.by_alias,
        exclude_unset=info.exclude_unset,
        exclude_defaults=info.exclude_defaults,
        exclude_none=info.exclude_none,
        round_trip=info.round_trip,
    )
