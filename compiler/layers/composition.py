"""Lowering of a sub-model node (`{type: Model, spec: ...}`): the inner model's own compiled
functions, with its variables flattened into the node's namespace.

A sub-model is a compiled graph of its own, with its own source locations and `Lambda`
functions: the registry's entry is a `Composite` whose `bind` has the compiler's lookup compile
the graph, and lowers the node as `submodel_lowering(inner)`. The inner variables sit under
Keras-style paths, `params["vision"] = {"conv2d/kernel": ..., "conv2d_1/kernel": ...}`, so
checkpoints, weight lists, regularizers and `load_weights(by_name=True)` see one ordinary
layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kspec.compiler.deferred import jax
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    Composite,
    LayerCall,
    LayerWeights,
    Lowering,
    Resolve,
    Shape,
    WeightRule,
    Weights,
    abstract_key,
)
from kspec.compiler.precision import SUBMODEL
from kspec.errors import ShapeError
from kspec.schemas.layers.composition import Model
from kspec.schemas.nodes import SharedNode

if TYPE_CHECKING:
    from kspec.compiler.compile import CompiledModel, Variables
    from kspec.schemas.model import GraphSpec


@dataclass(frozen=True)
class Slot:
    """Where one inner variable lives: `group[layer][name]` inside the sub-model, and under
    the flat name `layer/name` in the node's `outer` group. Weights of a frozen inner layer
    are the node's state (not trained), as Keras counts them non-trainable."""

    flat: str
    outer: str
    group: str
    layer: str
    name: str


def layout(inner: CompiledModel) -> list[Slot]:
    """Every inner variable, Keras weights first in `get_weights` order, then the rest
    (a stateful RNN's carried states)."""
    shapes = jax.eval_shape(inner.init, abstract_key())
    ordered = inner.keras_weights()
    known = set(ordered)
    rest = [
        (layer, group, name)
        for group in ("params", "state")
        for layer, weights in shapes[group].items()
        for name in weights
        if (layer, group, name) not in known
    ]
    layers = inner.graph.layer_nodes()
    trainable = {layer: nodes[0].spec.trainable for layer, nodes in layers.items()}
    slots = [
        Slot(
            f"{layer}/{name}",
            "params" if group == "params" and trainable[layer] else "state",
            group,
            layer,
            name,
        )
        for layer, group, name in [*ordered, *rest]
    ]
    paths = [slot.flat for slot in slots]
    clash = next((path for path in paths if paths.count(path) > 1), None)
    if clash is not None:  # node names may hold `/`: `a/b` + `kernel` vs `a` + `b/kernel`
        raise ShapeError(
            f"two weights of the sub-model would both be stored as '{clash}'; rename the "
            "node whose name contains '/'"
        )
    return slots


def nest(slots: list[Slot], params: Weights, state: Weights) -> Variables:
    """The sub-model's own variables from the node's flat params and state."""
    variables: dict[str, dict[str, dict[str, Array]]] = {"params": {}, "state": {}}
    for slot in slots:
        source = params if slot.outer == "params" else state
        variables[slot.group].setdefault(slot.layer, {})[slot.name] = source[slot.flat]
    return variables


def flatten(slots: list[Slot], variables: Variables) -> tuple[Weights, Weights]:
    """The node's flat (params, state) from the sub-model's variables."""
    flat: dict[str, Weights] = {"params": {}, "state": {}}
    for slot in slots:
        flat[slot.outer][slot.flat] = variables[slot.group][slot.layer][slot.name]
    return flat["params"], flat["state"]


def submodel_lowering(inner: CompiledModel) -> Lowering[Model]:
    """The lowering of a node applying the compiled sub-model `inner`.

    Its inputs map to the sub-model's inputs in declared order; its outputs are the
    sub-model's. A masked input is an error (policy `error`): consume the mask before."""
    slots = layout(inner)
    keras_order = tuple(s.flat for s in slots[: len(inner.keras_weights())])

    def infer_shape(spec: Model, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
        return inner.output_shapes_for(shapes)

    def init(spec: Model, key: Array, shapes: list[Shape]) -> LayerWeights:
        params, state = flatten(slots, inner.init(key))
        return LayerWeights(params, state, keras_order)

    def apply(spec: Model, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
        variables = nest(slots, params, call.state)
        named = dict(zip(inner.graph.inputs, inputs, strict=True))
        outputs, new_state, losses = inner.run(
            variables, named, training=call.training, rng=call.rng
        )
        for loss in losses:
            call.add_loss(loss)
        if call.state:
            _, state = flatten(slots, {"params": variables["params"], "state": new_state})
            call.update_state(state)
        return outputs

    return Lowering(
        Model,
        infer_shape,
        apply,
        init,
        nested_rules=_inner_rules(inner, slots),
        inner_model=inner,
        precision=SUBMODEL,
    )


def _inner_rules(inner: CompiledModel, slots: list[Slot]) -> Callable[[Model], list[WeightRule]]:
    """The inner layers' regularizers and constraints, on the node's flat weight names."""
    flat = {(slot.layer, slot.name): slot.flat for slot in slots}
    rules = [(flat[layer, weight], rule) for layer, weight, rule in inner.weight_rules()]
    return lambda spec: rules


def _bind_submodel(spec: Model, resolve: Resolve) -> Lowering[Model]:
    """A `trainable: false` sub-model freezes every layer inside (Keras: a BatchNormalization
    inside then runs in inference mode)."""
    return submodel_lowering(resolve.compile(spec.spec if spec.trainable else _frozen(spec.spec)))


def _frozen(spec: GraphSpec) -> GraphSpec:
    layers = [
        layer if isinstance(layer, SharedNode) else layer.model_copy(update={"trainable": False})
        for layer in spec.layers
    ]
    return spec.model_copy(update={"layers": layers})


LOWERINGS: list[Composite[Any]] = [Composite(Model, _bind_submodel)]
