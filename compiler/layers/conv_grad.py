"""A convolution whose weight gradient is computed with matmuls, for backends where XLA's own
weight gradient (a convolution with the input as its "kernel") is slow: XLA:CPU runs it far
below matmul speed (docs/performance.md has the profile and the figures).

    y  = conv(x, w)
    dx = XLA's transposed convolution of dy (unchanged)
    dw[k] = tap_k(x)^T @ dy   for every kernel tap k,

where tap_k(x) is a strided slice of the padded input: the input positions that tap k meets,
one per output position. Written as slices, not `lax.conv_general_dilated_patches`: that is
itself a convolution (with an identity kernel), as slow on XLA:CPU as the gradient it would
replace. Per static shape, two forms of the same sums (`CONCAT_BELOW_CHANNELS`):

- few input channels: the taps concatenated along the channel axis into the im2col patch
  matrix (N * out_positions, prod(kernel_size) * C), then one matmul;
- otherwise: one matmul per tap, each giving its own (C, O) block of dw, no patch matrix.

Only for plain convolutions (one group, no input dilation); the forward pass is XLA's.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from kspec.compiler.deferred import Array, jax, jnp, lax

MAX_PATCH_ELEMENTS = 1 << 27
"""Above this many patch elements (512 MiB in float32) the concatenated form would cost more
memory than it saves time; the convolution keeps XLA's gradient. The per-tap form builds no
patch matrix (one input-sized slice at a time), so the cap does not apply to it."""

CONCAT_BELOW_CHANNELS = 8
"""Input channel count below which the taps are concatenated into one patch matrix and one
matmul; from this many channels on, each tap takes its own matmul. Measured with
`python -m bench.conv_grad` (XLA:CPU, jax 0.10.2, a shared 2-core CPU; docs/performance.md
has the table): the crossover lies between 4 and 8 channels. With few channels each per-tap
matmul is a thin (C, M) @ (M, O) product that XLA:CPU runs far below matmul speed (1.7-2.5x
XLA's gradient at C=1, against 0.23-0.37 concatenated), while the concatenated matrix makes
one product of depth prod(kernel_size) * C. With many channels the per-tap products are
already wide and skip writing the patch matrix (C=32: 0.80 per tap, 1.12-1.19 concatenated)."""


def concatenates_taps(kernel_shape: tuple[int, ...]) -> bool:
    """Whether a kernel of `kernel_shape` (*spatial, I, O) takes the concatenated form."""
    return kernel_shape[-2] < CONCAT_BELOW_CHANNELS


@dataclass(frozen=True)
class ConvGeometry:
    """The static part of one `lax.conv_general_dilated` call (hashable: a `custom_vjp`
    non-differentiable argument)."""

    strides: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    dimension_numbers: tuple[str, str, str]

    def convolve(self, x: Array, kernel: Array) -> Array:
        return lax.conv_general_dilated(
            x,
            kernel,
            window_strides=self.strides,
            padding=self.pads,
            rhs_dilation=self.dilation,
            dimension_numbers=self.dimension_numbers,
        )

    def fits_im2col(self, x_shape: tuple[int, ...], kernel_shape: tuple[int, ...]) -> bool:
        """Whether the matmul weight gradient applies to an input of `x_shape`: all sizes are
        static, and a concatenated patch matrix (`concatenates_taps`) stays under the cap."""
        out = jax.eval_shape(
            self.convolve,
            jax.ShapeDtypeStruct(x_shape, jnp.float32),
            jax.ShapeDtypeStruct(kernel_shape, jnp.float32),
        )
        if not all(isinstance(d, int) for d in (*out.shape, *kernel_shape)):
            return False  # a symbolic dimension (export): its size is unknown, keep XLA's form
        if not concatenates_taps(kernel_shape):
            return True
        positions = math.prod(out.shape) // kernel_shape[-1]  # N * output positions
        return positions * math.prod(kernel_shape[:-1]) <= MAX_PATCH_ELEMENTS


def conv_im2col_grad(x: Array, kernel: Array, geometry: ConvGeometry) -> Array:
    """`geometry.convolve(x, kernel)`, differentiated with an im2col weight gradient."""
    return _im2col_convolution()(x, kernel, geometry)


@cache
def _im2col_convolution() -> Any:
    """The `custom_vjp` function, made on first use (it needs JAX: compiler/deferred.py)."""
    convolve = jax.custom_vjp(lambda x, kernel, geometry: geometry.convolve(x, kernel),
                              nondiff_argnums=(2,))  # fmt: skip
    convolve.defvjp(_forward, _backward)
    return convolve


def _forward(x: Array, kernel: Array, geometry: ConvGeometry) -> tuple[Array, tuple[Array, Array]]:
    return geometry.convolve(x, kernel), (x, kernel)


def _backward(
    geometry: ConvGeometry, residuals: tuple[Array, Array], dy: Array
) -> tuple[Array, Array]:
    x, kernel = residuals
    _, input_vjp = jax.vjp(lambda x_: geometry.convolve(x_, kernel), x)
    (dx,) = input_vjp(dy)
    return dx, _weight_gradient(geometry, x, kernel.shape, dy).astype(kernel.dtype)


def _weight_gradient(
    geometry: ConvGeometry, x: Array, kernel_shape: tuple[int, ...], dy: Array
) -> Array:
    """dw in the form that is fastest for this many input channels (`CONCAT_BELOW_CHANNELS`)."""
    form = concatenated_weight_gradient if concatenates_taps(kernel_shape) else tap_weight_gradient
    return form(geometry, x, kernel_shape, dy)


def concatenated_weight_gradient(
    geometry: ConvGeometry, x: Array, kernel_shape: tuple[int, ...], dy: Array
) -> Array:
    """dw as one matmul of the im2col patch matrix (the taps side by side on the channel
    axis, columns ordered (tap, c)) with dy. The batch and spatial axes are contracted as
    they are: on XLA:CPU that ran 0.6-0.85 of the time of flattening them first (C = 1, 4)."""
    x, dy = _channels_last(geometry, x), _channels_last(geometry, dy)
    patches = jnp.concatenate(_taps(geometry, x, kernel_shape, dy.shape), axis=-1)
    return _contract(patches, dy, dy.ndim - 1).reshape(kernel_shape)


def tap_weight_gradient(
    geometry: ConvGeometry, x: Array, kernel_shape: tuple[int, ...], dy: Array
) -> Array:
    """dw as one (M, C)^T @ (M, O) matmul per kernel tap, M = N * out_positions, each its own
    (C, O) block: no patch matrix. The operands are flattened to 2-D first: contracting the
    batch and spatial axes in place ran 1.6x slower on XLA:CPU (C = 32, 64)."""
    x, dy = _channels_last(geometry, x), _channels_last(geometry, dy)
    taps = _taps(geometry, x, kernel_shape, dy.shape)
    dy = dy.reshape(-1, dy.shape[-1])
    blocks = [_contract(tap.reshape(-1, tap.shape[-1]), dy, 1) for tap in taps]
    return jnp.stack(blocks).reshape(kernel_shape)


def _contract(a: Array, b: Array, leading: int) -> Array:
    """(a's channels, b's channels): the sum over their `leading` axes (batch and positions)
    of a * b. At HIGHEST precision, so no backend rounds the float32 operands (rtol 1e-5 of
    XLA's gradient); on XLA:CPU it costs nothing (measured equal to the default)."""
    axes = tuple(range(leading))
    return lax.dot_general(a, b, ((axes, axes), ((), ())), precision=lax.Precision.HIGHEST)


def _channels_last(geometry: ConvGeometry, a: Array) -> Array:
    """`a` (an input or output of the convolution) with its channel axis last: a no-op for
    channels_last layers, one transpose for channels_first ones."""
    return jnp.moveaxis(a, geometry.dimension_numbers[0].index("C"), -1)


def _taps(
    geometry: ConvGeometry, x: Array, kernel_shape: tuple[int, ...], dy_shape: tuple[int, ...]
) -> list[Array]:
    """For each kernel tap (row-major over the kernel's spatial axes), the strided slice of
    the padded channels-last input that tap multiplies: (N, *dy's positions, C)."""
    config = [(0, 0, 0), *((low, high, 0) for low, high in geometry.pads), (0, 0, 0)]
    padded = lax.pad(x, jnp.zeros((), x.dtype), config)  # lax.pad: a negative pad crops
    offsets = itertools.product(*map(range, kernel_shape[:-2]))
    return [_tap_slice(padded, offset, geometry, dy_shape[1:-1]) for offset in offsets]


def _tap_slice(
    padded: Array, offset: tuple[int, ...], geometry: ConvGeometry, positions: tuple[int, ...]
) -> Array:
    """The input positions kernel tap `offset` meets: along each spatial axis, from
    offset * dilation, one every stride, as many as the output has."""
    start = [k * d for k, d in zip(offset, geometry.dilation, strict=True)]
    limit = [
        s + (n - 1) * st + 1 for s, n, st in zip(start, positions, geometry.strides, strict=True)
    ]
    return lax.slice(
        padded,
        (0, *start, 0),
        (padded.shape[0], *limit, padded.shape[-1]),
        (1, *geometry.strides, 1),
    )
