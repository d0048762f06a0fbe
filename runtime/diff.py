"""`kspec diff A B`: what changed between two specs, in model terms rather than text.

Both specs are validated and compared in canonical form (defaults filled, every node named,
implicit wiring resolved), so reordering keys or spelling a default out is no change. Layers
are matched by name; a removed and an added layer with identical parameters count as renamed.
Parameter counts come from `jax.eval_shape` of each layer's init: nothing is allocated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from rich.console import Console

from kspec.compiler import CompiledModel, Node, format_shape
from kspec.schemas.canonical import layer_data, to_data
from kspec.schemas.graph import Ref

Checked = Callable[[Callable[[], None]], int]
EXIT_SAME, EXIT_DIFFERENT, EXIT_TROUBLE = 0, 1, 2  # as diff(1): trouble is 2, not 1


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists stay whole values."""
    if not isinstance(data, dict) or not data:
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _params(node: Node) -> dict[str, Any]:
    """A node's own parameters (its layer's, for a shared node), without name and wiring."""
    data = layer_data(node.spec)
    data.pop("name", None)
    return _flatten(data)


def _param_counts(compiled: CompiledModel) -> dict[str, int]:
    """Weights per node (Keras-counted: params and weight-like state), 0 for shared nodes."""
    counts: dict[str, int] = {}
    for layer, nodes in compiled.graph.layer_nodes().items():
        first = nodes[0]
        shapes = compiled.input_shapes_of(first)
        weights = jax.eval_shape(
            lambda key, n=first, s=shapes: n.lowering.init(n.spec, key, s), jax.random.PRNGKey(0)
        )
        groups = {"params": weights.params, "state": weights.state}
        named = compiled.weight_names(layer)
        counts[layer] = sum(int(np.prod(groups[g][w].shape)) for g, w in named)
        counts.update({n.name: 0 for n in nodes[1:]})
    return counts


def _shape_text(compiled: CompiledModel, name: str) -> str:
    refs = sorted((r for r in compiled.shapes if r.node == name), key=lambda r: r.index)
    return ", ".join(format_shape(compiled.shapes[r]) for r in refs)


def _show(value: Any) -> str:
    """A value as the spec spells it (`false`, `null`, `[784]`); strings unquoted."""
    return value if isinstance(value, str) else json.dumps(value)


def _renames(old: dict[str, Node], new: dict[str, Node]) -> dict[str, str]:
    """Removed -> added names whose layers are identical (one candidate each way)."""
    removed = [n for n in old if n not in new]
    added = [n for n in new if n not in old]
    pairs: dict[str, str] = {}
    for name in removed:
        same = [a for a in added if _params(new[a]) == _params(old[name])]
        back = [r for r in removed if _params(old[r]) == _params(old[name])]
        if len(same) == 1 and len(back) == 1:
            pairs[name] = same[0]
    return pairs


def _node_changes(
    a: CompiledModel,
    b: CompiledModel,
    old: Node,
    new: Node,
    counts: tuple[dict[str, int], dict[str, int]],
    renames: dict[str, str],
) -> list[str]:
    lines = []
    pa, pb = _params(old), _params(new)
    for key in [*pa, *(k for k in pb if k not in pa)]:
        if pa.get(key) != pb.get(key):
            lines.append(f"{key}: {_show(pa.get(key))} -> {_show(pb.get(key))}")
    wires_a = [str(Ref(renames.get(r.node, r.node), r.index)) for r in old.inputs]
    wires_b = [str(r) for r in new.inputs]
    if wires_a != wires_b:
        lines.append(f"inputs: [{', '.join(map(str, old.inputs))}] -> [{', '.join(wires_b)}]")
    sa, sb = _shape_text(a, old.name), _shape_text(b, new.name)
    if sa != sb:
        lines.append(f"output shape: {sa} -> {sb}")
    ca, cb = counts[0][old.name], counts[1][new.name]
    if ca != cb:
        lines.append(f"params: {ca:,} -> {cb:,} ({cb - ca:+,})")
    return lines


