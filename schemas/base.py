"""Base classes shared by every schema: strict, frozen pydantic models with Keras 1 aliases."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Rename:
    """One Keras 1 parameter replaced by its modern form: `old` (several keys for a merged
    parameter) -> `new` (None: Keras 3 dropped it), `value` the old value(s), `converted` the
    new one."""

    old: tuple[str, ...]
    new: str | None
    value: Any
    converted: Any = None

    def warning(self, type_name: str) -> str:
        """The deprecation warning's text (a spec file written with Keras 1 names)."""
        keys = ", ".join(f"`{key}`" for key in self.old)
        if self.new is None:
            return (
                f"{type_name}: `{self.old[0]}={self.value!r}` is a Keras 1 parameter that "
                "Keras 3 dropped; remove it"
            )
        if len(self.old) > 1:
            values = ", ".join(repr(v) for v in self.value)
            return f"{type_name}: {keys} are Keras 1 names; use `{self.new}: [{values}]` instead"
        return f"{type_name}: {keys} is a Keras 1 name; use `{self.new}` instead"

    def report(self) -> str:
        """The import report's line (a Keras 1 config translated): old name -> new name."""
        keys = ", ".join(f"`{key}`" for key in self.old)
        if self.new is None:
            return f"Keras 1 `{self.old[0]}={self.value!r}` dropped (Keras 3 dropped it)"
        plural = "s" if len(self.old) > 1 else ""
        changed = f" ({self.value!r} -> {self.converted!r})" if self.converted != self.value else ""
        return f"Keras 1 name{plural} {keys} -> `{self.new}`{changed}"


def rename_legacy_keys(
    type_name: str,
    aliases: dict[str, Alias],
    data: dict[str, Any],
    where: Callable[[str], str] | None = None,
    merges: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Rename Keras 1 parameter names to their modern names (`legacy_renames`), warning once
    for each.

    `where(old_key)` prefixes the warning with the key's place (e.g. `model.yaml:4:19: node
    'dense'`); it is None for specs built in Python, where the warning's own stack location
    points at the caller.
    """
    renamed, renames = legacy_renames(aliases, data, merges or {})
    for rename in renames:
        prefix = f"{where(rename.old[0])}: " if where else ""
        warnings.warn(prefix + rename.warning(type_name), KspecDeprecationWarning, stacklevel=3)
    return renamed


def legacy_renames(
    aliases: dict[str, Alias], data: dict[str, Any], merges: dict[str, tuple[str, ...]]
) -> tuple[dict[str, Any], list[Rename]]:
    """`data` with Keras 1 parameter names replaced by their modern names (converting values
    where the meaning changed), and each replacement made. `merges` maps a modern name to
    several Keras 1 keys whose values form its list, in order (`kernel_size: (nb_row,
    nb_col)`). Raises `ValueError` for a parameter given under both names."""
    renames: list[Rename] = []
    for new, olds in merges.items():
        present = [old for old in olds if old in data]
        if not present:
            continue
        keys = ", ".join(f"`{old}`" for old in olds)
        if len(present) != len(olds):
            raise ValueError(f"{keys} are Keras 1 parts of `{new}`; give all of them")
        if new in data:
            raise ValueError(f"{keys} are the Keras 1 form of `{new}`; give only one of them")
        values = [data[old] for old in olds]
        renames.append(Rename(olds, new, values, values))
        data = {k: v for k, v in data.items() if k not in olds} | {new: values}
    if not any(old in data for old in aliases):
        return data, renames
    renamed = dict(data)
    for old, alias in aliases.items():
        if old not in renamed:
            continue
        new, convert = (alias, None) if isinstance(alias, str) else alias
        if new is None:  # dropped by Keras 3: accepted only where it meant Keras 3's behaviour
            assert convert is not None
            value = renamed.pop(old)
            convert(value)
            renames.append(Rename((old,), None, value))
            continue
        if new in renamed:
            raise ValueError(f"`{old}` is the Keras 1 name of `{new}`; give only one of them")
        value = renamed.pop(old)
        converted = convert(value) if convert is not None else value
        renamed[new] = value if converted is None else converted
        renames.append(Rename((old,), new, value, renamed[new]))
    return renamed, renames


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
