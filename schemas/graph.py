"""Graph-level rules of a spec: node names, input references, cycles, outputs.

Pure Python on validated schemas (no JAX), so `kspec validate` and editors see graph mistakes
without compiling anything. The compiler reads the canonical spec's wiring with `wire` and
`node_refs` (parsing `inputs`, deciding nothing).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from kspec.schemas.base import LayerSpec
from kspec.schemas.model import GraphSpec
from kspec.schemas.nodes import SharedNode


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
    at_key: bool = False
    """Located at the mapping key the path ends in, not at its value."""


def naming_problems(
    nodes: list[tuple[str, Any]], inputs: list[str], outputs: list[str] | None
) -> list[GraphProblem]:
    """Duplicate node names, and `inputs` / `outputs` naming no node or model input, given
    each node's `(name, inputs)`. Needs nothing validated, so `validate` also runs it on a
    spec whose layers have mistakes: every problem is reported in one run."""
    problems: list[GraphProblem] = []
    known = set(inputs) | {name for name, _ in nodes}
    seen: set[str] = set(inputs)
    for i, (name, node_inputs) in enumerate(nodes):
        if name in seen:
            problems.append(
                GraphProblem(f"duplicate node name '{name}'", ("layers", i, "name"), name)
            )
        seen.add(name)
        if isinstance(node_inputs, dict):
            entries: Any = node_inputs.items()
        else:
            entries = enumerate(node_inputs) if isinstance(node_inputs, list) else []
        for j, text in entries:
            ref = parse_ref(text) if isinstance(text, str) else None
            if ref is not None and ref.node not in known:
                message = f"unknown input '{ref.node}'{_did_you_mean(ref.node, known)}"
                problems.append(GraphProblem(message, ("layers", i, "inputs", j), name))
    for j, out in enumerate(outputs if isinstance(outputs, list) else []):
        ref = parse_ref(out) if isinstance(out, str) else None
        if ref is not None and ref.node not in known:
            message = f"unknown output '{ref.node}'{_did_you_mean(ref.node, known)}"
            problems.append(GraphProblem(message, ("outputs", j)))
    return problems


def raw_naming_problems(data: dict[str, Any], names: list[str]) -> list[GraphProblem]:
    """`naming_problems` of a spec that failed validation, from its plain data and the node
    names given or defaulted."""
    layers, inputs = data.get("layers"), data.get("inputs")
    if not isinstance(layers, list) or not isinstance(inputs, dict) or len(names) != len(layers):
        return []
    nodes = [
        (name, item.get("inputs") if isinstance(item, dict) else None)
        for name, item in zip(names, layers, strict=True)
    ]
    return naming_problems(nodes, [str(k) for k in inputs], data.get("outputs"))


def parse_ref(text: str) -> Ref:
    """`encoder` -> Ref("encoder", 0); `encoder:2` -> Ref("encoder", 2)."""
    name, sep, index = text.rpartition(":")
    if sep and index.isdigit():
        return Ref(name, int(index))
    return Ref(text, 0)


def node_refs(
    inputs: list[str] | dict[str, str], arguments: tuple[str, ...]
) -> tuple[list[Ref], tuple[int, ...] | None]:
    """A node's input tensors in call order, and for a layer with named call `arguments` the
    argument each one fills (its index in `arguments`; None for a plain list of inputs).
    Mapping keys must be known arguments (`check_graph` reports the others)."""
    if isinstance(inputs, dict):
        slots = sorted(arguments.index(key) for key in inputs)
        return [parse_ref(inputs[arguments[s]]) for s in slots], tuple(slots)
    refs = [parse_ref(r) for r in inputs]
    return refs, (tuple(range(len(refs))) if arguments else None)


def call_arguments(spec: GraphSpec, node: LayerSpec | SharedNode) -> tuple[str, ...]:
    """The named call arguments of the layer a node applies (its own, or the shared one's)."""
    if isinstance(node, SharedNode):
        owner = next((n for n in spec.layers if n.name == node.shares), None)
        return () if owner is None or isinstance(owner, SharedNode) else owner.call_arguments
    return node.call_arguments


def wire(spec: GraphSpec) -> dict[str, list[Ref]]:
    """Each node's input tensors, read from its explicit `inputs` (a canonical spec has them
    on every node; see `schemas/canonicalize.py`)."""
    wiring: dict[str, list[Ref]] = {}
    for node in spec.layers:
        assert node.name is not None and node.inputs is not None, "not a canonical spec"
        wiring[node.name] = node_refs(node.inputs, call_arguments(spec, node))[0]
    return wiring


def check_graph(spec: GraphSpec) -> list[GraphProblem]:
    """Every graph-level mistake in a named spec with explicit inputs (empty when the graph
    is sound)."""
    index = {node.name: i for i, node in enumerate(spec.layers)}
    nodes = [(node.name or "", node.inputs) for node in spec.layers]
    problems = naming_problems(nodes, list(spec.inputs), spec.outputs)
    for i, node in enumerate(spec.layers):
        if isinstance(node, SharedNode):
            problems += _check_shares(node, i, index, spec)
        else:
            problems += _check_arguments(node, i)
    if problems:
        return problems
    wiring = wire(spec)
    return _check_cycles(spec, wiring, index) or _check_reachability(spec, wiring, index)


def _check_arguments(node: LayerSpec, i: int) -> list[GraphProblem]:
    """Inputs by call-argument name: known names, the required ones present; a list no longer
    than the arguments."""
    arguments, required = node.call_arguments, node.required_call_arguments
    layer, path = type(node).__name__, ("layers", i, "inputs")
    inputs = node.inputs or []
    if isinstance(inputs, list):
        if arguments and not required <= len(inputs) <= len(arguments):
            return [
                GraphProblem(
                    f"{layer} takes {_count(required, len(arguments))} inputs "
                    f"({', '.join(arguments)}). Received: {len(inputs)} inputs",
                    path,
                    node.name,
                )
            ]
        return []
    if not arguments:
        return [
            GraphProblem(
                f"{layer} takes a list of `inputs`, not a mapping by argument name",
                path,
                node.name,
            )
        ]
    problems = [
        GraphProblem(
            f"unknown call argument `{key}`{_did_you_mean(key, set(arguments))}; {layer} "
            f"takes {', '.join(arguments)}",
            (*path, key),
            node.name,
            at_key=True,
        )
        for key in inputs
        if key not in arguments
    ]
    missing = [a for a in arguments[:required] if a not in inputs]
    if missing:
        problems.append(
            GraphProblem(
                f"missing call argument {', '.join(f'`{a}`' for a in missing)}: {layer} needs "
                f"{', '.join(arguments[:required])}",
                path,
                node.name,
            )
        )
    return problems


def _count(low: int, high: int) -> str:
    return str(low) if low == high else f"{low} to {high}"


def _check_shares(
    node: SharedNode, i: int, index: dict[str | None, int], spec: GraphSpec
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
    spec: GraphSpec, wiring: dict[str, list[Ref]], index: dict[str | None, int]
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
    spec: GraphSpec, wiring: dict[str, list[Ref]], index: dict[str | None, int]
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
