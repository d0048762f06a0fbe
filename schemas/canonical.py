"""A validated spec written back out: the canonical form, every default filled in."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel

from kspec.schemas.model import ModelSpec


def to_data(spec: ModelSpec) -> dict[str, Any]:
    """Plain data of the canonical spec, `type` first in every layer, defaults filled."""
    data = spec.model_dump(mode="json")
    data["layers"] = [_type_first(layer) for layer in data["layers"]]
    return data


def layer_data(layer: BaseModel) -> dict[str, Any]:
    """One layer's canonical parameters, `type` first; no `inputs` (wiring is the model's)."""
    return _type_first(layer.model_dump(mode="json", exclude={"inputs"}))


def _type_first(layer: dict[str, Any]) -> dict[str, Any]:
    head = {k: layer[k] for k in ("type", "name", "shares") if k in layer}
    return {**head, **{k: v for k, v in layer.items() if k not in head}}


def to_yaml(spec: ModelSpec) -> str:
    """The canonical spec as YAML that `kspec validate` reads back to the same `ModelSpec`."""
    return yaml.safe_dump(to_data(spec), sort_keys=False, default_flow_style=None, width=100)


def to_json(spec: ModelSpec, indent: int | None = 2) -> str:
    return json.dumps(to_data(spec), indent=indent)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the spec format (canonical form), for editors and other tools."""
    schema = ModelSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kspec.dev/schema/kspec-1.json"
    return schema
