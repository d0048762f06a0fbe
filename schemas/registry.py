"""The layer catalogue: every layer schema, in one explicit list (no import side effects)."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator, Field, Tag

from kspec.schemas.base import LayerSpec, SpecModel
from kspec.schemas.custom import CUSTOM_LAYERS, CustomLayers
from kspec.schemas.layers import (
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

FAMILIES = [
    core, convolution, pooling, reshaping, locally_connected, merge, activations, normalization,
    noise, embedding, recurrent, wrappers, composition, applications, attention,
    transformer, legacy, preprocessing,
]  # fmt: skip

LAYER_TYPES: list[type[LayerSpec]] = [cls for family in FAMILIES for cls in family.LAYERS]
"""Every built-in layer schema; the compiler holds one lowering for each (a test checks).
Custom types registered at run time live in `custom.CUSTOM_LAYERS`; `layer_class` finds both."""

TYPE_ALIASES: dict[str, str] = {
    old: new for family in FAMILIES for old, new in family.TYPE_ALIASES.items()
}
"""Keras 1 layer type names accepted for their modern type, with a deprecation warning."""

TYPE_SYNONYMS: dict[str, str] = {
    short: name for family in FAMILIES for short, name in getattr(family, "SYNONYMS", {}).items()
}
"""Other current Keras names of a type (`MaxPool2D` for `MaxPooling2D`), accepted silently."""

LAYERS_BY_TYPE: dict[str, type[LayerSpec]] = {cls.__name__: cls for cls in LAYER_TYPES}


def layer_class(type_name: object) -> type[LayerSpec] | None:
    """The schema of a layer type: built-in or registered custom, None if unknown (or not a
    name at all)."""
    if not isinstance(type_name, str):
        return None
    return LAYERS_BY_TYPE.get(type_name) or CUSTOM_LAYERS.get(type_name)


def known_type_names() -> list[str]:
    """Every name a spec may use as `type` now (for "did you mean" suggestions)."""
    return [*LAYERS_BY_TYPE, *CUSTOM_LAYERS, *TYPE_ALIASES, *TYPE_SYNONYMS]


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


AnyLayer = Annotated[
    Union[  # noqa: UP007 - built from a list
        tuple(Annotated[cls, Tag(cls.__name__)] for cls in LAYER_TYPES)
        + (Annotated[SharedNode, Tag("shares")],)
    ],
    Discriminator(node_kind),
    CustomLayers,
    Field(description="A layer node: `type` plus that layer's parameters, or `shares`."),
]

InnerLayer = Annotated[
    Union[  # noqa: UP007 - built from a list
        tuple(Annotated[cls, Tag(cls.__name__)] for cls in LAYER_TYPES)
    ],
    Discriminator(node_kind),
    CustomLayers,
    Field(description="A layer wrapped by another (`type` plus its parameters)."),
]
"""The nested `layer:` of wrappers: any layer type (a shared node cannot be wrapped)."""
