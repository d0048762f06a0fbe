"""Shorthands users write, rewritten to the canonical form of DESIGN.md before validation.

- `- Dense: {units: 10}` and `- Flatten` become `- {type: ..., ...}` (also for wrapped `layer:`s);
- Keras' `input_shape` / `batch_input_shape` / `input_dim` (+ `input_length`) on the first layer,
  and `{type: Input, shape: ...}` nodes, become entries of the top-level `inputs:`;
- `inputs: {x: [28, 28]}` becomes `inputs: {x: {shape: [28, 28]}}`;
- all of the above inside sub-models (`{type: Model, spec: {...}}`) too.
Every rewrite moves the matching source-map entries, so errors still point at what the user wrote.
"""

from __future__ import annotations

import copy
from typing import Any

from kspec.errors import Diagnostic, SpecError
from kspec.spec.source_map import Path, SourceMap

INPUT_LAYER_TYPES = ("Input", "InputLayer")
NESTED_LAYER_KEYS = ("layer", "backward_layer")


def desugar(data: Any, source_map: SourceMap) -> Any:
    """Return the canonical form of a loaded spec tree (the input is left untouched)."""
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    layers = data.get("layers")
    if isinstance(layers, list):
        for i in range(len(layers)):
            layers[i] = desugar_layer(layers[i], ("layers", i), source_map)
        _hoist_input_layers(data, source_map)
        _hoist_first_layer_shape(data, source_map)
    inputs = data.get("inputs")
    if isinstance(inputs, dict):
        for name, value in inputs.items():
            if isinstance(value, list):
                inputs[name] = {"shape": value}
                source_map.values[("inputs", name, "shape")] = source_map.locate(("inputs", name))
    return data


def desugar_layer(node: Any, path: Path, source_map: SourceMap) -> Any:
    """One layer node in canonical form (a template block's layers are desugared with it)."""
    node = _layer_shorthand(node, path, source_map)
    _desugar_submodel(node, path + ("spec",), source_map)
    merge = isinstance(node, dict) and node.get("type") == "Merge"
    branches = node.get("layers") if merge else None
    if isinstance(branches, list):  # Keras 1 Merge of models: each branch is a layer node
        for j, branch in enumerate(branches):
            node["layers"][j] = desugar_layer(branch, path + ("layers", j), source_map)
    return node


def _desugar_submodel(node: Any, path: Path, source_map: SourceMap) -> None:
    """A sub-model's inline `spec:` is a spec of its own: the same shorthands apply."""
    if (
        isinstance(node, dict)
        and node.get("type") == "Model"
        and isinstance(node.get("spec"), dict)
    ):
        nested_map = source_map.subtree(path)
        node["spec"] = desugar(node["spec"], nested_map)
        source_map.replace_subtree(path, nested_map)


def _layer_shorthand(node: Any, path: Path, source_map: SourceMap) -> Any:
    if isinstance(node, str):
        source_map.values[path + ("type",)] = source_map.locate(path)
        return {"type": node}
    if isinstance(node, dict) and len(node) == 1 and "type" not in node:
        ((type_name, params),) = node.items()
        if isinstance(type_name, str) and (params is None or isinstance(params, dict)):
            item_loc = source_map.locate(path)
            type_loc = source_map.locate(path + (type_name,), key=True)
            source_map.move(path + (type_name,), path)
            source_map.values[path] = item_loc
            source_map.values[path + ("type",)] = type_loc
            node = {"type": type_name, **(params or {})}
    if isinstance(node, dict):
        for key in NESTED_LAYER_KEYS:
            if key in node:
                node[key] = desugar_layer(node[key], path + (key,), source_map)
    return node


def _hoist_input_layers(data: dict[str, Any], source_map: SourceMap) -> None:
    """Move `{type: Input, shape: ...}` nodes out of `layers` into `inputs`."""
    layers: list[Any] = data["layers"]
    i = 0
    while i < len(layers):
        node = layers[i]
        if not (isinstance(node, dict) and node.get("type") in INPUT_LAYER_TYPES):
            i += 1
            continue
        inputs = data.setdefault("inputs", {})
        if not isinstance(inputs, dict):
            return
        name = node.get("name") or _unique("input", inputs)
        if name in inputs:
            raise SpecError(
                Diagnostic(f"input '{name}' is declared twice", source_map.locate(("layers", i)))
            )
        entry = {k: v for k, v in node.items() if k not in ("type", "name")}
        batch_shape = entry.pop("batch_shape", None)
        if isinstance(batch_shape, list) and batch_shape:
            entry["batch_size"], entry["shape"] = batch_shape[0], batch_shape[1:]
        inputs[name] = entry
        source_map.move(("layers", i), ("inputs", name))
        del layers[i]
        source_map.shift_index(("layers",), i + 1, -1)
        if i < len(layers) and isinstance(layers[i], dict) and "inputs" not in layers[i]:
            layers[i]["inputs"] = [name]


def _shape_keys(node: dict[str, Any]) -> list[str]:
    """Keras keys on `node` that declare the model input (an embedding's `input_dim` is its
    vocabulary)."""
    keys = ("input_shape", "batch_input_shape", "input_length")
    if node.get("type") not in ("Embedding", "ReversibleEmbedding"):
        keys += ("input_dim",)
    return [k for k in keys if k in node]


def _hoist_first_layer_shape(data: dict[str, Any], source_map: SourceMap) -> None:
    """Turn Keras' `input_shape`-style keys on the first layer into a model input."""
    for index, node in enumerate(data["layers"]):
        present = _shape_keys(node) if isinstance(node, dict) else []
        # Embedding keeps `input_length` (checked against its input); it declares the model
        # input only on a first layer of a spec without `inputs:`
        embedding_length = present == ["input_length"] and node.get("type") == "Embedding"
        if embedding_length and (index != 0 or "inputs" in data or node["input_length"] is None):
            continue
        if not present:
            continue
        key_loc = source_map.locate(("layers", index, present[0]), key=True)
        if index != 0:
            raise SpecError(
                Diagnostic(
                    f"`{present[0]}` is only allowed on the first layer; declare the model's "
                    "inputs under `inputs:` instead",
                    key_loc,
                )
            )
        if "inputs" in data:
            raise SpecError(
                Diagnostic(
                    f"`{present[0]}` on the first layer conflicts with the top-level `inputs:`; "
                    "keep one of them",
                    key_loc,
                )
            )
        data["inputs"] = {"input": _input_from_keras_keys(node)}
        source_map.values[("inputs", "input", "shape")] = key_loc
        for key in present:
            if key != "input_length" or node.get("type") != "Embedding":
                del node[key]


def _input_from_keras_keys(node: dict[str, Any]) -> dict[str, Any]:
    """`input_shape` / `batch_input_shape` / `input_dim` (+ `input_length`) -> an input entry."""
    if node.get("type") == "Embedding":
        return {"shape": [node.get("input_length")], "dtype": "int32"}
    entry: dict[str, Any] = {}
    if "batch_input_shape" in node:
        shape = node["batch_input_shape"]
        if isinstance(shape, list) and shape:
            entry["batch_size"], shape = shape[0], shape[1:]
        entry["shape"] = shape
    elif "input_shape" in node:
        entry["shape"] = node["input_shape"]
    elif "input_dim" in node:
        entry["shape"] = [node["input_dim"]]
        if "input_length" in node:
            entry["shape"] = [node["input_length"], node["input_dim"]]
    else:
        entry["shape"] = [node["input_length"], None]
    return entry


def _unique(base: str, taken: dict[str, Any]) -> str:
    if base not in taken:
        return base
    n = 1
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"
