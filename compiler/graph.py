"""The node graph a canonical spec describes, in execution order, with each node's lowering."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kspec.compiler.lowering import Lowering
from kspec.errors import Location
from kspec.schemas.base import LayerSpec
from kspec.schemas.graph import Ref, node_refs, parse_ref
from kspec.schemas.model import GraphSpec
from kspec.schemas.nodes import SharedNode
from kspec.spec import SourceMap

T = TypeVar("T")
LowerNode = Callable[[LayerSpec, int, Location | None], "Lowering[Any] | None"]
"""The compiler's lowering for the layer at `layers[index]`, located there; None when it cannot
be lowered (a sub-model with mistakes, already reported)."""


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
    slots: tuple[int, ...] | None = None
    """For a layer with named call arguments: the argument each input fills."""

    def arrange(self, values: list[T]) -> list[T | None]:
        """Per-input values (arrays, shapes, masks) as the lowering takes them: one per call
        argument, None for an optional argument left out; plain inputs as they are."""
        if self.slots is None:
            return list(values)
        arranged: list[T | None] = [None] * len(self.spec.call_arguments)
        for slot, value in zip(self.slots, values, strict=True):
            arranged[slot] = value
        return arranged


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


def build_graph(spec: GraphSpec, lower: LowerNode, source_map: SourceMap | None = None) -> Graph:
    """The canonical spec's nodes in its execution order, shared nodes resolved to the layer
    they apply, each with the lowering `lower` gives its layer (once per layer). Nodes whose
    layer cannot be lowered are left out."""
    source_map = source_map or SourceMap("<dict>")
    by_name = {node.name: (i, node) for i, node in enumerate(spec.layers)}
    lowerings: dict[str, Lowering[Any] | None] = {}
    nodes = []
    for name in spec.execution_order:
        index, node = by_name[name]
        owner = node.shares if isinstance(node, SharedNode) else name
        owner_index, layer_spec = by_name[owner]
        assert isinstance(layer_spec, LayerSpec) and node.inputs is not None
        if owner not in lowerings:
            where = source_map.locate(("layers", owner_index))
            lowerings[owner] = lower(layer_spec, owner_index, where)
        lowering = lowerings[owner]
        if lowering is None:
            continue
        refs, slots = node_refs(node.inputs, layer_spec.call_arguments)
        location = source_map.locate(("layers", index))
        nodes.append(Node(name, owner, layer_spec, lowering, tuple(refs), location, slots))
    outputs = tuple(parse_ref(o) for o in spec.outputs or ())
    return Graph(tuple(nodes), tuple(spec.inputs), outputs)


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
