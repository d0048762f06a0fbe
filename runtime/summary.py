"""`Model.summary()`: a rich table of nodes, output shapes and parameter counts."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

from kspec.compiler.lowering import format_shape
from kspec.runtime.flops import format_flops, node_flops

if TYPE_CHECKING:
    from kspec.runtime.model import Model


def summary_table(model: Model, flops: bool = False) -> tuple[Table, list[str]]:
    """The node table and the total lines (trainable / non-trainable / total params); with
    `flops`, a FLOPs column (XLA cost analysis of each node, batch 1) and their total."""
    compiled = model.compiled
    per_node = node_flops(model) if flops else {}
    graph = compiled.graph
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
    if not chained:
        table.add_column("Connected to")
    counted: set[str] = set()
    trainable = non_trainable = 0
    nbytes = 0
    variables = model.variables
    for node in graph.nodes:
        shapes = [s for r, s in compiled.shapes.items() if r.node == node.name]
        count = 0
        if node.layer not in counted:
            counted.add(node.layer)
            params = variables["params"].get(node.layer, {})
            weights = {name for _, name in compiled.weight_names(node.layer)}
            state = {  # Keras weights only: a stateful RNN's carried states are not params
                k: v for k, v in variables["state"].get(node.layer, {}).items() if k in weights
            }
            n_params = sum(int(np.prod(w.shape)) for w in params.values())
            n_state = sum(int(np.prod(w.shape)) for w in state.values())
            nbytes += sum(w.nbytes for w in [*params.values(), *state.values()])
            count = n_params + n_state
            if node.spec.trainable:
                trainable += n_params
                non_trainable += n_state
            else:
                non_trainable += count
        row = [
            f"{node.name} ({type(node.spec).__name__})",
            ", ".join(format_shape(s) for s in shapes),
            f"{count:,}",
        ]
        if flops:
            row.append(format_flops(per_node[node.name]))
        if not chained:
            row.append(", ".join(str(r) for r in node.inputs))
        table.add_row(*row)
    totals = [
        f"Total params: {trainable + non_trainable:,} ({_human_bytes(nbytes)})",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {non_trainable:,}",
    ]
    if flops:
        totals.append(f"FLOPs per sample (inference): {format_flops(sum(per_node.values()))}")
    return table, totals


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{n} B"
        size /= 1024
    return f"{n} B"


def render_summary(model: Model, width: int = 100, flops: bool = False) -> str:
    """The summary as plain text (what `summary()` prints, for files and print_fn)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    table, totals = summary_table(model, flops)
    console.print(table)
    for line in totals:
        console.print(line)
    return buffer.getvalue()


def print_summary(
    model: Model, print_fn: Callable[[str], object] | None = None, flops: bool = False
) -> None:
    if print_fn is not None:
        for line in render_summary(model, flops=flops).splitlines():
            print_fn(line)
        return
    table, totals = summary_table(model, flops)
    console = Console()
    console.print(table)
    for line in totals:
        console.print(line)
