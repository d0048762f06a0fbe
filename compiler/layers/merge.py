"""Lowerings of the merge layers. The six element-wise merges share one shape rule, one apply
and one mask rule (a table row each); Concatenate and Dot follow Keras 3; the Keras 1 `Merge`
layer lowers to its modern equivalent."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kspec.compiler.deferred import jax, jnp
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    Lowering,
    Shape,
    Weights,
    drop_mask,
    expect_inputs,
    format_shape,
)
from kspec.errors import ShapeError
from kspec.schemas.base import LayerSpec
from kspec.schemas.layers import merge as s

Masks = list[Array | None]


def _received(shapes: list[Shape]) -> str:
    return ", ".join(format_shape(shape) for shape in shapes)


def _batch(layer: str, shapes: list[Shape]) -> int | None:
    sizes = {shape[0] for shape in shapes if shape} - {None}
    if len(sizes) > 1:
        raise ShapeError(
            f"{layer} inputs have different batch sizes. Received: {_received(shapes)}"
        )
    return next(iter(sizes), None)


def _input_masks(call: LayerCall, xs: list[Array]) -> Masks:
    """One mask (or None) per input."""
    return [*call.masks, *[None] * (len(xs) - len(call.masks))][: len(xs)]


# Element-wise merges -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """How one element-wise merge combines inputs. `masked` says what a masked entry becomes:
    kept as is (`keep`), 1 (`one`, Multiply), or the other inputs' value (`skip`, Max/Min)."""

    op: str  # a `jax.numpy` function name (read when applied: compiler/deferred.py)
    masked: Literal["keep", "one", "skip"] = "keep"
    inputs: int | None = None  # exact input count, if the layer fixes one
    mean: bool = False


_RULES: dict[type[LayerSpec], _Rule] = {
    s.Add: _Rule("add"),
    s.Subtract: _Rule("subtract", inputs=2),
    s.Multiply: _Rule("multiply", masked="one"),
    s.Average: _Rule("add", mean=True),
    s.Maximum: _Rule("maximum", masked="skip"),
    s.Minimum: _Rule("minimum", masked="skip"),
}


