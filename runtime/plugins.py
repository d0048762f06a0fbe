"""Custom layers: `kspec.register_layer`, and the plugin packages that register them.

A custom layer is what a built-in one is: a schema class (a `kspec.LayerSpec` subclass named
after its `type`) and a `Lowering` (shape rule, init, apply). Registered, its type is valid in
every spec, sub-model and wrapper, and gets the same validation, located errors, JSON Schema,
summary, checkpoints and builder class (`kspec.layers.MyLayer`) as the built-in ones.

A plugin package declares, in its `pyproject.toml`,

    [project.entry-points."kspec.layers"]
    mylayers = "kspec_mylayers:LOWERINGS"

naming a list of lowerings (the same table a built-in family module has). Installed plugins
are loaded once, the first time the runtime needs the catalogue (a spec naming a type that
no built-in or registered layer provides, a model from config or checkpoint, `kspec.layers`,
the CLI commands but `validate`): a spec's `type:` never chooses what is imported. A plugin
that fails to load is reported with a `PluginWarning` naming it, and the built-in layers keep
working.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from kspec.compiler import CUSTOM_LOWERINGS, Lowering
from kspec.errors import CheckpointError, PluginWarning
from kspec.schemas.base import LayerSpec
from kspec.schemas.custom import (
    CUSTOM_LAYERS,
    ORIGINS,
    Plugin,
    add_custom_layer,
    custom_type_name,
    installed_plugins,
    remove_custom_layer,
)
from kspec.schemas.registry import FAMILY_OF, TYPE_ALIASES, TYPE_SYNONYMS

_loaded = False


def register_layer(
    schema: type[LayerSpec], lowering: Lowering[Any], *, origin: str | None = None
) -> None:
    """Make `schema.type` a layer type, lowered by `lowering`.

    Raises `TypeError`/`ValueError` (nothing registered) when the schema is not a `LayerSpec`
    named after its `type`, the lowering is for another schema, or the name is taken by a
    built-in type or another custom one. Registering the same pair again does nothing.
    `origin` says who registered it in messages (default: the schema's module).
    """
    name = _checked(schema, lowering)
    if name in CUSTOM_LAYERS:
        return  # the same pair again: `_checked` refused a different one
    add_custom_layer(schema, origin or schema.__module__)
    CUSTOM_LOWERINGS[schema] = lowering


def unregister_layer(type_name: str) -> None:
    """Remove a custom layer type (tests, or redefining a layer in a notebook)."""
    schema = CUSTOM_LAYERS.get(type_name)
    if schema is None:
        raise ValueError(f"'{type_name}' is not a registered custom layer type")
    remove_custom_layer(type_name)
    CUSTOM_LOWERINGS.pop(schema, None)


def _checked(schema: type[LayerSpec], lowering: Lowering[Any]) -> str:
    name = custom_type_name(schema)
    if not isinstance(lowering, Lowering):
        raise TypeError(f"the lowering of {name} must be a kspec.Lowering. Received: {lowering!r}")
    if lowering.spec_type is not schema:
        raise ValueError(
            f"the lowering given for {name} is for {lowering.spec_type.__name__}; "
            f"build it with Lowering(spec_type={name}, ...)"
        )
    if name in FAMILY_OF or name in TYPE_ALIASES or name in TYPE_SYNONYMS:
        raise ValueError(f"'{name}' is a built-in layer type; give the custom layer its own name")
    existing = CUSTOM_LAYERS.get(name)
    same = existing is schema and CUSTOM_LOWERINGS.get(schema) is lowering
    if existing is not None and not same:
        raise ValueError(
            f"layer type '{name}' is already registered by {ORIGINS[name]}; "
            f"call kspec.unregister_layer({name!r}) first to replace it"
        )
    return name


def load_plugins() -> list[Plugin]:
    """Load every installed plugin, once per process; returns them with what each registered
    (or why it failed)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for plugin in installed_plugins():
            _load(plugin)
    return installed_plugins()


def _load(plugin: Plugin) -> None:
    """Register all of a plugin's layers, or none of them (with a warning naming it)."""
    plugin.loaded = True
    try:
        lowerings = _lowerings_of(plugin.entry_point.load())
        for lowering in lowerings:
            _checked(lowering.spec_type, lowering)
    except Exception as exc:  # a broken plugin must not break the built-in layers
        plugin.error = f"{type(exc).__name__}: {exc}"
        warnings.warn(
            f"layer plugin {plugin.name} (entry point {plugin.entry_point.value!r}) failed to "
            f"load: {plugin.error}; its layer types are unavailable",
            PluginWarning,
            stacklevel=3,
        )
        return
    for lowering in lowerings:
        register_layer(lowering.spec_type, lowering, origin=plugin.name)
    plugin.types = tuple(lowering.spec_type.__name__ for lowering in lowerings)


def _lowerings_of(value: Any) -> list[Lowering[Any]]:
    if not isinstance(value, Sequence) or not all(isinstance(v, Lowering) for v in value):
        raise TypeError(f"the entry point must name a list of kspec.Lowering. Received: {value!r}")
    names = [lowering.spec_type.__name__ for lowering in value]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"the plugin lists {', '.join(twice)} more than once")
    return list(value)


def custom_types_in(spec_data: Any) -> dict[str, str]:
    """The custom layer types a spec's data uses, at any depth (wrapped layers, sub-models),
    with who registered each: what a checkpoint records so a reader can say what to install."""
    found: dict[str, str] = {}
    if isinstance(spec_data, dict):
        type_name = spec_data.get("type")
        if isinstance(type_name, str) and type_name in CUSTOM_LAYERS:
            found[type_name] = ORIGINS[type_name]
        values: Any = spec_data.values()
    else:
        values = spec_data if isinstance(spec_data, list) else ()
    for value in values:
        found |= custom_types_in(value)
    return found


def require_custom_types(required: dict[str, str], what: str) -> None:
    """Raise `CheckpointError` naming each custom type `what` needs that is not registered,
    and the plugin (or module) that provided it."""
    load_plugins()
    missing = [f"'{n}' (from {o})" for n, o in required.items() if n not in CUSTOM_LAYERS]
    if missing:
        raise CheckpointError(
            f"{what} needs the custom layer type(s) {', '.join(missing)}, not registered here: "
            "install the plugin, or call kspec.register_layer, before loading it"
        )
