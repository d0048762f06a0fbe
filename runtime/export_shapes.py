"""The abstract inputs of an export: a symbolic batch dimension and one symbol per `null`.

`b` is the batch (shared by every input, as the model needs one batch size), `s1`, `s2`, ...
are the spec's `null` dimensions in input order; each takes any size independently (when the
layers need equal lengths, e.g. `Add` of two sequences, the export falls back to one symbol
per axis shared by all inputs: `shared=True`), from the
least size kspec's shape inference accepts (a valid convolution or pooling needs a few
steps), which becomes a constraint `s1 >= 6` that lets jax decide the shape comparisons the
layers make. All symbols come from one `jax.export.symbolic_shape` call (one scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
from jax import export as jax_export

from kspec.compiler import CompiledModel
from kspec.errors import ExportError, ShapeError
from kspec.schemas.model import GraphSpec

BATCH = "b"
LONGEST = 1 << 16
"""The longest size searched for a `null` dimension's least size."""


@dataclass(frozen=True)
class ArgSpecs:
    """The abstract inputs and what each symbol stands for."""

    inputs: dict[str, jax.ShapeDtypeStruct]
    symbols: dict[str, str]
    """Symbol -> where it is (`batch`, `words axis 1`)."""
    least: dict[str, int]
    """The least size of each `null` dimension's symbol (1 when any size works)."""
    batch: int | None
    """The fixed batch size, or None when `b` is symbolic."""

    @property
    def lengths(self) -> list[str]:
        """The symbols of `null` dimensions (not the batch)."""
        return [s for s in self.symbols if s != BATCH]

    @property
    def constraints(self) -> list[str]:
        return constraints(self.least)


def fixed_batch(spec: GraphSpec, batch_size: int | None) -> int | None:
    """The batch size the export is fixed to: the one asked for, or the spec's `batch_size`
    (stateful RNNs need one); None for a symbolic batch."""
    declared = {s.batch_size for s in spec.inputs.values() if s.batch_size is not None}
    if batch_size is not None and batch_size < 1:
        raise ExportError(f"the batch size must be at least 1. Received: {batch_size}")
    if batch_size is not None and declared and declared != {batch_size}:
        raise ExportError(
            f"the spec fixes the batch size to {min(declared)}. Received: batch_size={batch_size}"
        )
    return batch_size if batch_size is not None else (min(declared) if declared else None)


def constraints(least: dict[str, int]) -> list[str]:
    """`s1 >= 6` for each symbol whose least size is above 1 (every size is >= 1 anyway)."""
    return [f"{s} >= {n}" for s, n in least.items() if n > 1]


def arg_specs(
    compiled: CompiledModel, batch_size: int | None = None, shared: bool = False
) -> ArgSpecs:
    """One `ShapeDtypeStruct` per model input, symbolic where the spec says `null`; with
    `shared`, the `null` dimensions at the same axis of different inputs share one symbol."""
    spec = compiled.spec
    batch = fixed_batch(spec, batch_size)
    symbols: dict[str, str] = {} if batch is not None else {BATCH: "batch (axis 0 of every input)"}
    keys: dict[Any, str] = {}
    layout: dict[str, list[str | int]] = {}
    for name, declared in spec.inputs.items():
        dims: list[str | int] = [BATCH if batch is None else batch]
        for axis, size in enumerate(declared.shape, start=1):
            if size is not None:
                dims.append(size)
                continue
            key = axis if shared else (name, axis)
            where = f"{name} axis {axis}"
            if key in keys:
                symbols[keys[key]] += f", {where}"
            else:
                keys[key] = f"s{len(keys) + 1}"
                symbols[keys[key]] = where
            dims.append(keys[key])
        layout[name] = dims
    least = least_sizes(compiled, layout)
    scope = ", ".join(symbols)
    symbolic = jax_export.symbolic_shape(scope, constraints=constraints(least)) if symbols else ()
    values = dict(zip(symbols, symbolic, strict=True))
    inputs = {
        name: jax.ShapeDtypeStruct(
            tuple(values[d] if isinstance(d, str) else d for d in dims),
            spec.inputs[name].dtype,
        )
        for name, dims in layout.items()
    }
    return ArgSpecs(inputs, symbols, least, batch)


def least_sizes(compiled: CompiledModel, layout: dict[str, list[str | int]]) -> dict[str, int]:
    """Each length symbol's least size that kspec's shape inference accepts, the other
    lengths being long (doubling, then bisection: sizes above a valid one are assumed valid)."""
    lengths = {d for dims in layout.values() for d in dims[1:] if isinstance(d, str)}
    least = {}
    for symbol in sorted(lengths, key=lambda s: int(s[1:])):

        def fits(size: int, symbol: str = symbol) -> bool:
            sizes = {s: size if s == symbol else LONGEST for s in lengths}
            shapes = [(None, *(sizes.get(d, d) for d in dims[1:])) for dims in layout.values()]
            try:
                compiled.output_shapes_for(shapes)  # type: ignore[arg-type]
            except ShapeError:
                return False
            return True

        high = 1
        while high < LONGEST and not fits(high):
            high *= 2
        low = high // 2  # fits(low) is False or low == 0
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if fits(middle) else (middle, high)
        least[symbol] = high
    return least


def concrete_shapes(specs: ArgSpecs, batch: int, length: int) -> dict[str, tuple[int, ...]]:
    """The inputs' shapes with the batch set to `batch` and every `null` size to `length`
    more than its least size."""

    def size(d: Any) -> int:
        if isinstance(d, int):
            return d
        return batch if str(d) == BATCH else specs.least[str(d)] - 1 + length

    return {name: tuple(size(d) for d in value.shape) for name, value in specs.inputs.items()}


def weight_names(variables: Any) -> tuple[list[str], Any]:
    """Flat names (`params/dense/kernel`) of the variables' leaves, in pytree order, and the
    tree structure that puts the leaves back."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(variables)
    names = ["/".join(str(getattr(k, "key", k)) for k in path) for path, _ in paths]
    return names, treedef
