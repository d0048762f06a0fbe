"""A kspec model as a Keras 3 Functional config (`config.json` of a `.keras` archive).

A kspec spec is already Keras's layer catalogue with Keras 3 parameter names, so each layer's
config is its spec fields minus kspec's wiring keys; the graph becomes Keras 3
`inbound_nodes` (`__keras_tensor__` arguments with `keras_history`). Layers are listed in
Keras's `model.layers` order (`CompiledModel.layer_order`), the order the weights file uses.
As Keras 3 `functional.py` `serialize_node` records calls: a layer with named call arguments
(MultiHeadAttention) gets its required tensors positionally and the rest as `kwargs`
(`key`, `attention_mask`), Attention a list; Keras's call options that kspec keeps as fields
(`use_causal_mask`, `return_attention_scores`) go to `kwargs`; a sub-model node is a nested
`Functional` layer with its own `layers`, `input_layers` and `output_layers`.
"""

from __future__ import annotations

from typing import Any

from kspec.compiler import CompiledModel, Node
from kspec.errors import ExportError
from kspec.schemas.canonical import layer_data

WIRING = ("type", "name", "inputs", "shares")
"""Spec keys that say where a layer sits, not what it is."""
KSPEC_ONLY = {"lora_rank": None, "lora_alpha": None}
"""kspec fields Keras 3 may not accept, dropped when they hold this value (their default)."""
NOT_KERAS_3 = ("LocallyConnected1D", "LocallyConnected2D", "ThresholdedReLU", "Lambda")
"""kspec layer types with no Keras 3 class to load them (Lambda: code is never written)."""
CALL_OPTIONS = ("use_causal_mask", "return_attention_scores")
"""Fields of kspec's attention layers that are Keras `call` arguments, not config."""
ATTENTION = ("MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention")
LIST_CALLS = ("Attention", "AdditiveAttention")
"""Layers with named kspec inputs that Keras calls with one list (`[query, value, key]`)."""


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
        if key in CALL_OPTIONS and kind in ATTENTION:
            continue  # a call argument (`_call_kwargs`)
        if isinstance(value, dict) and "type" in value:
            value = layer_config(value, value.get("name") or f"{name}_{key}")
        config[key] = value
    return {"module": "keras.layers", "class_name": kind, "config": config, "registered_name": None}


def model_config(compiled: CompiledModel, name: str | None = None) -> dict[str, Any]:
    """The Functional config of `compiled` (named `name`, for a nested model): input layers,
    then layers in `model.layers` order, each with one inbound node per application."""
    graph = compiled.graph
    calls: dict[str, int] = {}
    history: dict[str, tuple[str, int]] = {name: (name, 0) for name in graph.inputs}
    inbound: dict[str, list[dict[str, Any]]] = {}
    first: dict[str, Node] = {}
    for node in graph.nodes:
        call = calls.get(node.layer, 0)
        calls[node.layer] = call + 1
        history[node.name] = (node.layer, call)
        tensors = [_tensor(compiled, history, ref) for ref in node.inputs]
        inbound.setdefault(node.layer, []).append(_call(node, tensors))
        first.setdefault(node.layer, node)
    layers = [_input_layer(compiled, name) for name in graph.inputs]
    for layer in compiled.layer_order():
        entry = _entry(compiled, first[layer], layer)
        layers.append({**entry, "name": layer, "inbound_nodes": inbound[layer]})
    config = {
        "name": name or compiled.spec.name,
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


def _entry(compiled: CompiledModel, node: Node, layer: str) -> dict[str, Any]:
    """A layer's serialized form; a sub-model's a nested Sequential (a chain) or Functional."""
    if layer not in compiled.submodels:
        return layer_config(layer_data(node.spec), layer)
    sub = compiled.submodels[layer]
    entry = sequential_config(sub, layer) if is_chain(sub) else model_config(sub, layer)
    if node.spec.trainable is False:
        entry["config"]["trainable"] = False
    return entry


def is_chain(compiled: CompiledModel) -> bool:
    """One input, each node applying its own layer once to the one before, the last one the
    output: what a Keras `Sequential` is."""
    graph = compiled.graph
    before = list(graph.inputs)
    if len(before) != 1 or not graph.nodes:
        return False
    for node in graph.nodes:
        if node.name != node.layer or node.slots is not None or len(node.inputs) != 1:
            return False
        if (node.inputs[0].node, node.inputs[0].index) != (before[-1], 0):
            return False
        before.append(node.name)
    outputs = [(ref.node, ref.index) for ref in graph.outputs]
    return outputs == [(before[-1], 0)]


def sequential_config(compiled: CompiledModel, name: str) -> dict[str, Any]:
    """A chain as Keras 3 serializes a `Sequential` (keras/src/models/sequential.py
    `get_config`): its `InputLayer`, then each layer, no `inbound_nodes`."""
    start = _input_layer(compiled, compiled.graph.inputs[0])
    start = {k: v for k, v in start.items() if k not in ("name", "inbound_nodes")}
    nodes = {node.layer: node for node in compiled.graph.nodes}
    layers = [start, *(_entry(compiled, nodes[n.layer], n.layer) for n in compiled.graph.nodes)]
    config = {"name": name, "trainable": True, "layers": layers}
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": config,
        "registered_name": None,
    }


def _call(node: Node, tensors: list[Any]) -> dict[str, Any]:
    """One inbound node: the tensors as Keras takes them, and the call options."""
    kwargs = _call_kwargs(node.spec)
    if node.slots is None:
        return {"args": [tensors] if len(tensors) > 1 else tensors, "kwargs": kwargs}
    if node.spec.type in LIST_CALLS:
        return {"args": [tensors], "kwargs": kwargs}
    names = node.spec.call_arguments
    args: list[Any] = []
    for slot, tensor in zip(node.slots, tensors, strict=True):
        if slot == len(args) and slot < node.spec.required_call_arguments:
            args.append(tensor)
        else:
            kwargs[names[slot]] = tensor
    return {"args": args, "kwargs": kwargs}


def _call_kwargs(spec: Any) -> dict[str, Any]:
    if spec.type not in ATTENTION:
        return {}
    return {key: True for key in CALL_OPTIONS if getattr(spec, key) is True}


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
