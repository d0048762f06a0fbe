"""Stage 3 entry point: `compile_model(ModelSpec) -> CompiledModel` (shapes inferred, pure
`init` and `apply` ready for `jax.jit`, `jax.grad`, `jax.vmap`)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp

from kspec.compiler.graph import Graph, Node, build_graph, keras_layer_order
from kspec.compiler.lowering import Array, BuildEnv, LayerCall, LayerWeights, Shape, format_shape
from kspec.compiler.regularizers import activity_penalty, constrain, penalty
from kspec.compiler.submodels import bind_submodels
from kspec.errors import Diagnostic, ShapeError, SpecError
from kspec.schemas.graph import Ref, parse_ref
from kspec.schemas.model import GraphSpec
from kspec.spec import SourceMap

Variables = dict[str, dict[str, dict[str, Array]]]
"""`{"params": {layer: {weight: array}}, "state": {layer: {...}}}`, Keras names and order."""


@dataclass(frozen=True)
class Aux:
    """What a training-mode apply returns besides outputs: the layers' new state and the sum of
    the losses layers added (activity and weight regularization)."""

    state: dict[str, dict[str, Array]]
    loss: Array


jax.tree_util.register_dataclass(Aux, data_fields=["state", "loss"], meta_fields=[])


def node_key(key: Array, name: str) -> Array:
    """A per-node key derived from the node's name, so results never depend on build order."""
    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


