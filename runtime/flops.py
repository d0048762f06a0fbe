"""FLOPs per node, from XLA's cost analysis of each node's own apply (inference, batch 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax

from kspec.schemas.graph import Ref

if TYPE_CHECKING:
    from kspec.runtime.model import Model


def node_flops(model: Model, batch_size: int = 1) -> dict[str, float]:
    """`{node: flops}` for one inference call on `batch_size` samples; unknown lengths
    (`None` axes) count as 1. XLA counts a multiply-add as 2 FLOPs."""
    compiled = model.compiled
    variables = model.variables
    result: dict[str, float] = {}
    for node in compiled.graph.nodes:
        inputs = [_abstract(compiled, ref, batch_size) for ref in node.inputs]

        def apply(params: Any, state: Any, xs: list[jax.Array], node: Any = node) -> Any:
            return compiled.apply_node(node, params, state, xs)

        params = variables["params"].get(node.layer, {})
        state = variables["state"].get(node.layer, {})
        cost = jax.jit(apply).lower(params, state, inputs).cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        result[node.name] = float((cost or {}).get("flops", 0.0))
    return result


def _abstract(compiled: Any, ref: Ref, batch_size: int) -> jax.ShapeDtypeStruct:
    shape = tuple(1 if d is None else d for d in compiled.shapes[ref])
    shape = (batch_size, *shape[1:])
    spec = compiled.spec.inputs.get(ref.node)
    return jax.ShapeDtypeStruct(shape, spec.dtype if spec is not None else "float32")


def format_flops(flops: float) -> str:
    """`1.2 M`-style counts, as summaries print them."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if flops >= size:
            return f"{flops / size:.2f} {unit}"
    return f"{flops:.0f}"
