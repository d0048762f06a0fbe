"""Sub-models (`Model` layers) bound to their compiled graphs before shapes are inferred.

Each sub-model is compiled on its own, with its part of the source map, so its mistakes keep
their locations; its nodes then get `submodel_lowering(inner)` in place of the registry's
placeholder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kspec.compiler.graph import Graph
from kspec.compiler.layers.composition import submodel_lowering
from kspec.compiler.lowering import BuildEnv, Lowering
from kspec.errors import Diagnostic, SpecError
from kspec.schemas.layers.composition import Model
from kspec.schemas.model import GraphSpec
from kspec.schemas.registry import SharedNode
from kspec.spec import SourceMap

if TYPE_CHECKING:
    from kspec.compiler.compile import CompiledModel

CompileModel = Callable[[GraphSpec, SourceMap, Mapping[str, Callable[..., Any]]], "CompiledModel"]


def bind_submodels(
    graph: Graph,
    spec: GraphSpec,
    source_map: SourceMap,
    env: BuildEnv,
    compile_model: CompileModel,
) -> tuple[Graph, dict[str, CompiledModel], dict[str, list[Diagnostic]]]:
    """Compile each sub-model (a `Model` layer) with its part of the source map and bind its
    nodes to it. Returns the graph, the sub-models by layer, and the located mistakes found
    inside them by layer, with node names qualified (`vision/conv2d`). `compile_model` is
    the compiler's own entry point (a sub-model is compiled like any model)."""
    paths = {node.name: ("layers", i, "spec") for i, node in enumerate(spec.layers)}
    submodels: dict[str, CompiledModel] = {}
    lowerings: dict[str, Lowering[Any]] = {}
    problems: dict[str, list[Diagnostic]] = {}
    for layer, nodes in graph.layer_nodes().items():
        model = nodes[0].spec
        if not isinstance(model, Model):
            continue
        inner = model.spec if model.trainable else _frozen(model.spec)
        try:
            compiled = compile_model(inner, source_map.subtree(paths[layer]), env.functions)
            lowerings[layer], submodels[layer] = submodel_lowering(compiled), compiled
        except SpecError as exc:
            problems[layer] = [
                Diagnostic(
                    d.message,
                    d.location or nodes[0].location,
                    f"{layer}/{d.node}" if d.node else layer,
                )
                for d in exc.diagnostics
            ]
    nodes = tuple(
        replace(node, lowering=lowerings[node.layer]) if node.layer in lowerings else node
        for node in graph.nodes
    )
    return replace(graph, nodes=nodes), submodels, problems


def _frozen(spec: GraphSpec) -> GraphSpec:
    """A sub-model with every layer frozen (Keras: `trainable = False` on a model freezes
    its layers, so a BatchNormalization inside runs in inference mode)."""
    layers = [
        layer if isinstance(layer, SharedNode) else layer.model_copy(update={"trainable": False})
        for layer in spec.layers
    ]
    return spec.model_copy(update={"layers": layers})
