"""Dtype policies as Keras 3 names them: the schema side (names, Keras' serialized form).

What a policy means for variables and computation is the compiler's (`compiler/precision.py`);
this module only says which policies a spec may name. It imports nothing from the other schema
modules, so `base.LayerSpec` can use it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

DTypePolicyName = Literal["float32", "bfloat16", "float16", "mixed_bfloat16", "mixed_float16"]
"""A Keras 3 dtype policy: one dtype for variables and computation, or `mixed_*`: float32
variables, computation in the low dtype."""

_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy", "Policy")
"""Class names of a serialized policy: Keras 3's two, and tf.keras' `mixed_precision.Policy`."""


def policy_name(value: Any) -> Any:
    """A policy written as Keras serializes it, `{class_name: DTypePolicy, config: {name:
    mixed_bfloat16}}` (optionally with Keras 3's `module` and `registered_name`), as its
    name; every other value is left for the `DTypePolicyName` check."""
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    extra = sorted(set(value) - {"class_name", "config", "module", "registered_name"})
    if extra:
        raise ValueError(f"a serialized dtype policy has no key {', '.join(map(repr, extra))}")
    config = value.get("config")
    if value["class_name"] not in _POLICY_CLASSES or not isinstance(config, dict):
        raise ValueError(
            "expected a dtype policy name or {class_name: DTypePolicy, config: {name: ...}}. "
            f"Received: class_name={value['class_name']!r}"
        )
    return config.get("name")


ModelDTypePolicy = Annotated[
    DTypePolicyName,
    BeforeValidator(policy_name, json_schema_input_type=DTypePolicyName | dict[str, Any]),
]
"""A model's `dtype_policy`: a name, or Keras' serialized policy."""

DTypePolicyField = Annotated[
    DTypePolicyName | None,
    BeforeValidator(policy_name, json_schema_input_type=DTypePolicyName | dict[str, Any] | None),
    Field(
        description="Dtype policy (Keras `dtype=`): `float32`, `bfloat16`, `float16`, or "
        "`mixed_bfloat16` / `mixed_float16` (float32 variables, low-precision compute); "
        "Keras' serialized `{class_name: DTypePolicy, config: {name: ...}}` is accepted. "
        "Default: the model's `dtype_policy`.",
    ),
]
"""A layer's `dtype`: None in what users write means the model's `dtype_policy`; the canonical
spec always holds a concrete one."""
