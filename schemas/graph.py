"""Graph-level rules of a spec: node names, input references, cycles, outputs.

Pure Python on validated schemas (no JAX), so `kspec validate` and editors see graph mistakes
without compiling anything. The compiler reuses `wire` to build its node graph.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from kspec.schemas.base import LayerSpec
from kspec.schemas.layers.composition import Model
from kspec.schemas.model import ModelSpec
from kspec.schemas.registry import SharedNode, node_kind
from kspec.spec.merge_models import model_node_name
from kspec.spec.names import default_names as default_names


@dataclass(frozen=True)
class Ref:
    """One tensor: output `index` of node (or model input) `node`."""

    node: str
    index: int = 0

    def __str__(self) -> str:
        return self.node if self.index == 0 else f"{self.node}:{self.index}"


@dataclass(frozen=True)
class GraphProblem:
    """A graph mistake, with the spec path it concerns (for a located diagnostic)."""

    message: str
    path: tuple[str | int, ...]
    node: str | None = None


def with_names(spec: ModelSpec) -> ModelSpec:
    """The spec with every node named and `outputs` filled in (the canonical form)."""
    kinds = [
        (node_kind(n), n.shares if isinstance(n, SharedNode) else None, _given_name(n))
        for n in spec.layers
    ]
    names = default_names(kinds)
    layers = [
        n if n.name else n.model_copy(update={"name": name})
        for n, name in zip(spec.layers, names, strict=True)
    ]
    outputs = spec.outputs or [names[-1]]
    return spec.model_copy(update={"layers": layers, "outputs": outputs})


def _given_name(node: LayerSpec | SharedNode) -> str | None:
    """The node's `name`; a sub-model node without one is named after its model (Keras)."""
    if isinstance(node, Model):
        return model_node_name(node.name, node.spec.name)
    return node.name


def parse_ref(text: str) -> Ref:
    """`encoder` -> Ref("encoder", 0); `encoder:2` -> Ref("encoder", 2)."""
    name, sep, index = text.rpartition(":")
    if sep and index.isdigit():
        return Ref(name, int(index))
    return Ref(text, 0)


def wire(spec: ModelSpec) -> dict[str, list[Ref]]:
    """Each node's input tensors: its `inputs`, or else the previous node (the first model
    input for the first node). `spec` must have names filled (`with_names`)."""
    wiring: dict[str, list[Ref]] = {}
    previous: str | None = next(iter(spec.inputs))
    for node in spec.layers:
        assert node.name is not None
        if node.inputs is not None:
            wiring[node.name] = [parse_ref(r) for r in node.inputs]
        else:
            wiring[node.name] = [Ref(previous)] if previous else []
        previous = node.name
    return wiring


def check_graph(spec: ModelSpec) -> list[GraphProblem]:
    """Every graph-level mistake in a named spec (empty when the graph is sound)."""
    problems: list[GraphProblem] = []
    index = {node.name: i for i, node in enumerate(spec.layers)}
    known = set(spec.inputs) | set(index)
    seen: set[str] = set(spec.inputs)
    for i, node in enumerate(spec.layers):
        assert node.name is not None
        if node.name in seen:
            problems.append(
                GraphProblem(f"duplicate node name '{node.name}'", ("layers", i, "name"), node.name)
            )
        seen.add(node.name)
        if node.inputs is None and i == 0 and len(spec.inputs) > 1:
            problems.append(
                GraphProblem(
                    "the model has several inputs, so the first node must name its `inputs`",
                    ("layers", i),
                    node.name,
                )
            )
        if isinstance(node, SharedNode):
            problems += _check_shares(node, i, index, spec)
    wiring = wire(spec)
    for i, node in enumerate(spec.layers):
        for j, ref in enumerate(wiring[node.name]):  # type: ignore[index]
            if ref.node not in known:
                problems.append(
                    GraphProblem(
                        f"unknown input '{ref.node}'{_did_you_mean(ref.node, known)}",
                        ("layers", i, "inputs", j),
                        node.name,
                    )
                )
    for j, out in enumerate(spec.outputs or []):
        ref = parse_ref(out)
        if ref.node not in known:
            problems.append(
                GraphProblem(
                    f"unknown output '{ref.node}'{_did_you_mean(ref.node, known)}",
                    ("outputs", j),
                )
            )
    if problems:
        return problems
    return _check_cycles(spec, wiring, index) or _check_reachability(spec, wiring, index)


def _check_shares(
    node: SharedNode, i: int, index: dict[str | None, int], spec: ModelSpec
) -> list[GraphProblem]:
    target = index.get(node.shares)
    if target is None:
        known = {n.name for n in spec.layers if n.name}
        return [
            GraphProblem(
                f"`shares` names unknown node '{node.shares}'{_did_you_mean(node.shares, known)}",
                ("layers", i, "shares"),
                node.name,
            )
        ]
    if isinstance(spec.layers[target], SharedNode):
        owner = spec.layers[target].shares  # type: ignore[union-attr]
        return [
            GraphProblem(
                f"'{node.shares}' itself shares '{owner}'; write `shares: {owner}`",
                ("layers", i, "shares"),
                node.name,
            )
        ]
    return []


def topological_order(wiring: dict[str, list[Ref]], order: list[str]) -> list[str]:
    """Nodes so that each comes after its inputs; ties keep spec order. Raises on a cycle
    with the nodes of one cycle, in order."""
    done: set[str] = set()
    result: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done or name not in wiring:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name) :] + [name]
            raise _Cycle(cycle)
        visiting.append(name)
        for ref in wiring[name]:
            visit(ref.node)
        visiting.pop()
        done.add(name)
        result.append(name)

    for name in order:
        visit(name)
    return result


class _Cycle(Exception):
    def __init__(self, nodes: list[str]) -> None:
        self.nodes = nodes


def _check_cycles(
    spec: ModelSpec, wiring: dict[str, list[Ref]], index: dict[str | None, int]
) -> list[GraphProblem]:
    try:
        topological_order(wiring, [n.name for n in spec.layers if n.name])
    except _Cycle as cycle:
        first = cycle.nodes[0]
        return [
            GraphProblem(
                f"cycle in the graph: {' -> '.join(reversed(cycle.nodes))}",
                ("layers", index[first], "inputs"),
                first,
            )
        ]
    return []


def _check_reachability(
    spec: ModelSpec, wiring: dict[str, list[Ref]], index: dict[str | None, int]
) -> list[GraphProblem]:
    used: set[str] = set()
    stack = [parse_ref(o).node for o in spec.outputs or []]
    while stack:
        name = stack.pop()
        if name in used:
            continue
        used.add(name)
        stack += [r.node for r in wiring.get(name, [])]
        shared = spec.layers[index[name]] if name in index else None
        if isinstance(shared, SharedNode):
            stack.append(shared.shares)
    problems = [
        GraphProblem(
            "the node does not lead to any output; add it to `outputs:` or remove it",
            ("layers", i),
            n.name,
        )
        for i, n in enumerate(spec.layers)
        if n.name not in used
    ]
    fed = {r.node for refs in wiring.values() for r in refs}  # a dangling node is one mistake
    problems += [
        GraphProblem(f"model input '{name}' is not used by any node", ("inputs", name))
        for name in spec.inputs
        if name not in fed
    ]
    return problems


def _did_you_mean(name: str, known: set[str] | set[str | None]) -> str:
    close = difflib.get_close_matches(name, [k for k in known if k], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
