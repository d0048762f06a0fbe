"""Per-node introspection of a compiled model: its tensors as builder `Tensor`s, and the shapes
and tensors each application (node) of a layer reads and writes, as Keras' `get_input_at(i)`.

The tensors carry their history, so `kspec.Model(inputs=model.inputs,
outputs=model.get_layer("hidden").output)` builds a feature extractor (with fresh weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kspec.compiler import CompiledModel, Shape, format_shape
from kspec.compiler import Node as GraphNode
from kspec.runtime.builder import Layer, Node, Tensor
from kspec.runtime.catalogue import from_spec
from kspec.schemas.graph import Ref


@dataclass(frozen=True)
class Traced:
    """Every tensor of a compiled model, as a builder tensor, by reference."""

    tensors: dict[Ref, Tensor]

    def get(self, refs: list[Ref]) -> list[Tensor]:
        return [self.tensors[r] for r in refs]


def trace(compiled: CompiledModel) -> Traced:
    """Builder tensors for the model's inputs and every node output (shapes as inferred)."""
    tensors: dict[Ref, Tensor] = {}
    for name, spec in compiled.spec.inputs.items():
        node = Node(layer=None, inputs=[], input_spec=spec.model_dump(mode="json"), name=name)
        tensor = Tensor(compiled.shapes[Ref(name)], node, 0, spec.dtype)
        node.outputs.append(tensor)
        tensors[Ref(name)] = tensor
    layers: dict[str, Layer] = {}
    for graph_node in compiled.graph.nodes:
        if graph_node.layer not in layers:
            layers[graph_node.layer] = from_spec(graph_node.spec)
        layer = layers[graph_node.layer]
        node = Node(layer, [tensors[r] for r in graph_node.inputs], name=graph_node.name)
        node.as_list = len(graph_node.inputs) > 1
        node.outputs = [
            Tensor(shape, node, i) for i, shape in enumerate(output_shapes(compiled, graph_node))
        ]
        layer.nodes.append(node)
        for i, tensor in enumerate(node.outputs):
            tensors[Ref(graph_node.name, i)] = tensor
    return Traced(tensors)


def output_shapes(compiled: CompiledModel, node: GraphNode) -> list[Shape]:
    refs = sorted((r for r in compiled.shapes if r.node == node.name), key=lambda r: r.index)
    return [compiled.shapes[r] for r in refs]


def layer_nodes(compiled: CompiledModel, layer: str) -> list[GraphNode]:
    return compiled.graph.layer_nodes()[layer]


def node_at(compiled: CompiledModel, layer: str, index: int) -> GraphNode:
    """The `index`-th application of `layer` (execution order), or a ValueError naming them."""
    nodes = layer_nodes(compiled, layer)
    if not 0 <= index < len(nodes):
        raise ValueError(
            f"layer '{layer}' has {len(nodes)} node(s) ({_names(nodes)}); "
            f"node index {index} is out of range"
        )
    return nodes[index]


def one(values: list[Any]) -> Any:
    """Keras returns a single tensor or shape for one, a list for several."""
    return values[0] if len(values) == 1 else values


def unique_per_node(
    compiled: CompiledModel, layer: str, what: str, values: list[Any], shapes: bool
) -> Any:
    """The value of a layer applied once; for a shared layer an error naming its nodes (and,
    for shapes that differ, each node's shape) that points to the `get_*_at` form."""
    nodes = layer_nodes(compiled, layer)
    if len(nodes) == 1:
        return values[0]
    detail = ""
    if shapes and any(v != values[0] for v in values):
        detail = (
            " with different shapes ("
            + "; ".join(f"{n.name}: {_format(v)}" for n, v in zip(nodes, values, strict=True))
            + ")"
        )
    return _raise(
        f"layer '{layer}' is shared by {len(nodes)} nodes ({_names(nodes)}){detail}, so its "
        f"`{what}` is ambiguous: use get_{what}_at(node_index)"
    )


def _raise(message: str) -> Any:
    raise ValueError(message)


def _names(nodes: list[GraphNode]) -> str:
    return ", ".join(n.name for n in nodes)


def _format(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(format_shape(s) for s in value) + "]"
    return format_shape(value)