def _elementwise_shape(spec: LayerSpec, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    """Keras' broadcast: non-batch axes aligned on the right; size 1 stretches; None is
    unknown."""
    layer, rule = type(spec).__name__, _RULES[type(spec)]
    if rule.inputs is not None:
        expect_inputs(spec, shapes, rule.inputs)
    batch = _batch(layer, shapes)
    rank = max(len(shape) for shape in shapes)
    out: list[int | None] = [1] * (rank - 1)
    for shape in shapes:
        padded = [1] * (rank - len(shape)) + list(shape[1:])
        for axis, (a, b) in enumerate(zip(out, padded, strict=True)):
            if a is None or b is None:
                out[axis] = None
            elif a == 1 or b == 1 or a == b:
                out[axis] = max(a, b)
            else:
                raise ShapeError(
                    f"{layer} inputs have incompatible shapes: sizes {a} and {b} do not "
                    f"broadcast on axis {axis + 1}. Received: {_received(shapes)}"
                )
    return [(batch, *out)]


def _same_rank(xs: list[Array]) -> list[Array]:
    """Lower-rank inputs get size-1 axes after the batch axis, as Keras reshapes them."""
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


def _skip_masked(op: Callable[[Array, Array], Array], xs: list[Array], masks: Masks) -> Array:
    """Keras' `_apply_merge_op_and_or_mask`: a masked entry takes the other operand's value."""
    out, out_mask = xs[0], masks[0]
    for x, mask in zip(xs[1:], masks[1:], strict=True):
        if mask is not None:
            x = jnp.where(mask, x, out)
        if out_mask is not None:
            out = jnp.where(out_mask, out, x)
        out_mask = None if mask is None or out_mask is None else out_mask | mask
        out = op(out, x)
    return out


def _multiply_masked(op: Callable[[Array, Array], Array], xs: list[Array], masks: Masks) -> Array:
    """Masked entries count as 1 (the product's identity); where every input is masked the
    product is 0."""
    out = functools.reduce(
        op,
        [
            x if m is None else jnp.where(m, x, jnp.ones((), x.dtype))
            for x, m in zip(xs, masks, strict=True)
        ],
    )
    if all(m is not None for m in masks):
        out = jnp.where(functools.reduce(jnp.logical_or, masks), out, jnp.zeros((), out.dtype))
    return out


def _elementwise_apply(
    spec: LayerSpec, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    rule = _RULES[type(spec)]
    xs = _same_rank(inputs)
    masks: Masks = [
        None if m is None else jnp.broadcast_to(m[..., None], x.shape)
        for m, x in zip(_input_masks(call, xs), xs, strict=True)
    ]
    if rule.masked == "skip":
        y = _skip_masked(getattr(jnp, rule.op), xs, masks)
    elif rule.masked == "one":
        y = _multiply_masked(getattr(jnp, rule.op), xs, masks)
    else:
        y = functools.reduce(getattr(jnp, rule.op), xs)
    return [y / len(xs) if rule.mean else y]


def _or_masks(spec: LayerSpec, masks: Masks, inputs: list[Array]) -> Masks:
    """Keras 3's merge mask: the OR of the input masks when every input has one, else none."""
    if not masks or any(m is None for m in masks):
        return [None]
    return [functools.reduce(jnp.logical_or, masks)]


def _all_masked(spec: LayerSpec, masked: list[bool]) -> list[bool]:
    return [bool(masked) and all(masked)]


# Concatenate --------------------------------------------------------------------------------


def _concat_axis(axis: int, shapes: list[Shape]) -> int:
    rank = len(shapes[0])
    if any(len(shape) != rank for shape in shapes):
        raise ShapeError(f"Concatenate needs inputs of one rank. Received: {_received(shapes)}")
    if not -rank <= axis < rank or axis % rank == 0:
        raise ShapeError(
            f"Concatenate axis {axis} is out of range for inputs of rank {rank} "
            f"(the batch axis cannot be joined). Received: {_received(shapes)}"
        )
    return axis % rank


def _concatenate_shape(spec: s.Concatenate, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    axis = _concat_axis(spec.axis, shapes)
    out: list[int | None] = [_batch("Concatenate", shapes)]
    for i in range(1, len(shapes[0])):
        sizes = [shape[i] for shape in shapes]
        if i == axis:
            out.append(None if None in sizes else sum(sizes))  # type: ignore[arg-type]
            continue
        known = set(sizes) - {None}
        if len(known) > 1:
            raise ShapeError(
                f"Concatenate inputs must agree on every axis but {spec.axis}; axis {i} "
                f"differs. Received: {_received(shapes)}"
            )
        out.append(next(iter(known), None))
    return [tuple(out)]


def _concatenate_apply(
    spec: s.Concatenate, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    return [jnp.concatenate(inputs, axis=spec.axis)]


def _concatenate_mask(spec: s.Concatenate, masks: Masks, inputs: list[Array]) -> Masks:
    """Keras: a missing mask is all-true; masks are widened to the inputs' shape, joined along
    the axis, then reduced with `any` over the last axis."""
    if all(m is None for m in masks):
        return [None]
    full = [
        jnp.ones(x.shape, bool)
        if m is None
        else jnp.broadcast_to(m[..., None], x.shape)
        if m.ndim < x.ndim
        else m
        for m, x in zip(masks, inputs, strict=True)
    ]
    return [jnp.any(jnp.concatenate(full, axis=spec.axis), axis=-1)]


# Dot ------------------------------------------------------------------------------------------


def _dot_axes(axes: int | list[int], shapes: list[Shape]) -> tuple[int, int]:
    pair = [axes, axes] if isinstance(axes, int) else axes
    result = []
    for axis, shape in zip(pair, shapes, strict=True):
        if not -len(shape) <= axis < len(shape) or axis % len(shape) == 0:
            raise ShapeError(
                f"Dot axes={axes} are out of range for the inputs, or name the batch axis. "
                f"Received: {_received(shapes)}"
            )
        result.append(axis % len(shape))
    return result[0], result[1]


def _dot_shape(spec: s.Dot, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 2)
    if any(len(shape) < 2 for shape in shapes):
        raise ShapeError(f"Dot expects inputs of rank >= 2. Received: {_received(shapes)}")
    batch = _batch("Dot", shapes)
    a0, a1 = _dot_axes(spec.axes, shapes)
    first, second = shapes
    if None not in (first[a0], second[a1]) and first[a0] != second[a1]:
        raise ShapeError(
            f"Dot needs equal sizes on the dot axes: {first[a0]} (axis {a0} of input 0) != "
            f"{second[a1]} (axis {a1} of input 1). Received: {_received(shapes)}"
        )
    rest = [d for i, d in enumerate(first) if i not in (0, a0)]
    rest += [d for i, d in enumerate(second) if i not in (0, a1)]
    return [(batch, *(rest or [1]))]


def _l2_normalize(x: Array, axis: int) -> Array:
    """Keras' `normalize`: `x * min(rsqrt(sum(x^2)), 1/epsilon)`, epsilon 1e-7."""
    inv = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x * jnp.minimum(inv, 1e7)


def _batch_dot(x: Array, y: Array, a0: int, a1: int) -> Array:
    """Keras' `batch_dot`: contract x's axis a0 with y's axis a1 per sample; the result's axes
    are x's remaining axes then y's; a rank-1 result becomes (batch, 1)."""
    x, y = jnp.moveaxis(x, a0, -1), jnp.moveaxis(y, a1, 1)
    batch, size = x.shape[0], x.shape[-1]
    out = jnp.einsum("bik,bkj->bij", x.reshape(batch, -1, size), y.reshape(batch, size, -1))
    out = out.reshape(batch, *x.shape[1:-1], *y.shape[2:])
    return out.reshape(batch, 1) if out.ndim == 1 else out


def _dot_apply(spec: s.Dot, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
    x, y = inputs
    a0, a1 = _dot_axes(spec.axes, [x.shape, y.shape])
    if spec.normalize:
        x, y = _l2_normalize(x, a0), _l2_normalize(y, a1)
    return [_batch_dot(x, y, a0, a1)]


# The Keras 1 Merge layer ----------------------------------------------------------------------


def _modern(spec: s.Merge) -> LayerSpec:
    """The modern layer a Keras 1 `Merge` node means."""
    common = {"name": spec.name, "inputs": spec.inputs, "trainable": spec.trainable}
    if spec.mode == "concat":
        return s.Concatenate(axis=spec.concat_axis, **common)
    if spec.mode in ("dot", "cos"):
        return s.Dot(axes=spec.dot_axes, normalize=spec.mode == "cos", **common)
    cls = {"sum": s.Add, "mul": s.Multiply, "ave": s.Average, "max": s.Maximum}[spec.mode]
    return cls(**common)


def _via_modern(part: str) -> Callable[..., Any]:
    """One function of the Merge lowering: the same function of the modern layer's."""

    def run(spec: s.Merge, *args: Any) -> Any:
        modern = _modern(spec)
        return getattr(_MODERN[type(modern)], part)(modern, *args)

    return run


def _merge_masked(spec: s.Merge, masked: list[bool]) -> list[bool]:
    modern = _modern(spec)
    return _MODERN[type(modern)].output_masked(modern, masked, 1)


_ELEMENTWISE = [
    Lowering(
        cls,
        _elementwise_shape,
        _elementwise_apply,
        compute_mask=_or_masks,
        mask="propagate",
        masks_output=_all_masked,
    )
    for cls in _RULES
]
_MODERN: dict[type[LayerSpec], Lowering[Any]] = {
    lowering.spec_type: lowering
    for lowering in [
        *_ELEMENTWISE,
        Lowering(
            s.Concatenate,
            _concatenate_shape,
            _concatenate_apply,
            compute_mask=_concatenate_mask,
            mask="propagate",
            masks_output=lambda spec, masked: [any(masked)],
        ),
        Lowering(s.Dot, _dot_shape, _dot_apply, compute_mask=drop_mask, mask="drop"),
    ]
}

LOWERINGS: list[Lowering[Any]] = [
    *_MODERN.values(),
    Lowering(
        s.Merge,
        _via_modern("infer_shape"),
        _via_modern("apply"),
        compute_mask=_via_modern("compute_mask"),
        mask="propagate",
        masks_output=_merge_masked,
    ),
]
