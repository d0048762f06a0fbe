"""Stage 3 entry point: `compile_model(canonical spec) -> CompiledModel` (shapes inferred, pure
`init` and `apply` ready for `jax.jit`, `jax.grad`, `jax.vmap`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kspec.compiler.deferred import jax
from kspec.compiler.graph import Node, build_graph
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    Composite,
    LayerWeights,
    Lowering,
    abstract_key,
    format_shape,
)
from kspec.compiler.model import Aux, CompiledModel, Variables, node_key
from kspec.compiler.options import LoweringOptions
from kspec.compiler.registry import registered
from kspec.compiler.shapes import expand_outputs, infer_shapes
from kspec.errors import Diagnostic, Location, SpecError
from kspec.schemas.base import LayerSpec
from kspec.schemas.graph import Ref, parse_ref
from kspec.schemas.model import GraphSpec
from kspec.spec import SourceMap
from kspec.spec.source_map import Path


def compile_model(
    spec: GraphSpec,
    source_map: SourceMap | None = None,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    lowering: LoweringOptions | None = None,
) -> CompiledModel:
    """Lower a canonical spec: build the graph (compiling its sub-models) and infer every shape
    (no weights allocated). `lowering` picks the per-backend forms (default: decided from the
    backend and the shapes).

    Raises one `SpecError` listing each node whose shapes do not fit, at its location.
    """
    source_map = source_map or SourceMap("<dict>")
    env = BuildEnv(dict(functions or {}), lowering or LoweringOptions())
    problems: list[Diagnostic] = []
    failed: set[str] = set()

    def lower(layer: LayerSpec, index: int, location: Location | None) -> Lowering[Any] | None:
        try:
            return Lookup(env, source_map, ("layers", index))(layer)
        except SpecError as exc:  # mistakes inside a sub-model, with qualified node names
            failed.add(layer.name or "")
            problems.extend(
                Diagnostic(d.message, d.location or location, f"{layer.name}/{d.node or ''}")
                for d in exc.diagnostics
            )
            return None

    graph = build_graph(spec, lower, source_map)
    inputs = {Ref(name): (inp.batch_size, *inp.shape) for name, inp in spec.inputs.items()}
    shapes, shape_problems, _ = infer_shapes(graph, inputs, env, failed)
    problems += shape_problems
    graph = expand_outputs(graph, spec, shapes)
    submodels = {
        node.layer: node.lowering.inner_model
        for node in graph.nodes
        if node.lowering.inner_model is not None
    }
    compiled = CompiledModel(spec, graph, shapes, env, submodels=submodels)
    if not problems:
        problems += _check_shared_layers(compiled)
        problems += _check_outputs(compiled, source_map)
    if problems:
        raise SpecError(problems)
    return compiled


@dataclass(frozen=True)
class Lookup:
    """The lowering of any layer spec: a registered lowering, or a composite's, bound here to
    the lowerings of what it holds. Implements `lowering.Resolve`, the lookup handed to
    wrappers and sub-models. `source_map` at `path` is the node's part of the spec, where a
    sub-model's own mistakes are located (None inside a wrapper: they point at the wrapper);
    it is re-rooted only for a sub-model, as that costs a pass over the whole map."""

    env: BuildEnv = field(default_factory=BuildEnv)
    source_map: SourceMap | None = None
    path: Path = ()
    depth: int = 0
    """How many composite layers hold the spec being lowered (1: the node's own layer)."""

    def __call__(self, spec: LayerSpec) -> Lowering[Any]:
        entry = registered(type(spec))
        if isinstance(entry, Composite):
            return entry.bind(spec, replace(self, depth=self.depth + 1))
        return entry

    def compile(self, spec: GraphSpec) -> CompiledModel:
        where = None  # inside a wrapper, mistakes point at the wrapper
        if self.source_map is not None and self.depth == 1:
            where = self.source_map.subtree((*self.path, "spec"))
        return compile_model(spec, where, self.env.functions, self.env.lowering)


def lowering_of(
    spec: LayerSpec, functions: Mapping[str, Callable[..., Any]] | None = None
) -> Lowering[Any]:
    """The lowering of one layer spec outside a model (the Python builder's shape checks,
    conformance checks)."""
    return Lookup(BuildEnv(dict(functions or {})))(spec)


def _check_outputs(compiled: CompiledModel, source_map: SourceMap) -> list[Diagnostic]:
    """An `outputs:` entry naming an output its node does not have (`dense:5`), where it is
    written."""
    problems = []
    for j, text in enumerate(compiled.spec.outputs or []):
        ref = parse_ref(text)
        if ref not in compiled.shapes:
            count = sum(1 for r in compiled.shapes if r.node == ref.node)
            problems.append(
                Diagnostic(
                    f"output '{text}' does not exist: '{ref.node}' has {count} output(s)",
                    source_map.locate(("outputs", j)),
                )
            )
    return problems


def weight_shapes(lowering: Lowering[Any], spec: LayerSpec, in_shapes: list[Any]) -> Any:
    """Shapes of the weights a layer builds for inputs of `in_shapes` (no allocation): a
    shared layer must build the same ones for every call."""

    def init(key: Array) -> LayerWeights:
        return lowering.init(spec, key, in_shapes)

    return jax.tree.map(lambda a: a.shape, jax.eval_shape(init, abstract_key()))


def _weight_shapes(compiled: CompiledModel, owner: Node, node: Node) -> Any:
    return weight_shapes(owner.lowering, owner.spec, node.arrange(compiled.input_shapes_of(node)))


def _check_shared_layers(compiled: CompiledModel) -> list[Diagnostic]:
    """A shared layer's weights must fit every node that applies it."""
    problems = []
    for layer, nodes in compiled.graph.layer_nodes().items():
        if len(nodes) < 2:
            continue
        first = nodes[0]
        expected = _weight_shapes(compiled, first, first)
        for node in nodes[1:]:
            if _weight_shapes(compiled, first, node) != expected:
                problems.append(
                    Diagnostic(
                        f"shares layer '{layer}', built for input shapes "
                        f"{[format_shape(s) for s in compiled.input_shapes_of(first)]}, but is "
                        f"fed {[format_shape(s) for s in compiled.input_shapes_of(node)]}",
                        node.location,
                        node.name,
                    )
                )
    return problems


__all__ = [
    "Aux", "CompiledModel", "LayerWeights", "Lookup", "Variables", "compile_model", "lowering_of",
    "node_key", "weight_shapes",
]  # fmt: skip
