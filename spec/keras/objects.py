"""Serialized Keras objects inside a layer config, as kspec writes them.

Initializers, regularizers and constraints reach kspec in four spellings: Keras 1 strings and
`{"name": ...}` dicts, Keras 2 `{"class_name", "config"}`, Keras 3 `{"module", "class_name",
"config", "registered_name"}`. kspec's schemas read `{"class_name", "config"}` (and names), so
every form is brought to that one. Dtype policies (`"float32"`, `{"class_name": "DTypePolicy",
"config": {"name": "mixed_float16"}}`, tf.keras's `Policy`) are read to their name.
"""

from __future__ import annotations

from typing import Any

KERAS1_REGULARIZERS = ("WeightRegularizer", "L1L2Regularizer", "ActivityRegularizer")
"""Keras 1 regularizer classes (`keras/regularizers.py` 1.x), all an L1 + L2 penalty."""

KERAS1_CONSTRAINT_PARAMETERS = {"m": "max_value", "low": "min_value", "high": "max_value"}
"""Keras 1 constraint parameter names (`keras/constraints.py` 1.x: `MaxNorm(m=2)`)."""

KERAS2_DISTRIBUTIONS = {"normal": "truncated_normal"}
"""Keras 2's `VarianceScaling(distribution="normal")` drew from a truncated normal
(keras 2.2.4 `initializers.py`: `stddev = sqrt(scale) / .87962566103423978`)."""


def is_serialized(value: Any) -> bool:
    """A Keras 2/3 serialized object: a dict with `class_name` and `config`."""
    return isinstance(value, dict) and "class_name" in value and "config" in value


def plain_object(value: Any, notes: list[str]) -> Any:
    """`value` (an initializer, regularizer or constraint in any generation's form) as
    `{"class_name", "config"}`, a name, or unchanged; `notes` gains each conversion made."""
    if isinstance(value, dict) and "name" in value and "class_name" not in value:
        return _keras1_object(value, notes)
    if not is_serialized(value):
        return value
    class_name, config = value["class_name"], value["config"]
    if not isinstance(config, dict):
        return {"class_name": class_name, "config": config}
    # Keras 3 writes every parameter, unset ones as null (`seed`, `input_axes`); kspec's
    # defaults are those nulls, and it knows no more than Keras 3's documented parameters.
    config = {k: v for k, v in config.items() if v is not None}
    distribution = config.get("distribution")
    if class_name == "VarianceScaling" and distribution in KERAS2_DISTRIBUTIONS:
        config["distribution"] = KERAS2_DISTRIBUTIONS[distribution]
        notes.append(f"VarianceScaling distribution '{distribution}' is Keras 2's truncated normal")
    return {"class_name": class_name, "config": config}


def _keras1_object(value: dict[str, Any], notes: list[str]) -> Any:
    name = value["name"]
    params = {k: v for k, v in value.items() if k != "name"}
    if name in KERAS1_REGULARIZERS:
        notes.append(f"Keras 1 {name} is L1L2")
        return {"class_name": "L1L2", "config": {k: params.get(k, 0.0) for k in ("l1", "l2")}}
    renamed = {KERAS1_CONSTRAINT_PARAMETERS.get(k, k): v for k, v in params.items()}
    if renamed != params:
        notes.append(f"Keras 1 {name} parameters {sorted(params)} renamed {sorted(renamed)}")
    return {"class_name": name, "config": renamed}


def dtype_name(value: Any) -> str | None:
    """The name of a dtype policy in any generation's spelling, None if there is none."""
    if isinstance(value, str):
        return value
    if is_serialized(value) and isinstance(value["config"], dict):
        name = value["config"].get("name")
        return name if isinstance(name, str) else None
    return None
