"""Max pooling over non-overlapping windows with an elementwise gradient, for backends where
the gradient of `lax.reduce_window` (a `select_and_scatter`) is slow: XLA:CPU
(docs/performance.md).

When the strides equal the pool size, the padding is `valid` and every spatial size divides by
its pool size, each window is a block of the input: splitting each spatial axis `n` into
`(n / k, k)` makes the windows axes of their own, and the gradient is the output gradient put
back where each block held its maximum, elementwise work. The forward pass stays XLA's
`reduce_window`, which XLA:CPU runs faster than the reshape and `max` (the MNIST CNN's apply
at batch 128 took 1.13x the time with the reshape forward); a `custom_vjp` joins the two.

Ties: `reduce_window`'s own gradient routes to one maximum; this one splits it evenly among
equal maxima, as `jnp.max`'s does. The common tie, a window of ReLU zeros, gets a zero
gradient either way (ReLU's derivative there is 0); ties among other values are measure-zero
events for real-valued activations.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from kspec.compiler.deferred import Array, jax, jnp, lax, np

Blocks = tuple[tuple[int, ...], tuple[int, ...]]
"""(spatial axes, pool size per spatial axis): the static part of one pooling."""


def fits_blocks(
    spatial: tuple[int, ...], pool: tuple[int, ...], strides: tuple[int, ...], padding: str
) -> bool:
    """Whether pooling windows tile the input exactly (the block gradient applies)."""
    return (
        padding == "valid"
        and pool == strides
        and all(n % k == 0 for n, k in zip(spatial, pool, strict=True))
    )


def block_max(x: Array, spatial_axes: tuple[int, ...], pool: tuple[int, ...]) -> Array:
    """y = max over each (pool)-sized block of the spatial axes."""
    return _block_max()(x, (spatial_axes, pool))


@cache
def _block_max() -> Any:
    """The `custom_vjp` function, made on first use (it needs JAX: compiler/deferred.py)."""
    pooled = jax.custom_vjp(_block_window_max, nondiff_argnums=(1,))
    pooled.defvjp(_forward, _backward)
    return pooled


def window_max(x: Array, dims: Any, strides: Any, padding: Any) -> Array:
    """XLA's max pooling: `lax.reduce_window` with max, any window (every pooling's forward)."""
    # a concrete (numpy) identity: JAX only differentiates reduce_window for known monoids,
    # and a jnp constant is a tracer under jit
    return lax.reduce_window(x, np.array(-np.inf, x.dtype), lax.max, dims, strides, padding)


def _block_window_max(x: Array, blocks: Blocks) -> Array:
    spatial_axes, pool = blocks
    window = [1] * x.ndim
    for axis, k in zip(spatial_axes, pool, strict=True):
        window[axis] = k
    return window_max(x, window, window, "VALID")


def _forward(x: Array, blocks: Blocks) -> tuple[Array, tuple[Array, Array]]:
    y = _block_window_max(x, blocks)
    return y, (x, y)


def _backward(blocks: Blocks, residuals: tuple[Array, Array], dy: Array) -> tuple[Array]:
    """dx = dy / (number of maxima in its block) where x is its block's maximum, else 0."""
    x, y = residuals
    split, within = _block_layout(x.shape, blocks)
    spread = tuple(1 if i in within else n for i, n in enumerate(split))  # one per block
    at_max = x.reshape(split) == y.reshape(spread)
    count = jnp.sum(at_max, axis=within, keepdims=True).astype(dy.dtype)
    dx = jnp.where(at_max, dy.reshape(spread) / count, jnp.zeros((), dy.dtype))
    return (dx.reshape(x.shape),)


def _block_layout(
    shape: tuple[int, ...], blocks: Blocks
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """`shape` with each spatial axis n split into (n / k, k), and where the k axes (each
    block's own) are."""
    spatial_axes, pool = blocks
    split: list[int] = []
    within: list[int] = []
    for axis, size in enumerate(shape):
        if axis in spatial_axes:
            k = pool[spatial_axes.index(axis)]
            split += [size // k, k]
            within.append(len(split) - 1)
        else:
            split.append(size)
    return tuple(split), tuple(within)
