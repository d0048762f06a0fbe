"""The canonicalization pass: a validated spec made complete, so no later stage decides a default.

A canonical spec has, on every node, its name, its explicit `inputs` and the model-level
defaults (`data_format`; `dtype_policy` as the layer's `dtype`) its layer left out, nested
layers (`Bidirectional.layer`, `TimeDistributed.layer`, `backward_layer`) included; sub-models
are canonical graphs of their own. The model has its `outputs` and its execution order
(`GraphSpec.execution_order`). The compiler and the runtime read these facts and never
recompute them.

Names are given on the plain tree (`name_nodes`), before pydantic runs, so that validation
messages already speak of the nodes by their final names.
"""

from __future__ import annotations

from typing import Any, TypeVar, get_args

from kspec.schemas.base import LayerSpec
from kspec.schemas.graph import GraphProblem, check_graph, topological_order, wire
from kspec.schemas.model import GraphSpec
from kspec.schemas.nodes import SharedNode
from kspec.schemas.precision import DTypePolicyName, policy_name
from kspec.schemas.registry import TYPE_ALIASES, TYPE_SYNONYMS
from kspec.spec.merge_models import model_node_name
from kspec.spec.names import NodeKind, default_names

G = TypeVar("G", bound=GraphSpec)

MODEL_DEFAULTS: dict[str, str] = {"data_format": "data_format", "dtype_policy": "dtype"}
"""Model-level fields and the layer field each is the default of: a layer's None becomes the
model's value (`dtype_policy: mixed_bfloat16` fills every layer's `dtype`)."""


def name_nodes(layers: list[Any]) -> tuple[list[Any], list[str]]:
    """The plain layer items with a Keras-style `name` on each unnamed mapping (`dense`,
    `dense_1`, a sub-model after its model), and every node's name."""
    names = default_names([_kind_of(item) for item in layers])
    named = [
        {**item, "name": name} if isinstance(item, dict) and item.get("name") is None else item
        for item, name in zip(layers, names, strict=True)
    ]
    return named, names


def _kind_of(item: Any) -> NodeKind:
    if not isinstance(item, dict):
        return None, None, None
    name = item.get("name") if isinstance(item.get("name"), str) else None
    shares = item.get("shares") if isinstance(item.get("shares"), str) else None
    type_name = item.get("type") if isinstance(item.get("type"), str) else None
    type_name = TYPE_SYNONYMS.get(type_name or "", type_name)
    if type_name == "Model" and isinstance(item.get("spec"), dict):  # named after its model
        name = model_node_name(name, item["spec"].get("name"))
    return TYPE_ALIASES.get(type_name or "", type_name), shares, name


def canonicalize(spec: G) -> tuple[G | None, list[GraphProblem]]:
    """The complete form of a validated, named spec, or every graph mistake in it."""
    problems = _first_node_inputs(spec)
    if problems:
        return None, problems
    layers = [_explicit_inputs(node, i, spec) for i, node in enumerate(spec.layers)]
    outputs = spec.outputs or [layers[-1].name or ""]
    explicit = spec.model_copy(update={"layers": layers, "outputs": outputs})
    problems = check_graph(explicit)
    if problems:
        return None, problems
    defaults = {layer: getattr(spec, model) for model, layer in MODEL_DEFAULTS.items()}
    complete = explicit.model_copy(
        update={"layers": [with_model_defaults(node, defaults) for node in layers]}
    )
    complete._order = tuple(topological_order(wire(complete), [n.name or "" for n in layers]))
    return complete, []


def _first_node_inputs(spec: GraphSpec) -> list[GraphProblem]:
    first = spec.layers[0]
    if first.inputs is None and len(spec.inputs) > 1:
        message = "the model has several inputs, so the first node must name its `inputs`"
        return [GraphProblem(message, ("layers", 0), first.name)]
    return []


def _explicit_inputs(
    node: LayerSpec | SharedNode, i: int, spec: GraphSpec
) -> LayerSpec | SharedNode:
    """The node with `inputs` written out: a node without them takes the previous node's
    output, the first node the model's (only) input."""
    if node.inputs is not None:
        return node
    previous = spec.layers[i - 1].name if i else next(iter(spec.inputs))
    return node.model_copy(update={"inputs": [previous]})


def with_model_defaults(layer: Any, defaults: dict[str, Any]) -> Any:
    """`layer` with each of the model's `defaults` filled where the layer leaves it None,
    recursively into the layers it wraps (not into sub-models: each graph has its own)."""
    if not isinstance(layer, LayerSpec):
        return layer
    fields = type(layer).model_fields
    update = {f: v for f, v in defaults.items() if f in fields and getattr(layer, f) is None}
    for field in fields:
        inner = getattr(layer, field)
        if isinstance(inner, LayerSpec):
            filled = with_model_defaults(inner, defaults)
            if filled is not inner:
                update[field] = filled
    return layer.model_copy(update=update) if update else layer


def inherited_policy(submodel: dict[str, Any], node: dict[str, Any], policy: Any) -> dict[str, Any]:
    """A sub-model's plain data with the `dtype_policy` it inherits when it names none: its
    node's `dtype`, else the enclosing model's `dtype_policy` (as Keras' global policy reaches
    the layers of a nested model). Applied before the sub-model is validated, since it is
    canonicalized first; values that are no policy are left for their own diagnostics."""
    if "dtype_policy" in submodel:
        return submodel
    try:
        inherited = policy_name(node.get("dtype", policy))
    except ValueError:
        return submodel
    if inherited not in get_args(DTypePolicyName):
        return submodel
    return {**submodel, "dtype_policy": inherited}


def implicit_inputs(layers: list[dict[str, Any]], inputs: list[str]) -> list[dict[str, Any]]:
    """Plain layer data with each `inputs` that merely repeats the default (the previous
    node; the only model input for the first node) left out: the short form people write,
    which canonicalizes back to the same spec."""
    result = []
    previous = inputs[0] if len(inputs) == 1 else None
    for item in layers:
        if previous is not None and item.get("inputs") == [previous]:
            item = {k: v for k, v in item.items() if k != "inputs"}
        result.append(item)
        previous = item.get("name")
    return result


def outside_model(layer: LayerSpec) -> LayerSpec:
    """A layer not (yet) in a model, as the Python builder checks it at each call: with the
    defaults a model that sets none gives it."""
    defaults = {
        layer: GraphSpec.model_fields[model].default for model, layer in MODEL_DEFAULTS.items()
    }
    return with_model_defaults(layer, defaults)
