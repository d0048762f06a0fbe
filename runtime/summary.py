"""`Model.summary()`: a rich table of nodes, output shapes and parameter counts."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table

from kspec.compiler import format_shape
from kspec.runtime.flops import format_flops, node_flops

if TYPE_CHECKING:
    from kspec.runtime.model import Model


def summary_table(
    model: Model, flops: bool = False, expand_nested: bool = False
) -> tuple[Table, list[str]]:
    """The node table and the total lines (trainable / non-trainable / total params); with
    `flops`, a FLOPs column (XLA cost analysis of each node, batch 1) and their total; with
    `expand_nested`, each sub-model's rows indented under its node."""
    graph = model.compiled.graph
    chained = (
        all(
            len(node.inputs) == 1 and node.inputs[0].node == previous
            for node, previous in zip(
                graph.nodes, [graph.inputs[0], *[n.name for n in graph.nodes]], strict=False
            )
        )
        and len(graph.inputs) == 1
    )
    table = Table(title=f'Model: "{model.name}"', title_justify="left")
    table.add_column("Layer (type)")
    table.add_column("Output Shape")
    table.add_column("Param #", justify="right")
    if flops:
        table.add_column("FLOPs", justify="right")
    dtypes = _any_policy(model.compiled)
    if dtypes:
        table.add_column("Dtype policy")
    if not chained:
        table.add_column("Connected to")
    counts = _Counts()
    columns = _Columns(flops, not chained, dtypes)
    per_node = _add_rows(table, model, columns, expand_nested, 0, counts)
    totals = [
        f"Total params: {counts.trainable + counts.non_trainable:,} "
        f"({_human_bytes(counts.nbytes)})",
        f"Trainable params: {counts.trainable:,}",
        f"Non-trainable params: {counts.non_trainable:,}",
    ]
    if flops:
        totals.append(f"FLOPs per sample (inference): {format_flops(sum(per_node.values()))}")
    return table, totals


def _any_policy(compiled: Any) -> bool:
    """Whether any node (sub-models' included) has a dtype policy other than float32: only
    then does the table show a policy column, so float32 summaries stay Keras' table."""
    return any((node.spec.dtype or "float32") != "float32" for node in compiled.graph.nodes) or any(
        _any_policy(inner) for inner in compiled.submodels.values()
    )


@dataclass(frozen=True)
class _Columns:
    """The optional columns: FLOPs, connections, dtype policy."""

    flops: bool
    connections: bool
    dtypes: bool


@dataclass
class _Counts:
    trainable: int = 0
    non_trainable: int = 0
    nbytes: int = 0


def _add_rows(
    table: Table,
    model: Model,
    columns: _Columns,
    expand_nested: bool,
    depth: int,
    counts: _Counts,
) -> dict[str, float]:
    """One row per node of `model` (indented by `depth`), each sub-model's rows under its
    first node when `expand_nested`; adds the weights to `counts`. Returns FLOPs per node."""
    compiled = model.compiled
    per_node = node_flops(model) if columns.flops else {}
    counted: set[str] = set()
    variables = model.variables
    for node in compiled.graph.nodes:
        shapes = [s for r, s in compiled.shapes.items() if r.node == node.name]
        count, first = 0, node.layer not in counted
        if first:
            counted.add(node.layer)
            params = variables["params"].get(node.layer, {})
            weights = {name for _, name in compiled.weight_names(node.layer)}
            state = {  # Keras weights only: a stateful RNN's carried states are not params
                k: v for k, v in variables["state"].get(node.layer, {}).items() if k in weights
            }
            n_params = sum(int(np.prod(w.shape)) for w in params.values())
            n_state = sum(int(np.prod(w.shape)) for w in state.values())
            counts.nbytes += sum(w.nbytes for w in [*params.values(), *state.values()])
            count = n_params + n_state
            if node.spec.trainable:
                counts.trainable += n_params
                counts.non_trainable += n_state
            else:
                counts.non_trainable += count
        row = [
            f"{'  ' * depth}{node.name} ({type(node.spec).__name__})",
            ", ".join(format_shape(s) for s in shapes),
            f"{count:,}",
        ]
        if columns.flops:
            row.append(format_flops(per_node[node.name]))
        if columns.dtypes:
            row.append(node.spec.dtype or "float32")
        if columns.connections:
            row.append(", ".join(str(r) for r in node.inputs))
        table.add_row(*row)
        if expand_nested and first and node.layer in compiled.submodels:
            inner = model.get_layer(node.layer)
            _add_rows(table, inner, columns, True, depth + 1, _Counts())  # type: ignore[arg-type]
    return per_node


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{n} B"
        size /= 1024
    return f"{n} B"


def render_summary(
    model: Model, width: int = 100, flops: bool = False, expand_nested: bool = False
) -> str:
    """The summary as plain text (what `summary()` prints, for files and print_fn)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    table, totals = summary_table(model, flops, expand_nested)
    console.print(table)
    for line in totals:
        console.print(line)
    return buffer.getvalue()


def print_summary(
    model: Model,
    print_fn: Callable[[str], object] | None = None,
    flops: bool = False,
    expand_nested: bool = False,
) -> None:
    if print_fn is not None:
        for line in render_summary(model, flops=flops, expand_nested=expand_nested).splitlines():
            print_fn(line)
        return
    table, totals = summary_table(model, flops, expand_nested)
    console = Console()
    console.print(table)
    for line in totals:
        console.print(line)