@dataclass(frozen=True)
class CompiledModel:
    """A validated model lowered to pure functions, with every tensor's inferred shape.
    `spec` is a `ModelSpec` for a model file, a `GraphSpec` for a sub-model; `submodels`
    holds the compiled sub-model of each `Model` layer."""

    spec: GraphSpec
    graph: Graph
    shapes: dict[Ref, Shape]
    env: BuildEnv = field(default_factory=BuildEnv)
    submodels: dict[str, CompiledModel] = field(default_factory=dict)
    _weight_order: dict[str, list[tuple[str, str]]] = field(default_factory=dict, repr=False)

    @property
    def input_shapes(self) -> dict[str, Shape]:
        return {name: self.shapes[Ref(name)] for name in self.graph.inputs}

    @property
    def output_shapes(self) -> list[Shape]:
        return [self.shapes[ref] for ref in self.graph.outputs]

    def input_shapes_of(self, node: Node) -> list[Shape]:
        return [self.shapes[ref] for ref in node.inputs]

    def weight_names(self, layer: str) -> list[tuple[str, str]]:
        """`(group, name)` of a layer's variables in Keras `get_weights` order. Pytree
        operations sort dict keys, so the order is recorded here, from what `init` returns,
        rather than read back from a variables dict."""
        if layer not in self._weight_order:
            first = self.graph.layer_nodes()[layer][0]
            names: list[tuple[str, str]] = []

            def record(key: Array) -> LayerWeights:
                weights = first.lowering.init(first.spec, key, self.input_shapes_of(first))
                names.extend(weights.keras_order())
                return weights

            jax.eval_shape(record, jax.random.PRNGKey(0))
            self._weight_order[layer] = names
        return self._weight_order[layer]

    def keras_weights(self) -> list[tuple[str, str, str]]:
        """`(layer, group, name)` of every weight, in Keras `get_weights` order."""
        return [
            (layer, group, name)
            for layer in keras_layer_order(self.graph)
            for group, name in self.weight_names(layer)
        ]

    def output_shapes_for(self, shapes: list[Shape]) -> list[Shape]:
        """The output shapes when applied to inputs of `shapes` (one per model input, in
        declared order), as a sub-model node: each must fit the declared input shape, whose
        unknown sizes (`None`) take the given ones."""
        declared = self.input_shapes
        if len(shapes) != len(declared):
            raise ShapeError(
                f"the sub-model '{self.spec.name}' takes {len(declared)} input(s) "
                f"({', '.join(declared)}). Received: {len(shapes)} inputs"
            )
        inputs: dict[Ref, Shape] = {}
        for (name, want), got in zip(declared.items(), shapes, strict=True):
            pairs = list(zip(want, got, strict=False))
            if len(want) != len(got) or any(w != g for w, g in pairs if None not in (w, g)):
                raise ShapeError(
                    f"the sub-model '{self.spec.name}' expects input '{name}' of shape "
                    f"{format_shape(want)}. Received: shape={format_shape(got)}"
                )
            inputs[Ref(name)] = tuple(g if w is None else w for w, g in pairs)
        result, problems, masked = _infer_shapes(self.graph, inputs, self.env, set())
        if problems:
            raise ShapeError(f"{problems[0].message} (in sub-model node '{problems[0].node}')")
        for ref in self.graph.outputs:
            if ref in masked:  # Keras would pass it on; kspec does not drop masks silently
                raise ShapeError(
                    f"the sub-model's output '{ref}' carries the mask node '{masked[ref]}' "
                    "makes, which a sub-model does not pass on; consume it inside (an RNN, "
                    "GlobalAveragePooling1D)"
                )
        return [result[ref] for ref in self.graph.outputs]

    def init(self, key: Array) -> Variables:
        """Fresh variables; each layer's key is derived from its name."""
        params: dict[str, dict[str, Array]] = {}
        state: dict[str, dict[str, Array]] = {}
        for layer, nodes in self.graph.layer_nodes().items():
            first = nodes[0]
            weights = first.lowering.init(
                first.spec, node_key(key, layer), self.input_shapes_of(first)
            )
            if weights.params:
                params[layer] = weights.params
            if weights.state:
                state[layer] = weights.state
        return {"params": params, "state": state}

    def apply(
        self,
        variables: Variables,
        inputs: Mapping[str, Array],
        *,
        training: bool = False,
        rng: Array | None = None,
    ) -> tuple[list[Array], Aux]:
        """Run the graph. Pure: new state and added losses come back in `Aux`."""
        outputs, new_state, losses = self.run(variables, inputs, training=training, rng=rng)
        losses.append(self.weight_penalty(variables.get("params", {})))
        return outputs, Aux(new_state, jnp.sum(jnp.stack([jnp.sum(loss) for loss in losses])))

    def run(
        self,
        variables: Variables,
        inputs: Mapping[str, Array],
        *,
        training: bool = False,
        rng: Array | None = None,
    ) -> tuple[list[Array], dict[str, dict[str, Array]], list[Array]]:
        """`apply` without the weight penalty: outputs, new state and the losses layers
        added. A sub-model node runs this, its weights' penalties being the parent's."""
        values: dict[Ref, Array] = {}
        masks: dict[Ref, Array | None] = {}
        for name in self.graph.inputs:
            spec = self.spec.inputs[name]
            values[Ref(name)] = jnp.asarray(inputs[name], dtype=spec.dtype)
        params, state = variables.get("params", {}), variables.get("state", {})
        new_state = dict(state)
        losses: list[Array] = []
        for node in self.graph.nodes:
            xs = [values[r] for r in node.inputs]
            call = LayerCall(
                training=training,
                rng=None if rng is None else node_key(rng, node.name),
                masks=[masks.get(r) for r in node.inputs],
                state=state.get(node.layer, {}),
                env=self.env,
            )
            outputs = node.lowering.apply(node.spec, params.get(node.layer, {}), xs, call)
            out_masks = node.lowering.compute_mask(node.spec, call.masks, xs)
            for i, y in enumerate(outputs):
                values[Ref(node.name, i)] = y
                masks[Ref(node.name, i)] = out_masks[i] if i < len(out_masks) else None
            activity = getattr(node.spec, "activity_regularizer", None)
            if activity is not None:
                losses += [activity_penalty(activity, y) for y in outputs]
            losses += call.losses
            if call.new_state is not None:
                new_state[node.layer] = call.new_state
        return [values[ref] for ref in self.graph.outputs], new_state, losses

    def weight_penalty(self, params: Mapping[str, Mapping[str, Array]]) -> Array:
        """Sum of every `*_regularizer` penalty on the weights (Keras' weight losses)."""
        total = jnp.zeros((), jnp.float32)
        for layer, weight, regularizer in self._weight_rules("_regularizer"):
            if layer in params and weight in params[layer]:
                total += penalty(regularizer, params[layer][weight])
        return total

    def constrain(self, params: Variables | dict[str, Any]) -> dict[str, Any]:
        """Params with every `*_constraint` applied (call after each optimizer update)."""
        result = {layer: dict(ws) for layer, ws in params.items()}
        for layer, weight, constraint in self._weight_rules("_constraint"):
            if layer in result and weight in result[layer]:
                result[layer][weight] = constrain(constraint, result[layer][weight])
        return result

    def _weight_rules(self, suffix: str) -> list[tuple[str, str, Any]]:
        """(layer, weight name, rule) for fields like `kernel_regularizer` or
        `recurrent_constraint` (which names weight `recurrent_kernel`, as in Keras)."""
        rules = []
        for layer, nodes in self.graph.layer_nodes().items():
            scopes: list[tuple[str, Any]] = [("", nodes[0].spec)]
            while scopes:  # wrappers: the wrapped layers' weights, under a name prefix
                scope, spec = scopes.pop()
                nested = getattr(spec, "nested_layers", None)
                scopes += [(scope + p, inner) for p, inner in (nested() if nested else [])]
                for field_name in type(spec).model_fields:
                    rule = getattr(spec, field_name)
                    if (
                        not field_name.endswith(suffix)
                        or field_name.startswith("activity")
                        or rule is None
                    ):
                        continue
                    prefix = scope + field_name[: -len(suffix)]
                    rules.append((layer, prefix, rule))
                    rules.append((layer, f"{prefix}_kernel", rule))
        return rules


