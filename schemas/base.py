"""Base classes shared by every schema: strict, frozen pydantic models with Keras 1 aliases."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kspec.errors import KspecDeprecationWarning


class SpecModel(BaseModel):
    """A strict, immutable piece of a spec: unknown keys are errors, values are never coerced
    from the wrong kind (a string is not silently a number)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Alias = str | tuple[str, Callable[[Any], Any]]
"""A Keras 1 parameter's modern name, optionally with a converter for its value
(e.g. `("data_format", {"tf": "channels_last", "th": "channels_first"}.get)`)."""


def rename_legacy_keys(
    type_name: str,
    aliases: dict[str, Alias],
    data: dict[str, Any],
    where: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Rename Keras 1 parameter names to their modern names (converting values where the
    meaning changed), warning once for each.

    `where(old_key)` prefixes the warning with the key's place (e.g. `model.yaml:4:19: node
    'dense'`); it is None for specs built in Python, where the warning's own stack location
    points at the caller.
    """
    if not any(old in data for old in aliases):
        return data
    renamed = dict(data)
    for old, alias in aliases.items():
        if old not in renamed:
            continue
        new, convert = (alias, None) if isinstance(alias, str) else alias
        prefix = f"{where(old)}: " if where else ""
        if new in renamed:
            raise ValueError(f"`{old}` is the Keras 1 name of `{new}`; give only one of them")
        warnings.warn(
            f"{prefix}{type_name}: `{old}` is a Keras 1 name; use `{new}` instead",
            KspecDeprecationWarning,
            stacklevel=3,
        )
        value = renamed.pop(old)
        converted = convert(value) if convert is not None else value
        renamed[new] = value if converted is None else converted
    return renamed


class LayerSpec(SpecModel):
    """Fields every layer node has, whatever its type."""

    keras1_aliases: ClassVar[dict[str, Alias]] = {}
    """Keras 1 parameter names accepted for this layer's modern ones (with a warning)."""

    name: str | None = Field(
        None,
        description="Node name, unique in the model. Default: Keras style from the type "
        "(`dense`, `dense_1`, `re_lu`, ...).",
        min_length=1,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.\-/]*$",
    )
    inputs: list[str] | None = Field(
        None,
        min_length=1,
        description="Names of the nodes or model inputs feeding this node (`node:1` selects a "
        "node's second output). Default: the previous node's output.",
    )
    trainable: bool = Field(
        True, description="Whether the layer's weights are updated by training."
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_keras1_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.keras1_aliases:
            return rename_legacy_keys(data.get("type", cls.__name__), cls.keras1_aliases, data)
        return data
