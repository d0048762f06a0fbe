"""What a model's `layers:` (and a wrapper's `layer:`) hold: a layer of any type, or a node
sharing another's layer.

The field is not a pydantic union of every layer class: building that union would build every
layer schema (most of the cost of importing kspec). A node is validated by the one schema
its `type` names, looked up in the registry when the value arrives, so a spec pays only for
the layer types it uses. The errors are the union's: a layer's own errors at their place
(`layers.2.units`: pydantic merges a `ValidationError` raised in a validator), and
`union_tag_not_found` / `union_tag_invalid` for a missing or unknown `type`. The JSON Schema
is the union's too: `oneOf` every layer schema (built-in, then registered custom ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from pydantic import BaseModel, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import CoreSchema, PydanticKnownError, core_schema

from kspec.schemas.base import LayerSpec, SpecModel
from kspec.schemas.custom import CUSTOM_LAYERS
from kspec.schemas.registry import FAMILY_OF, layer_class, layer_types


class SharedNode(SpecModel):
    """A node that applies the layer (and weights) of another node to other inputs."""

    shares: str = Field(description="Name of the node whose layer and weights are reused.")
    name: str | None = Field(None, description="Node name; default: `<shares>_<n>`.", min_length=1)
    inputs: list[str] | dict[str, str] | None = Field(
        None,
        min_length=1,
        description="Inputs, as for the shared layer; default: the previous node.",
    )


def node_kind(value: Any) -> str | None:
    """The tag of a layer item: its `type`, or `shares` for a shared node."""
    if isinstance(value, SharedNode):
        return "shares"
    if isinstance(value, BaseModel):
        return getattr(value, "type", None)
    if isinstance(value, dict):
        return "shares" if "shares" in value and "type" not in value else value.get("type")
    return None


_DISCRIMINATOR = "node_kind()"


class _LayerNode:
    """Pydantic marker for a layer node; `shared` admits `{shares: node}` too."""

    def __init__(self, shared: bool, description: str) -> None:
        self.shared, self.description = shared, description

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def validate(self, value: Any) -> BaseModel:
        kind = node_kind(value)
        if kind is None:
            raise PydanticKnownError("union_tag_not_found", {"discriminator": _DISCRIMINATOR})
        schema = SharedNode if self.shared and kind == "shares" else layer_class(kind)
        if schema is None:
            tags = [*FAMILY_OF, *CUSTOM_LAYERS, *(["shares"] if self.shared else [])]
            raise PydanticKnownError(
                "union_tag_invalid",
                {
                    "discriminator": _DISCRIMINATOR,
                    # a lone surrogate (from JSON text) cannot cross into pydantic-core
                    "tag": str(kind).encode("utf-8", "backslashreplace").decode(),
                    "expected_tags": ", ".join(repr(t) for t in tags),
                },
            )
        return schema.model_validate(value)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        shared: list[type[SpecModel]] = [SharedNode] if self.shared else []
        choices = [*layer_types(), *shared, *CUSTOM_LAYERS.values()]
        entries = []
        for cls in choices:
            with _describing(cls) as first:
                entries.append({"$ref": handler(_by_reference(cls, first))["$ref"]})
        return {"description": self.description, "oneOf": entries}


def _by_reference(cls: type[SpecModel], define: bool) -> CoreSchema:
    """A `$ref` to a schema's definition, which is added (once) when `define`."""
    schema = cls.__pydantic_core_schema__
    if schema["type"] == "definitions":
        model, definitions = schema["schema"], list(schema["definitions"])
    else:
        model, definitions = schema, []
    if model["type"] == "definition-ref":
        ref = model["schema_ref"]  # type: ignore[typeddict-item]
    else:
        ref, definitions = model["ref"], [*definitions, model]  # type: ignore[typeddict-item]
    reference = core_schema.definition_reference_schema(ref)
    return core_schema.definitions_schema(reference, definitions) if define else reference


_DESCRIBING: set[type[SpecModel]] = set()
"""Schemas whose JSON Schema is being written, so that one holding a layer node (a wrapper,
a sub-model) refers to itself by `$ref` instead of recursing."""


@contextmanager
def _describing(cls: type[SpecModel]) -> Iterator[bool]:
    """Mark `cls` as being described; yields False when it already was (a recursion)."""
    first = cls not in _DESCRIBING
    _DESCRIBING.add(cls)
    try:
        yield first
    finally:
        if first:
            _DESCRIBING.discard(cls)


AnyLayer = Annotated[
    LayerSpec | SharedNode,
    _LayerNode(True, "A layer node: `type` plus that layer's parameters, or `shares`."),
]

InnerLayer = Annotated[
    LayerSpec, _LayerNode(False, "A layer wrapped by another (`type` plus its parameters).")
]
"""The nested `layer:` of wrappers: any layer type (a shared node cannot be wrapped)."""
