"""`kspec plot`: the compiled graph as Graphviz DOT text, rendered by the `dot` program.

The DOT text is written here (no graphviz Python package): one box per node with its name,
layer type and output shapes, one ellipse per model input, an edge per input tensor (labelled
`node:i` when it is output `i > 0`), shared layers filled and marked `shares <layer>`.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from kspec.compiler import CompiledModel, Node, format_shape
from kspec.schemas.graph import Ref

FORMATS = ("svg", "png", "dot")
Checked = Callable[[Callable[[], None]], int]
"""`cli._run_checked`: runs a step, prints its `SpecError` as located lines, returns the exit."""
SHARED_FILL = "#fde9c4"  # every node applying a shared layer gets the same fill


@dataclass(frozen=True)
class Plot:
    """What `plot` wrote: `path`, and whether Graphviz rendered it (else it is the DOT text
    written next to the requested file, because `dot` is missing)."""

    path: Path
    rendered: bool


class RenderError(Exception):
    """The `dot` program ran and failed."""


def _quote(*lines: str) -> str:
    """A DOT string; several lines are joined by DOT's centred line break."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def _shapes(compiled: CompiledModel, name: str) -> list[str]:
    refs = sorted((r for r in compiled.shapes if r.node == name), key=lambda r: r.index)
    if len(refs) == 1:
        return [format_shape(compiled.shapes[refs[0]])]
    return [f"{r.index}: {format_shape(compiled.shapes[r])}" for r in refs]


def _node_line(compiled: CompiledModel, node: Node, shared: set[str], outputs: set[str]) -> str:
    lines = [node.name, type(node.spec).__name__]
    if node.layer != node.name:
        lines[1] += f" (shares {node.layer})"
    elif node.layer in shared:
        lines[1] += " (shared)"
    lines += _shapes(compiled, node.name)
    attrs = [f"label={_quote(*lines)}"]
    if node.layer in shared:
        attrs += ["style=filled", f'fillcolor="{SHARED_FILL}"']
    if node.name in outputs:
        attrs.append("peripheries=2")
    return f"  {_quote(node.name)} [{', '.join(attrs)}];"


def _edge_line(ref: Ref, target: str, argument: str | None = None) -> str:
    """An edge, labelled with the tensor (`node:1`) and the call argument it fills."""
    text = " = ".join(p for p in (argument, str(ref) if ref.index else None) if p)
    label = f" [label={_quote(text)}]" if text else ""
    return f"  {_quote(ref.node)} -> {_quote(target)}{label};"


def _edges(node: Node) -> list[str]:
    arguments = node.spec.call_arguments
    names = [arguments[s] for s in node.slots] if node.slots and len(node.inputs) > 1 else None
    return [
        _edge_line(ref, node.name, names[i] if names else None) for i, ref in enumerate(node.inputs)
    ]


def to_dot(compiled: CompiledModel) -> str:
    """The graph as DOT text: inputs on top, data flowing down, outputs double-bordered."""
    graph = compiled.graph
    shared = {layer for layer, nodes in graph.layer_nodes().items() if len(nodes) > 1}
    outputs = {ref.node for ref in graph.outputs}
    lines = [
        f"digraph {_quote(compiled.spec.name or 'model')} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for name in graph.inputs:
        label = _quote(name, "Input", format_shape(compiled.shapes[Ref(name)]))
        lines.append(f"  {_quote(name)} [label={label}, shape=ellipse];")
    lines += [_node_line(compiled, node, shared, outputs) for node in graph.nodes]
    lines += [line for node in graph.nodes for line in _edges(node)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot(compiled: CompiledModel, output: Path) -> Plot:
    """Write `output` (.svg, .png or .dot). Without Graphviz's `dot` program, an .svg or .png
    request writes `output` with the suffix .dot instead and returns `rendered=False`."""
    fmt = output.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(
            f"expected an output file ending in .svg, .png or .dot. Received: {output}"
        )
    text = to_dot(compiled)
    if fmt == "dot":
        output.write_text(text)
        return Plot(output, rendered=True)
    dot = shutil.which("dot")
    if dot is None:
        fallback = output.with_suffix(".dot")
        fallback.write_text(text)
        return Plot(fallback, rendered=False)
    result = subprocess.run(
        [dot, f"-T{fmt}", *(["-Gdpi=144"] if fmt == "png" else []), "-o", str(output)],
        input=text,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RenderError(f"dot failed ({result.returncode}): {result.stderr.strip()}")
    return Plot(output, rendered=True)


def run_plot(args: Any, out: Console, err: Console, checked: Checked) -> int:
    """`kspec plot FILE -o OUT`: exit 0 when OUT (or its .dot fallback) is written."""
    from kspec.runtime.api import check
    from kspec.runtime.model_dir import spec_source

    output = Path(args.output)
    if output.suffix.lstrip(".").lower() not in FORMATS:
        err.print(
            f"error: expected -o to end in .svg, .png or .dot. Received: {output}", markup=False
        )
        return 1
    written: list[Plot] = []
    status = checked(lambda: written.append(plot(check(spec_source(args.file)), output)))
    if status or not written:
        return status
    result = written[0]
    if result.rendered:
        out.print(f"wrote {result.path}", markup=False)
        return 0
    out.print(f"wrote {result.path} (Graphviz DOT text)", markup=False)
    err.print(
        f"warning: Graphviz is not installed (no 'dot' program on PATH), so {output} was not "
        f"rendered; install it (apt-get install graphviz, brew install graphviz) and run: "
        f"dot -T{output.suffix.lstrip('.').lower()} {result.path} -o {output}",
        markup=False,
    )
    return 0
