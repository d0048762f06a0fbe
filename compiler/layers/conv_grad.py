"""A convolution whose weight gradient is one matmul (im2col), for backends where XLA's own
weight gradient (a convolution with the input as its "kernel") is slow: XLA:CPU runs it far
below matmul speed (docs/performance.md has the profile).

    y  = conv(x, w)
    dx = XLA's transposed convolution of dy (unchanged)
    dw = patches(x)^T @ dy,   patches(x): (N * out_positions, C * prod(kernel_size))

Only for plain convolutions (one group, no input dilation); the forward pass is XLA's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from kspec.compiler.deferred import Array, jax, jnp, lax

MAX_PATCH_ELEMENTS = 1 << 27
"""Above this many patch elements (512 MiB in float32) im2col would cost more memory than
it saves time; the convolution keeps XLA's gradient."""


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
        """Whether the patch matrix of an input of `x_shape` stays under the memory cap."""
        out = jax.eval_shape(
            self.convolve,
            jax.ShapeDtypeStruct(x_shape, jnp.float32),
            jax.ShapeDtypeStruct(kernel_shape, jnp.float32),
        )
        if not all(isinstance(d, int) for d in (*out.shape, *kernel_shape)):
            return False  # a symbolic dimension (export): its size is unknown, keep XLA's form
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
    """dw[*k, c, o] = sum over batch and output positions of patch[(c, *k)] * dy[o]."""
    rank = len(kernel_shape) - 2
    io_layout = geometry.dimension_numbers[0]
    patches = lax.conv_general_dilated_patches(
        x,
        kernel_shape[:rank],
        geometry.strides,
        geometry.pads,
        rhs_dilation=geometry.dilation,
        dimension_numbers=geometry.dimension_numbers,
        precision=lax.Precision.HIGHEST,  # patch extraction must copy values exactly
    )
    channel = io_layout.index("C")
    patches = jnp.moveaxis(patches, channel, -1).reshape(-1, patches.shape[channel])
    dy = jnp.moveaxis(dy, channel, -1).reshape(-1, dy.shape[channel])
    flat = patches.T @ dy  # (C * prod(k), O), rows ordered (c, *k)
    dw = flat.reshape(kernel_shape[rank], *kernel_shape[:rank], kernel_shape[-1])
    return jnp.moveaxis(dw, 0, rank)
