"""A kspec model as a Keras 3 Functional config (`config.json` of a `.keras` archive).

A kspec spec is already Keras's layer catalogue with Keras 3 parameter names, so each layer's
config is its spec fields minus kspec's wiring keys; the graph becomes Keras 3
`inbound_nodes` (`__keras_tensor__` arguments with `keras_history`). Layers are listed in
Keras's `model.layers` order (`CompiledModel.layer_order`), the order the weights file uses.
"""

from __future__ import annotations

from typing import Any

from kspec.compiler import CompiledModel
from kspec.errors import ExportError
from kspec.schemas.canonical import layer_data

WIRING = ("type", "name", "inputs", "shares")
"""Spec keys that say where a layer sits, not what it is."""
KSPEC_ONLY = {"lora_rank": None, "lora_alpha": None}
"""kspec fields Keras 3 may not accept, dropped when they hold this value (their default)."""
NOT_KERAS_3 = ("LocallyConnected1D", "LocallyConnected2D", "ThresholdedReLU", "Lambda", "Model")
"""kspec layer types with no Keras 3 class to load them (Lambda: code is never written)."""


def layer_config(data: dict[str, Any], name: str) -> dict[str, Any]:
    """One layer's serialized Keras form, nested layers (wrappers) included."""
    kind = data["type"]
    if kind in NOT_KERAS_3:
        raise ExportError(
            f"layer '{name}' is a {kind}, which Keras 3 cannot load; it cannot go into a .keras"
        )
    config: dict[str, Any] = {"name": name, "dtype": "float32"}
    for key, value in data.items():
        if key in WIRING or (key in KSPEC_ONLY and KSPEC_ONLY[key] == value):
            continue
        if isinstance(value, dict) and "type" in value:
            value = layer_config(value, value.get("name") or f"{name}_{key}")
        config[key] = value
    return {"module": "keras.layers", "class_name": kind, "config": config, "registered_name": None}


def model_config(compiled: CompiledModel) -> dict[str, Any]:
    """The Functional config of `compiled`: input layers, then layers in `model.layers`
    order, each with one inbound node per application."""
    if compiled.submodels:
        raise ExportError("sub-model nodes cannot be exported to .keras yet; flatten the model")
    graph = compiled.graph
    calls: dict[str, int] = {}
    history: dict[str, tuple[str, int]] = {name: (name, 0) for name in graph.inputs}
    inbound: dict[str, list[dict[str, Any]]] = {}
    specs: dict[str, dict[str, Any]] = {}
    for node in graph.nodes:
        call = calls.get(node.layer, 0)
        calls[node.layer] = call + 1
        history[node.name] = (node.layer, call)
        tensors = [_tensor(compiled, history, ref) for ref in node.inputs]
        args: list[Any] = [tensors] if len(tensors) > 1 and node.slots is None else tensors
        inbound.setdefault(node.layer, []).append({"args": args, "kwargs": {}})
        if node.name == node.layer:
            specs[node.layer] = layer_data(node.spec)
    layers = [_input_layer(compiled, name) for name in graph.inputs]
    for layer in compiled.layer_order():
        entry = layer_config(specs[layer], layer)
        layers.append({**entry, "name": layer, "inbound_nodes": inbound[layer]})
    config = {
        "name": compiled.spec.name,
        "trainable": True,
        "layers": layers,
        "input_layers": [[name, 0, 0] for name in graph.inputs],
        "output_layers": [[*history[ref.node], ref.index] for ref in graph.outputs],
    }
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": config,
        "registered_name": "Functional",
    }


def _tensor(compiled: CompiledModel, history: dict[str, tuple[str, int]], ref: Any) -> Any:
    layer, call = history[ref.node]
    shape = compiled.shapes[ref]
    return {
        "class_name": "__keras_tensor__",
        "config": {
            "shape": [None, *shape[1:]] if shape else [],
            "dtype": "float32",
            "keras_history": [layer, call, ref.index],
        },
    }


def _input_layer(compiled: CompiledModel, name: str) -> dict[str, Any]:
    spec = compiled.spec.inputs[name]
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {"batch_shape": [None, *spec.shape], "dtype": spec.dtype, "name": name},
        "registered_name": None,
        "name": name,
        "inbound_nodes": [],
    }
