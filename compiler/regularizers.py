"""Weight and activity penalties (Keras regularizers) and weight constraints, in JAX."""

from __future__ import annotations

from kspec.compiler.deferred import Array, jnp
from kspec.schemas import fields as f
from kspec.schemas.base import SpecModel


def penalty(spec: SpecModel, x: Array) -> Array:
    """`l1 * sum|x| + l2 * sum x^2` for an L1, L2 or L1L2 regularizer."""
    l1 = getattr(spec, "l1", 0.0)
    l2 = getattr(spec, "l2", 0.0)
    total = jnp.zeros((), x.dtype)
    if l1:
        total += l1 * jnp.sum(jnp.abs(x))
    if l2:
        total += l2 * jnp.sum(jnp.square(x))
    return total


def activity_penalty(spec: SpecModel, output: Array) -> Array:
    """Keras 3 divides an activity penalty by the batch size."""
    loss = penalty(spec, output)
    return loss / output.shape[0] if output.ndim > 0 else loss


def constrain(spec: SpecModel, w: Array) -> Array:
    """Project a weight as Keras' constraint does after each optimizer update."""
    match spec:
        case f.NonNeg():
            return w * (w >= 0.0).astype(w.dtype)
        case f.MaxNorm(max_value=max_value, axis=axis):
            norms = jnp.sqrt(jnp.sum(jnp.square(w), axis=_axes(axis), keepdims=True))
            desired = jnp.clip(norms, 0.0, max_value)
            return w * (desired / (1e-7 + norms))
        case f.UnitNorm(axis=axis):
            norms = jnp.sqrt(jnp.sum(jnp.square(w), axis=_axes(axis), keepdims=True))
            return w / (1e-7 + norms)
        case f.MinMaxNorm(min_value=lo, max_value=hi, rate=rate, axis=axis):
            norms = jnp.sqrt(jnp.sum(jnp.square(w), axis=_axes(axis), keepdims=True))
            desired = rate * jnp.clip(norms, lo, hi) + (1 - rate) * norms
            return w * (desired / (1e-7 + norms))
    raise TypeError(f"not a constraint: {spec!r}")


def _axes(axis: int | list[int]) -> int | tuple[int, ...]:
    return tuple(axis) if isinstance(axis, list) else axis
