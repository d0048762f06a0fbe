"""The Python builder's graph written as spec data: the layer calls between the model inputs
and its outputs, in creation order, a layer called again as a `shares:` node; then compiled
by the usual pipeline (`kspec.Model(inputs=..., outputs=...)`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kspec.compiler import CompiledModel, compile_model, format_shape
from kspec.errors import Diagnostic, Location, SpecError
from kspec.runtime.builder import Node, Tensor, caller_location
from kspec.runtime.plugins import load_plugins
from kspec.schemas.validate import validate_document
from kspec.spec import load_document
from kspec.spec.document import Source
from kspec.spec.names import default_names


def functional_spec(
    inputs: Tensor | Sequence[Tensor], outputs: Tensor | Sequence[Tensor], name: str = "model"
) -> dict[str, Any]:
    """Spec data of the graph from `inputs` to `outputs` (a layer called again is `shares:`)."""
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    location = caller_location()
    for t in [*ins, *outs]:
        if not isinstance(t, Tensor):
            raise SpecError(
                Diagnostic(f"expected kspec tensors. Received: {type(t).__name__}", location)
            )
    if any(t.node.layer is not None for t in ins):
        raise SpecError(Diagnostic("model inputs must come from `kspec.Input`", location))
    nodes = _reachable(outs, {t.node for t in ins}, location)
    _name_nodes([t.node for t in ins], nodes)
    layers: list[dict[str, Any]] = []
    owners: dict[int, str] = {}
    previous = ins[0].node.name if len(ins) == 1 else None
    for node in nodes:
        assert node.layer is not None and node.name is not None
        refs = [_ref(t) for t in node.inputs]
        if id(node.layer) in owners:
            item = {"shares": owners[id(node.layer)], "name": node.name}
        else:
            owners[id(node.layer)] = node.name
            item = node.layer.get_config()
        if node.arguments is not None:
            item["inputs"] = dict(zip(node.arguments, refs, strict=True))
        elif refs != [previous] or node.as_list:
            item["inputs"] = refs
        layers.append(item)
        previous = _ref(node.outputs[0])
    return {
        "kspec": 1,
        "name": name,
        "inputs": {t.node.name: dict(t.node.input_spec or {}) for t in ins},
        "layers": layers,
        "outputs": [_ref(t, output=True) for t in outs],
    }


def _ref(tensor: Tensor, output: bool = False) -> str:
    node = tensor.node
    assert node.name is not None
    if len(node.outputs) > 1 or tensor.index:
        return f"{node.name}:{tensor.index}"
    return node.name


def _reachable(outputs: list[Tensor], inputs: set[Node], location: Location | None) -> list[Node]:
    """Layer calls between the model inputs and `outputs`, in creation (= topological) order."""
    seen: set[int] = set()
    found: list[Node] = []
    stack = [t.node for t in outputs]
    while stack:
        node = stack.pop()
        if id(node) in seen or node in inputs:
            continue
        seen.add(id(node))
        if node.layer is None:
            raise SpecError(
                Diagnostic(
                    f"the outputs depend on input '{node.name or 'unnamed'}' "
                    f"{format_shape(node.outputs[0].shape)}, which is not in the model's inputs",
                    location,
                )
            )
        found.append(node)
        stack += [t.node for t in node.inputs]
    return sorted(found, key=lambda n: n.order)


def _name_nodes(inputs: list[Node], nodes: list[Node]) -> None:
    """Give unnamed inputs, layers and shared calls Keras-style names, kept on the objects."""
    input_names = default_names([("input", None, n.name) for n in inputs])
    for node, name in zip(inputs, input_names, strict=True):
        node.name = name
    firsts: dict[int, Node] = {}
    for node in nodes:
        assert node.layer is not None
        firsts.setdefault(id(node.layer), node)
    taken = set(input_names)
    kinds = [(type(n.layer.spec).__name__, None, n.layer.name) for n in firsts.values()]  # type: ignore[union-attr]
    for node, name in zip(firsts.values(), default_names(kinds, taken), strict=True):
        layer = node.layer
        assert layer is not None
        if layer.name is None:
            layer.spec = layer.spec.model_copy(update={"name": name})
    all_kinds = [
        (None, None, n.layer.name) if firsts[id(n.layer)] is n else (None, n.layer.name, None)  # type: ignore[union-attr]
        for n in nodes
    ]
    for node, name in zip(nodes, default_names(all_kinds, taken), strict=True):
        node.name = name


def compile_source(source: Source, functions: Mapping[str, Any] | None = None) -> CompiledModel:
    """Spec data or YAML/JSON text -> validated, shape-checked `CompiledModel` (no weights)."""
    load_plugins()
    document = load_document(source)
    return compile_model(validate_document(document), document.source_map, functions)


def compile_functional(
    inputs: Tensor | Sequence[Tensor],
    outputs: Tensor | Sequence[Tensor],
    name: str = "model",
    functions: Mapping[str, Any] | None = None,
) -> CompiledModel:
    """`kspec.Model(inputs=..., outputs=...)`: the graph's spec, compiled."""
    return compile_source(functional_spec(inputs, outputs, name), functions)
