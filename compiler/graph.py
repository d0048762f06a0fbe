"""The node graph a `ModelSpec` describes, in execution order, with each node's lowering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kspec.compiler.lowering import Lowering
from kspec.compiler.registry import lowering_for
from kspec.errors import Location
from kspec.schemas.base import LayerSpec
from kspec.schemas.graph import Ref, parse_ref, topological_order, wire
from kspec.schemas.model import ModelSpec
from kspec.schemas.registry import SharedNode
from kspec.spec import SourceMap


@dataclass(frozen=True)
class Node:
    """One application of a layer. `layer` names the node owning the weights: the node itself,
    or the node it `shares`."""

    name: str
    layer: str
    spec: LayerSpec
    lowering: Lowering[Any]
    inputs: tuple[Ref, ...]
    location: Location | None


@dataclass(frozen=True)
class Graph:
    """Nodes in execution order, the model inputs, and the output tensors."""

    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[Ref, ...]

    def layer_nodes(self) -> dict[str, list[Node]]:
        """Each layer (weight owner) with the nodes that apply it, in execution order."""
        by_layer: dict[str, list[Node]] = {}
        for node in self.nodes:
            by_layer.setdefault(node.layer, []).append(node)
        return by_layer


def build_graph(spec: ModelSpec, source_map: SourceMap | None = None) -> Graph:
    """Resolve shares, fill model-level defaults (data_format) and order the nodes."""
    source_map = source_map or SourceMap("<dict>")
    wiring = wire(spec)
    by_name = {node.name: (i, node) for i, node in enumerate(spec.layers)}
    nodes: dict[str, Node] = {}
    for name in topological_order(wiring, [n.name for n in spec.layers if n.name]):
        index, node = by_name[name]
        owner = node.shares if isinstance(node, SharedNode) else name
        layer_spec = _with_model_defaults(by_name[owner][1], spec)
        nodes[name] = Node(
            name=name,
            layer=owner,
            spec=layer_spec,
            lowering=lowering_for(type(layer_spec)),
            inputs=tuple(wiring[name]),
            location=source_map.locate(("layers", index)),
        )
    outputs = tuple(parse_ref(o) for o in spec.outputs or [spec.layers[-1].name or ""])
    return Graph(tuple(nodes.values()), tuple(spec.inputs), outputs)


def _with_model_defaults(layer: Any, spec: ModelSpec) -> LayerSpec:
    if "data_format" in type(layer).model_fields and layer.data_format is None:
        return layer.model_copy(update={"data_format": spec.data_format})
    return layer


def keras_layer_order(graph: Graph) -> list[str]:
    """Layers (weight owners) in the order Keras lists `model.layers`, which fixes the order
    of `get_weights()`: deepest first (longest path to an output), ties broken by the order in
    which a depth-first walk back from the outputs first reaches them. For a Sequential chain
    this is the list order. Mirrors `keras.src.ops.function.map_graph`.
    """
    by_name = {node.name: node for node in graph.nodes}
    first_seen: dict[str, int] = {}
    finished: list[str] = []

    def walk(name: str) -> None:
        node = by_name.get(name)
        if node is None or name in finished:
            return
        first_seen.setdefault(node.layer, len(first_seen))
        for ref in node.inputs:
            walk(ref.node)
        finished.append(name)

    for ref in graph.outputs:
        walk(ref.node)
    node_depth: dict[str, int] = {}
    layer_depth: dict[str, int] = {}
    for name in reversed(finished):
        node = by_name[name]
        depth = max(node_depth.setdefault(name, 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = node_depth[name] = depth
        for ref in node.inputs:
            if ref.node in by_name:
                node_depth[ref.node] = max(depth + 1, node_depth.get(ref.node, 0))
    return sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_seen[layer]))
