"""The compiled model: pure `init`/`apply` over a node graph whose every tensor shape is known.

`compile_model` (compiler/compile.py) builds it from a canonical spec; runtime/ uses it through
`kspec.compiler` only.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from kspec.compiler.graph import Graph, Node, keras_layer_order
from kspec.compiler.layers.composition import Slot, flatten, layout, nest, submodel_lowering
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    format_shape,
)
from kspec.compiler.precision import apply_with_policy, init_with_policy
from kspec.compiler.regularizers import activity_penalty, constrain, penalty
from kspec.compiler.shapes import infer_shapes
from kspec.errors import ShapeError
from kspec.schemas import fields
from kspec.schemas.graph import Ref
from kspec.schemas.model import GraphSpec

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
    _layouts: dict[str, list[Slot]] = field(default_factory=dict, repr=False)

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
                shapes = first.arrange(self.input_shapes_of(first))
                weights = first.lowering.init(first.spec, key, shapes)  # type: ignore[arg-type]
                names.extend(weights.keras_order())
                return weights

            jax.eval_shape(record, jax.random.PRNGKey(0))
            self._weight_order[layer] = names
        return self._weight_order[layer]

    def layer_order(self) -> list[str]:
        """Layers (weight owners) in Keras' `model.layers` order (see `keras_layer_order`)."""
        return keras_layer_order(self.graph)

    def as_lowering(self) -> Lowering[Any]:
        """The lowering of a node that applies this model as a layer."""
        return submodel_lowering(self)

    def nested_variables(self, layer: str, params: Weights, state: Weights) -> Variables:
        """The variables of sub-model node `layer`, from that node's flat params and state."""
        return nest(self._slots(layer), params, state)

    def flat_variables(self, layer: str, variables: Variables) -> tuple[Weights, Weights]:
        """Sub-model node `layer`'s flat (params, state), from the sub-model's variables."""
        return flatten(self._slots(layer), variables)

    def _slots(self, layer: str) -> list[Slot]:
        if layer not in self._layouts:
            self._layouts[layer] = layout(self.submodels[layer])
        return self._layouts[layer]

    def apply_node(
        self, node: Node, params: Weights, state: Weights, inputs: list[Array]
    ) -> list[Array]:
        """One node's inference apply on its own (per-node cost analysis)."""
        call = LayerCall(False, None, [None] * len(inputs), state, self.env)
        return apply_with_policy(node.lowering, node.spec, params, node.arrange(inputs), call)

    def keras_weights(self) -> list[tuple[str, str, str]]:
        """`(layer, group, name)` of every weight, in Keras `get_weights` order."""
        return [
            (layer, group, name)
            for layer in self.layer_order()
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
        result, problems, masked = infer_shapes(self.graph, inputs, self.env, set())
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
            weights = init_with_policy(
                first.lowering,
                first.spec,
                node_key(key, layer),
                first.arrange(self.input_shapes_of(first)),
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
            xs = node.arrange([values[r] for r in node.inputs])
            call = LayerCall(
                training=training,
                rng=None if rng is None else node_key(rng, node.name),
                masks=node.arrange([masks.get(r) for r in node.inputs]),
                state=state.get(node.layer, {}),
                env=self.env,
            )
            with jax.named_scope(node.name):  # profiles and HLO dumps name the spec's nodes
                outputs = apply_with_policy(
                    node.lowering, node.spec, params.get(node.layer, {}), xs, call
                )
                out_masks = node.lowering.compute_mask(node.spec, call.masks, xs)  # type: ignore[arg-type]
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
        """Sum of every regularizer's penalty on the weights (Keras' weight losses)."""
        total = jnp.zeros((), jnp.float32)
        for layer, weight, rule in self.weight_rules():
            if _is_regularizer(rule) and layer in params and weight in params[layer]:
                total += penalty(rule, params[layer][weight])
        return total

    def constrain(self, params: Variables | dict[str, Any]) -> dict[str, Any]:
        """Params with every weight constraint applied (call after each optimizer update)."""
        result = {layer: dict(ws) for layer, ws in params.items()}
        for layer, weight, rule in self.weight_rules():
            if not _is_regularizer(rule) and layer in result and weight in result[layer]:
                result[layer][weight] = constrain(rule, result[layer][weight])
        return result

    def weight_rules(self) -> list[tuple[str, str, Any]]:
        """`(layer, weight, rule)` for every regularizer and constraint on a weight, as each
        layer's lowering declares them (`Lowering.governs`)."""
        return [
            (layer, weight, rule)
            for layer, nodes in self.graph.layer_nodes().items()
            for weight, rule in nodes[0].lowering.weight_rules(nodes[0].spec)
        ]


_REGULARIZERS = (fields.L1, fields.L2, fields.L1L2)


def _is_regularizer(rule: Any) -> bool:
    return isinstance(rule, _REGULARIZERS)
