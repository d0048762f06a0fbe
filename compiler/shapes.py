"""Shape inference over a node graph: every tensor's shape, and which tensors carry a mask,
from the model inputs' shapes (no weights, no arrays)."""

from __future__ import annotations

from dataclasses import replace

from kspec.compiler.graph import Graph, Node
from kspec.compiler.lowering import BuildEnv, Shape, format_shape
from kspec.errors import Diagnostic, ShapeError
from kspec.schemas.graph import Ref
from kspec.schemas.model import GraphSpec


def infer_shapes(
    graph: Graph, inputs: dict[Ref, Shape], env: BuildEnv, failed: set[str]
) -> tuple[dict[Ref, Shape], list[Diagnostic], dict[Ref, str]]:
    """Every tensor's shape from the input shapes, and a diagnostic for each node whose
    inputs do not fit it (or that would pass on a mask it cannot honour). Nodes in `failed`
    (already reported) and those fed by them are skipped. Also returns the masked tensors,
    each with the node that made its mask."""
    shapes = dict(inputs)
    failed = set(failed)
    problems: list[Diagnostic] = []
    masked: dict[Ref, str] = {}  # tensors that carry a mask -> the node that made the mask
    for node in graph.nodes:
        if node.name in failed or any(r.node in failed for r in node.inputs):
            failed.add(node.name)
            continue
        try:
            in_shapes = node.arrange([_lookup(shapes, r, graph) for r in node.inputs])
            out_shapes = node.lowering.infer_shape(node.spec, in_shapes, env)  # type: ignore[arg-type]
            if node.lowering.check_masks is not None:
                in_masked = node.arrange([r in masked for r in node.inputs])
                node.lowering.check_masks(node.spec, in_shapes, in_masked)
        except ShapeError as exc:
            failed.add(node.name)
            message = exc.diagnostics[0].message
            received = ", ".join(format_shape(shapes[r]) for r in node.inputs if r in shapes)
            if received and received not in message:  # say the shapes once, not twice
                message += f" (input shapes: {received})"
            problems.append(Diagnostic(message, node.location, node.name))
            continue
        for i, shape in enumerate(out_shapes):
            shapes[Ref(node.name, i)] = tuple(shape)
        problems += _track_masks(node, masked, len(out_shapes))
    return shapes, problems, masked


def expand_outputs(graph: Graph, spec: GraphSpec, shapes: dict[Ref, Shape]) -> Graph:
    """A bare name in `outputs:` (or the default last node) means all of that node's outputs,
    in order (`return_state`); `node:0` means the first only."""
    texts = spec.outputs or [str(graph.outputs[0])]
    refs: list[Ref] = []
    for text, ref in zip(texts, graph.outputs, strict=True):
        count = sum(1 for r in shapes if r.node == ref.node) if ":" not in text else 1
        refs += [ref] if count <= 1 else [Ref(ref.node, i) for i in range(count)]
    return replace(graph, outputs=tuple(refs))


def _track_masks(node: Node, masked: dict[Ref, str], outputs: int) -> list[Diagnostic]:
    """Record which outputs of `node` carry a mask (Keras masks, known at compile time) and
    reject a masked input to a layer whose mask policy is `error`."""
    lowering, origins = node.lowering, [masked.get(r) for r in node.inputs]
    origin = next((o for o in origins if o is not None), None)
    if origin is not None and lowering.mask == "error":
        layer = type(node.spec).__name__
        return [
            Diagnostic(
                f"{layer} cannot honour the mask that node '{origin}' puts on its input "
                f"(Keras would silently drop it); consume the mask first (an RNN, "
                f"GlobalAveragePooling1D) or do not create it",
                node.location,
                node.name,
            )
        ]
    flags = lowering.output_masked(node.spec, [o is not None for o in origins], outputs)
    inherits = lowering.mask == "propagate" and lowering.masks_output is None
    for i, flag in enumerate(flags):
        if flag:
            masked[Ref(node.name, i)] = origin if inherits and origin else node.name
    return []


def _lookup(shapes: dict[Ref, Shape], ref: Ref, graph: Graph) -> Shape:
    if ref not in shapes:
        count = sum(1 for r in shapes if r.node == ref.node)
        raise ShapeError(f"'{ref}' does not exist: '{ref.node}' has {count} output(s)")
    return shapes[ref]