def compile_model(
    spec: GraphSpec,
    source_map: SourceMap | None = None,
    functions: Mapping[str, Callable[..., Any]] | None = None,
) -> CompiledModel:
    """Lower a validated spec: build the graph, compile its sub-models and infer every shape
    (no weights allocated).

    Raises one `SpecError` listing each node whose shapes do not fit, at its location.
    """
    source_map = source_map or SourceMap("<dict>")
    env = BuildEnv(dict(functions or {}))
    graph = build_graph(spec, source_map)
    graph, submodels, problems = bind_submodels(graph, spec, source_map, env, compile_model)
    inputs = {Ref(name): (inp.batch_size, *inp.shape) for name, inp in spec.inputs.items()}
    failed = {node.name for node in graph.nodes if node.layer in problems}
    shapes, shape_problems, _ = _infer_shapes(graph, inputs, env, failed)
    problems = [d for ds in problems.values() for d in ds] + shape_problems
    graph = _expand_outputs(graph, spec, shapes)
    compiled = CompiledModel(spec, graph, shapes, env, submodels=submodels)
    if not problems:
        problems += _check_shared_layers(compiled)
        problems += _check_outputs(compiled, source_map)
    if problems:
        raise SpecError(problems)
    return compiled


def _infer_shapes(
    graph: Graph, inputs: dict[Ref, Shape], env: BuildEnv, failed: set[str]
) -> tuple[dict[Ref, Shape], list[Diagnostic], dict[Ref, str]]:
    """Every tensor's shape from the input shapes, and a diagnostic for each node whose
    inputs do not fit it (or that would pass on a mask it cannot honour). Nodes in `failed`
    (already reported) and those fed by them are skipped. Also returns the masked tensors,
    each with the node that made its mask."""
    shapes = dict(inputs)
    failed = set(failed)
    problems: list[Diagnostic] = []
    masked: dict[Ref, str] = {}  # tensors that carry a mask -> the node that made the mask
    for node in graph.nodes:
        if node.name in failed or any(r.node in failed for r in node.inputs):
            failed.add(node.name)
            continue
        try:
            in_shapes = [_lookup(shapes, r, graph) for r in node.inputs]
            out_shapes = node.lowering.infer_shape(node.spec, in_shapes, env)
        except ShapeError as exc:
            failed.add(node.name)
            message = exc.diagnostics[0].message
            received = ", ".join(format_shape(shapes[r]) for r in node.inputs if r in shapes)
            if received and received not in message:  # say the shapes once, not twice
                message += f" (input shapes: {received})"
            problems.append(Diagnostic(message, node.location, node.name))
            continue
        for i, shape in enumerate(out_shapes):
            shapes[Ref(node.name, i)] = tuple(shape)
        problems += _track_masks(node, masked, len(out_shapes))
    return shapes, problems, masked


def _expand_outputs(graph: Graph, spec: GraphSpec, shapes: dict[Ref, Shape]) -> Graph:
    """A bare name in `outputs:` (or the default last node) means all of that node's outputs,
    in order (`return_state`); `node:0` means the first only."""
    texts = spec.outputs or [str(graph.outputs[0])]
    refs: list[Ref] = []
    for text, ref in zip(texts, graph.outputs, strict=True):
        count = sum(1 for r in shapes if r.node == ref.node) if ":" not in text else 1
        refs += [ref] if count <= 1 else [Ref(ref.node, i) for i in range(count)]
    return replace(graph, outputs=tuple(refs))


def _track_masks(node: Node, masked: dict[Ref, str], outputs: int) -> list[Diagnostic]:
    """Record which outputs of `node` carry a mask (Keras masks, known at compile time) and
    reject a masked input to a layer whose mask policy is `error`."""
    lowering, origins = node.lowering, [masked.get(r) for r in node.inputs]
    origin = next((o for o in origins if o is not None), None)
    if origin is not None and lowering.mask == "error":
        layer = type(node.spec).__name__
        return [
            Diagnostic(
                f"{layer} cannot honour the mask that node '{origin}' puts on its input "
                f"(Keras would silently drop it); consume the mask first (an RNN, "
                f"GlobalAveragePooling1D) or do not create it",
                node.location,
                node.name,
            )
        ]
    flags = lowering.output_masked(node.spec, [o is not None for o in origins], outputs)
    inherits = lowering.mask == "propagate" and lowering.masks_output is None
    for i, flag in enumerate(flags):
        if flag:
            masked[Ref(node.name, i)] = origin if inherits and origin else node.name
    return []


def _lookup(shapes: dict[Ref, Shape], ref: Ref, graph: Graph) -> Shape:
    if ref not in shapes:
        count = sum(1 for r in shapes if r.node == ref.node)
        raise ShapeError(f"'{ref}' does not exist: '{ref.node}' has {count} output(s)")
    return shapes[ref]


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


def _weight_shapes(compiled: CompiledModel, owner: Node, node: Node) -> Any:
    """Shapes of the weights `owner`'s layer would build for `node`'s inputs (no allocation)."""
    shapes = compiled.input_shapes_of(node)

    def init(key: Array) -> LayerWeights:
        return owner.lowering.init(owner.spec, key, shapes)

    return jax.tree.map(lambda a: a.shape, jax.eval_shape(init, jax.random.PRNGKey(0)))


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


__all__ = ["Aux", "CompiledModel", "LayerWeights", "Variables", "compile_model", "node_key"]
