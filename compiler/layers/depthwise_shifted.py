"""A depthwise convolution as a sum over kernel taps of shifted input slices, for backends
where XLA's grouped convolution (`feature_group_count` = channels) is slow: XLA:CPU
(docs/performance.md has the measurement).

    y[n, *o, c * M + m]  = sum over taps t of x_pad[n, *(o * s + t * d), c] * w[*t, c, m]
    dx                   = the same sum over the stride-dilated, padded dy, kernel flipped,
                           summed over m (the transposed convolution, again elementwise)
    dw[*t, c, m]         = sum over n, o of x_pad[n, *(o * s + t * d), c] * dy[n, *o, c * M + m]

Each tap is one strided slice times a per-channel weight, broadcast over (channels,
depth_multiplier): elementwise work XLA fuses into loops, in a `custom_vjp` so that the
input gradient is that form too rather than autodiff's one padded copy per tap. It needs every
dimension but the batch known: an exported model with symbolic spatial or channel sizes keeps
XLA's form (a symbolic batch is fine).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from typing import Any

from kspec.compiler.deferred import Array, jax, jnp, lax
from kspec.compiler.layers.spatial import dilated


@dataclass(frozen=True)
class DepthwiseGeometry:
    """The static part of one depthwise convolution (hashable: a `custom_vjp` argument)."""

    strides: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    channels_first: bool

    def axes(self) -> range:
        first = 2 if self.channels_first else 1
        return range(first, first + len(self.strides))


def fits_shifted(x_shape: tuple[object, ...]) -> bool:
    """Whether the slices are static: every dimension but the batch (never sliced) is a
    known int."""
    return all(isinstance(d, int) for d in x_shape[1:])


def shifted_depthwise(x: Array, kernel: Array, geometry: DepthwiseGeometry) -> Array:
    """Depthwise convolution of `x` with `kernel` of shape (*kernel_size, C, M), output
    channel `c * M + m` (Keras' order), in the input's layout."""
    return _shifted()(x, kernel, geometry)


@cache
def _shifted() -> Any:
    """The `custom_vjp` function, made on first use (it needs JAX: compiler/deferred.py)."""
    convolve = jax.custom_vjp(_apply, nondiff_argnums=(2,))
    convolve.defvjp(lambda x, k, g: (_apply(x, k, g), (x, k)), _backward)
    return convolve


def _pad(x: Array, geometry: DepthwiseGeometry) -> Array:
    widths = [(0, 0, 0)] * x.ndim
    for axis, (lo, hi) in zip(geometry.axes(), geometry.pads, strict=True):
        widths[axis] = (lo, hi, 0)
    return lax.pad(x, jnp.zeros((), x.dtype), widths)


def _taps(padded: Array, size: tuple[int, ...], geometry: DepthwiseGeometry, steps: Any) -> Any:
    """(tap, strided slice of `padded` at that tap) for every kernel tap."""
    axes = geometry.axes()
    out = [
        (padded.shape[a] - dilated(k, d)) // s + 1
        for a, k, s, d in zip(axes, size, steps, geometry.dilation, strict=True)
    ]
    for tap in itertools.product(*map(range, size)):
        part = padded
        for axis, t, s, d, o in zip(axes, tap, steps, geometry.dilation, out, strict=True):
            part = lax.slice_in_dim(part, t * d, t * d + (o - 1) * s + 1, s, axis)
        yield tap, part


def _split(y: Array, geometry: DepthwiseGeometry, multiplier: int) -> Array:
    """Channels `c * M + m` as two axes (C, M)."""
    channel = 1 if geometry.channels_first else y.ndim - 1
    shape = list(y.shape)
    shape[channel : channel + 1] = [shape[channel] // multiplier, multiplier]
    return y.reshape(shape)


def _weight(kernel: Array, tap: tuple[int, ...], geometry: DepthwiseGeometry) -> Array:
    """w[*tap] as (C, M), shaped to broadcast against a (C, M)-split activation."""
    rank = len(geometry.strides)
    cm = kernel.shape[-2:]
    shape = (1, *cm, *(1,) * rank) if geometry.channels_first else (*(1,) * (rank + 1), *cm)
    return kernel[tap].reshape(shape)


def _apply(x: Array, kernel: Array, geometry: DepthwiseGeometry) -> Array:
    rank = len(geometry.strides)
    axis = 2 if geometry.channels_first else -1
    total = sum(
        jnp.expand_dims(part, axis) * _weight(kernel, tap, geometry)
        for tap, part in _taps(_pad(x, geometry), kernel.shape[:rank], geometry, geometry.strides)
    )
    merged = list(total.shape)  # type: ignore[union-attr]
    channel = 1 if geometry.channels_first else x.ndim - 1
    merged[channel : channel + 2] = [kernel.shape[-2] * kernel.shape[-1]]
    return total.reshape(merged)  # type: ignore[union-attr]


def _backward(
    geometry: DepthwiseGeometry, residuals: tuple[Array, Array], dy: Array
) -> tuple[Array, Array]:
    x, kernel = residuals
    rank, multiplier = len(geometry.strides), kernel.shape[-1]
    size = kernel.shape[:rank]
    split = _split(dy, geometry, multiplier)
    m_axis = 2 if geometry.channels_first else dy.ndim
    reduce = tuple(a for a in range(split.ndim) if a not in (m_axis - 1, m_axis))
    dw = jnp.stack([
        jnp.sum(jnp.expand_dims(part, m_axis) * split, axis=reduce)
        for _, part in _taps(_pad(x, geometry), size, geometry, geometry.strides)
    ]).reshape(kernel.shape)  # fmt: skip
    # dx: correlate dy, dilated by the strides and padded to n + span - 1, with the flipped kernel
    widths = [(0, 0, 0)] * dy.ndim
    for axis, k, s, d, (lo, _) in zip(
        geometry.axes(), size, geometry.strides, geometry.dilation, geometry.pads, strict=True
    ):
        span, n, o = dilated(k, d), x.shape[axis], dy.shape[axis]
        left = span - 1 - lo
        widths[axis] = (left, n + span - 1 - left - ((o - 1) * s + 1), s - 1)
    spread = lax.pad(dy, jnp.zeros((), dy.dtype), widths)
    flipped = jnp.flip(kernel, axis=tuple(range(rank)))
    ones = (1,) * rank
    dx = sum(
        jnp.sum(_split(part, geometry, multiplier) * _weight(flipped, tap, geometry), axis=m_axis)
        for tap, part in _taps(spread, size, geometry, ones)
    )
    return dx, dw.astype(kernel.dtype)  # type: ignore[return-value]
