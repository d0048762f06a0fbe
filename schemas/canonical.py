"""A validated spec written back out: the canonical form, every default filled in."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel

from kspec.schemas.canonicalize import implicit_inputs
from kspec.schemas.model import ModelSpec


def to_data(spec: ModelSpec) -> dict[str, Any]:
    """Plain data of the canonical spec, `type` first in every layer, defaults filled; an
    `inputs` that only names the previous node is left out, as people write it."""
    data = spec.model_dump(mode="json")
    return _graph_data(data)


def _graph_data(data: dict[str, Any]) -> dict[str, Any]:
    layers = [_type_first(layer) for layer in data["layers"]]
    return {**data, "layers": implicit_inputs(layers, list(data["inputs"]))}


def layer_data(layer: BaseModel) -> dict[str, Any]:
    """One layer's canonical parameters, `type` first; no `inputs` (wiring is the model's)."""
    return _type_first(layer.model_dump(mode="json", exclude={"inputs"}))


def _type_first(layer: dict[str, Any]) -> dict[str, Any]:
    head = {k: layer[k] for k in ("type", "name", "shares") if k in layer}
    layer = {**head, **{k: v for k, v in layer.items() if k not in head}}
    if layer.get("type") == "Model":  # a sub-model: the same form; no format version of its own
        inner = {k: v for k, v in layer["spec"].items() if k != "kspec" or v is not None}
        layer["spec"] = _graph_data(inner)
    return layer


def to_yaml(spec: ModelSpec) -> str:
    """The canonical spec as YAML that `kspec validate` reads back to the same `ModelSpec`."""
    return yaml.safe_dump(to_data(spec), sort_keys=False, default_flow_style=None, width=100)


def to_json(spec: ModelSpec, indent: int | None = 2) -> str:
    return json.dumps(to_data(spec), indent=indent)


_STRINGS = {"type": "array", "items": {"type": "string"}}

BLOCKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Template blocks: named lists of layers with `$parameters`, used by "
    "`{block: name, ...}` nodes and expanded when the spec is loaded (docs/blocks.md).",
    "additionalProperties": {
        "type": "object",
        "required": ["layers"],
        "additionalProperties": False,
        "properties": {
            "params": {"type": "object", "description": "Parameter -> default; null: required."},
            "inputs": {**_STRINGS, "minItems": 1, "description": "Input names; default [input]."},
            "output": {"type": "string", "description": "Output node; default: the last."},
            "layers": {"type": "array", "minItems": 1, "items": {"type": ["object", "string"]}},
        },
    },
}
"""`blocks:` are expanded before validation, so `ModelSpec` has no field for them. Their layers
may hold a `$parameter` in any value, so they are described only as mappings."""

BLOCK_USE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A use of a template block; every other key is one of its parameters.",
    "required": ["block"],
    "properties": {"block": {"type": "string"}, "name": {"type": "string"}, "inputs": _STRINGS},
}


def _with_file_forms(defs: dict[str, Any]) -> None:
    """What files may hold before loading inlines it: `include:` instead of a sub-model's
    `spec:`, and a Keras 1 `Merge` whose `layers:` are models (spec/merge_models.py)."""
    model = defs["Model"]
    model["properties"]["include"] = {
        "type": "string",
        "description": "A spec file holding the sub-model, relative to this file (instead of "
        "`spec`); inlined when the spec is loaded.",
    }
    model["required"] = [r for r in model["required"] if r != "spec"]
    model["oneOf"] = [{"required": ["spec"]}, {"required": ["include"]}]
    defs["Merge"]["properties"]["layers"] = {
        "type": "array",
        "minItems": 2,
        "items": {"$ref": "#/$defs/Model"},
        "description": "Keras 1 Merge of models (first layer only): the branch models, whose "
        "inputs become the model's inputs.",
    }


def json_schema() -> dict[str, Any]:
    """JSON Schema of the spec format (canonical form, plus template blocks), for editors and
    other tools."""
    schema = ModelSpec.model_json_schema()
    schema["properties"]["blocks"] = BLOCKS_SCHEMA
    schema["properties"]["layers"]["items"]["oneOf"].append(BLOCK_USE_SCHEMA)
    _with_file_forms(schema["$defs"])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kspec.dev/schema/kspec-1.json"
    return schema