def _model_changes(a: CompiledModel, b: CompiledModel) -> list[str]:
    """Model-level lines: inputs, outputs and other top-level settings."""
    lines = []
    da, db = to_data(a.spec), to_data(b.spec)
    for key in [*da, *(k for k in db if k not in da)]:
        if key in ("layers", "inputs", "outputs"):
            continue
        if da.get(key) != db.get(key):
            lines.append(f"~ model {key}: {_show(da.get(key))} -> {_show(db.get(key))}")
    ia, ib = a.input_shapes, b.input_shapes
    for name in [*ia, *(n for n in ib if n not in ia)]:
        if name not in ib:
            lines.append(f"- input {name}: {format_shape(ia[name])}")
        elif name not in ia:
            lines.append(f"+ input {name}: {format_shape(ib[name])}")
        elif ia[name] != ib[name] or da["inputs"][name] != db["inputs"][name]:
            changes = _flatten(da["inputs"][name]), _flatten(db["inputs"][name])
            detail = ", ".join(
                f"{k}: {_show(changes[0].get(k))} -> {_show(changes[1].get(k))}"
                for k in changes[0]
                if changes[0].get(k) != changes[1].get(k)
            )
            lines.append(f"~ input {name}: {detail}")
    oa, ob = [str(r) for r in a.graph.outputs], [str(r) for r in b.graph.outputs]
    if oa != ob:
        lines.append(f"~ outputs: [{', '.join(oa)}] -> [{', '.join(ob)}]")
    return lines


def _describe(compiled: CompiledModel, node: Node, count: int) -> str:
    kind = type(node.spec).__name__
    kind += f", shares {node.layer}" if node.layer != node.name else ""
    return f"{node.name} ({kind}): output {_shape_text(compiled, node.name)}, {count:,} params"


def diff_models(a: CompiledModel, b: CompiledModel) -> list[str]:
    """The differences as lines (`-` removed, `+` added, `~` changed, indented details);
    empty when the two specs describe the same model."""
    old = {n.name: n for n in a.graph.nodes}
    new = {n.name: n for n in b.graph.nodes}
    counts = _param_counts(a), _param_counts(b)
    renames = _renames(old, new)
    lines = _model_changes(a, b)
    for name, node in old.items():
        if name in renames:
            lines.append(f"~ layer {name} renamed to {renames[name]}")
            lines += [
                f"    {d}" for d in _node_changes(a, b, node, new[renames[name]], counts, renames)
            ]
        elif name not in new:
            lines.append(f"- layer {_describe(a, node, counts[0][name])}")
        else:
            details = _node_changes(a, b, node, new[name], counts, renames)
            if details:
                lines.append(f"~ layer {name} ({type(new[name].spec).__name__})")
                lines += [f"    {d}" for d in details]
    targets = set(renames.values())
    for name, node in new.items():
        if name not in old and name not in targets:
            lines.append(f"+ layer {_describe(b, node, counts[1][name])}")
    ta, tb = sum(counts[0].values()), sum(counts[1].values())
    if lines:
        lines.append(f"total params: {ta:,} -> {tb:,} ({tb - ta:+,})")
    return lines


def run_diff(args: Any, out: Console, err: Console, checked: Checked) -> int:
    """`kspec diff A B`: exit 0 when the same model, 1 when different, 2 when a spec is
    invalid (its errors printed as `file:line:col: error: ...`)."""
    from kspec.runtime.api import check

    models: list[CompiledModel] = []
    status = max(checked(lambda f=f: models.append(check(Path(f)))) for f in (args.old, args.new))
    if status or len(models) != 2:
        return EXIT_TROUBLE
    lines = diff_models(*models)
    if not lines:
        out.print(f"{args.old} and {args.new} describe the same model", markup=False)
        return EXIT_SAME
    out.print(f"--- {args.old}\n+++ {args.new}", markup=False)
    for line in lines:
        out.print(line, markup=False)
    return EXIT_DIFFERENT
