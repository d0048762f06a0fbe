"""Base classes shared by every schema: strict, frozen pydantic models with Keras 1 aliases."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kspec.errors import KspecDeprecationWarning
from kspec.schemas.precision import DTypePolicyField


class SpecModel(BaseModel):
    """A strict, immutable piece of a spec: unknown keys are errors, values are never coerced
    from the wrong kind (a string is not silently a number)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Alias = str | tuple[str | None, Callable[[Any], Any]]
"""A Keras 1 parameter's modern name, optionally with a converter for its value
(e.g. `("data_format", {"tf": "channels_last", "th": "channels_first"}.get)`). A name of None
marks a parameter Keras 3 dropped: the converter checks the value (raising `ValueError` for
values that meant something else) and the key is removed with a warning."""


def rename_legacy_keys(
    type_name: str,
    aliases: dict[str, Alias],
    data: dict[str, Any],
    where: Callable[[str], str] | None = None,
    merges: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Rename Keras 1 parameter names to their modern names (converting values where the
    meaning changed), warning once for each. `merges` maps a modern name to several Keras 1
    keys whose values form its list, in order (`kernel_size: (nb_row, nb_col)`).

    `where(old_key)` prefixes the warning with the key's place (e.g. `model.yaml:4:19: node
    'dense'`); it is None for specs built in Python, where the warning's own stack location
    points at the caller.
    """
    data = _merge_legacy_keys(type_name, merges or {}, data, where)
    if not any(old in data for old in aliases):
        return data
    renamed = dict(data)
    for old, alias in aliases.items():
        if old not in renamed:
            continue
        new, convert = (alias, None) if isinstance(alias, str) else alias
        prefix = f"{where(old)}: " if where else ""
        if new is None:  # dropped by Keras 3: accepted only where it meant Keras 3's behaviour
            assert convert is not None
            value = renamed.pop(old)
            convert(value)
            warnings.warn(
                f"{prefix}{type_name}: `{old}={value!r}` is a Keras 1 parameter that Keras 3 "
                "dropped; remove it",
                KspecDeprecationWarning,
                stacklevel=3,
            )
            continue
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


def _merge_legacy_keys(
    type_name: str,
    merges: dict[str, tuple[str, ...]],
    data: dict[str, Any],
    where: Callable[[str], str] | None,
) -> dict[str, Any]:
    """Join multi-key Keras 1 parameters (`nb_row: 3, nb_col: 5` -> `kernel_size: [3, 5]`)."""
    for new, olds in merges.items():
        present = [old for old in olds if old in data]
        if not present:
            continue
        keys = ", ".join(f"`{old}`" for old in olds)
        if len(present) != len(olds):
            raise ValueError(f"{keys} are Keras 1 parts of `{new}`; give all of them")
        if new in data:
            raise ValueError(f"{keys} are the Keras 1 form of `{new}`; give only one of them")
        prefix = f"{where(present[0])}: " if where else ""
        warnings.warn(
            f"{prefix}{type_name}: {keys} are Keras 1 names; use `{new}: "
            f"[{', '.join(repr(data[old]) for old in olds)}]` instead",
            KspecDeprecationWarning,
            stacklevel=4,
        )
        data = {k: v for k, v in data.items() if k not in olds} | {new: [data[old] for old in olds]}
    return data


class LayerSpec(SpecModel):
    """Fields every layer node has, whatever its type."""

    # A layer schema is built when the first node of its type is validated, not when its class
    # is defined: building all of them is most of the cost of importing kspec.
    model_config = ConfigDict(defer_build=True)

    keras1_aliases: ClassVar[dict[str, Alias]] = {}
    """Keras 1 parameter names accepted for this layer's modern ones (with a warning)."""
    keras1_merges: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Modern parameters that Keras 1 spread over several keys, e.g.
    `{"kernel_size": ("nb_row", "nb_col")}` (joined into a list, with a warning)."""

    call_arguments: ClassVar[tuple[str, ...]] = ()
    """The names of the tensors the layer's Keras `call` takes, in Keras' positional order
    (`("query", "value", "key", "attention_mask")`); empty for a plain list of inputs. A spec
    may then give `inputs:` as a mapping from these names; lowerings get one entry per
    argument, None for an optional one left out."""
    required_call_arguments: ClassVar[int] = 0
    """How many of the leading `call_arguments` must be given."""

    name: str | None = Field(
        None,
        description="Node name, unique in the model. Default: Keras style from the type "
        "(`dense`, `dense_1`, `re_lu`, ...).",
        min_length=1,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.\-/]*$",
    )
    inputs: list[str] | dict[str, str] | None = Field(
        None,
        min_length=1,
        description="Names of the nodes or model inputs feeding this node (`node:1` selects a "
        "node's second output), or, for layers with named call arguments (attention), a "
        "mapping from argument name to node. Default: the previous node's output.",
    )
    trainable: bool = Field(
        True, description="Whether the layer's weights are updated by training."
    )
    dtype: DTypePolicyField = None

    @model_validator(mode="before")
    @classmethod
    def _accept_keras1_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and (cls.keras1_aliases or cls.keras1_merges):
            return rename_legacy_keys(
                data.get("type", cls.__name__), cls.keras1_aliases, data, None, cls.keras1_merges
            )
        return data
