"""Max pooling over non-overlapping windows as reshape + max, for backends where the gradient
of `lax.reduce_window` (a `select_and_scatter`) is slow: XLA:CPU (docs/performance.md).

When the strides equal the pool size, the padding is `valid` and every spatial size divides by
its pool size, each window is a block of the input, so splitting each spatial axis `n` into
`(n / k, k)` and taking the max over the `k` axes is the same pooling; its gradient is
elementwise. Ties differ: `reduce_window`'s gradient routes to one maximum, `jnp.max`'s splits
it evenly among equal maxima. The common tie, a window of ReLU zeros, gets a zero gradient
either way (ReLU's derivative there is 0); ties among other values are measure-zero events
for real-valued activations.
"""

from __future__ import annotations

from kspec.compiler.deferred import Array, jnp


def fits_blocks(
    spatial: tuple[int, ...], pool: tuple[int, ...], strides: tuple[int, ...], padding: str
) -> bool:
    """Whether pooling windows tile the input exactly (the reshape form applies)."""
    return (
        padding == "valid"
        and pool == strides
        and all(n % k == 0 for n, k in zip(spatial, pool, strict=True))
    )


def block_max(x: Array, spatial_axes: tuple[int, ...], pool: tuple[int, ...]) -> Array:
    """y = max over each (pool)-sized block of the spatial axes."""
    shape: list[int] = []
    reduce: list[int] = []
    for axis, size in enumerate(x.shape):
        if axis in spatial_axes:
            k = pool[spatial_axes.index(axis)]
            shape += [size // k, k]
            reduce.append(len(shape) - 1)
        else:
            shape.append(size)
    return jnp.max(x.reshape(shape), axis=tuple(reduce))
