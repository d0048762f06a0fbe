"""Lowerings of LocallyConnected1D/2D (Keras 2, `implementation=1` weight layout).

One rank-generic implementation: the patches of every output position are gathered at once
with precomputed indices (no loop over positions), flattened in Keras 2's order (kernel
offsets then channels for channels_last; channels then offsets for channels_first), and
contracted with the per-position kernels in one einsum.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from kspec.compiler.activations import activation
from kspec.compiler.deferred import jax, jnp, np
from kspec.compiler.initializers import initialize
from kspec.compiler.layers.spatial import output_length, per_axis, split_shape
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    drop_mask,
    expect_inputs,
    expect_rank,
    format_shape,
    regularized,
)
from kspec.errors import ShapeError
from kspec.schemas.layers import locally_connected as s


def _geometry(
    spec: s.LocallyConnected, spatial: Shape
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(kernel_size, strides, output spatial sizes) for known input sizes."""
    kernel = per_axis(spec.kernel_size, spec.rank)
    strides = per_axis(spec.strides, spec.rank)
    out = tuple(
        output_length(n, k, st, "valid") for n, k, st in zip(spatial, kernel, strides, strict=True)
    )
    return kernel, strides, out  # type: ignore[return-value]


def _shape(spec: s.LocallyConnected, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    name = type(spec).__name__
    expect_inputs(spec, shapes, 1)
    expect_rank(spec, shapes[0], spec.rank + 2, exactly=True)
    spatial, channels = split_shape(shapes[0], spec.data_format)
    if None in spatial or channels is None:
        raise ShapeError(
            f"{name} has weights per position and needs known spatial and channel sizes. "
            f"Received: shape={format_shape(shapes[0])}"
        )
    kernel, _, out = _geometry(spec, spatial)
    if any(o <= 0 for o in out):
        raise ShapeError(
            f"{name}: kernel_size {kernel} is larger than the input. "
            f"Received: shape={format_shape(shapes[0])}"
        )
    if spec.data_format == "channels_first":
        return [(shapes[0][0], spec.filters, *out)]
    return [(shapes[0][0], *out, spec.filters)]


def _init(spec: s.LocallyConnected, key: Array, shapes: list[Shape]) -> LayerWeights:
    spatial, channels = split_shape(shapes[0], spec.data_format)
    kernel, _, out = _geometry(spec, spatial)
    kernel_key, bias_key = jax.random.split(key)
    shape = (math.prod(out), math.prod(kernel) * channels, spec.filters)  # type: ignore[operator]
    params = {"kernel": initialize(spec.kernel_initializer, kernel_key, shape)}
    if spec.use_bias:
        params["bias"] = initialize(spec.bias_initializer, bias_key, (*out, spec.filters))
    return LayerWeights(params)


def _patch_indices(
    kernel: tuple[int, ...], strides: tuple[int, ...], out: tuple[int, ...]
) -> tuple[np.ndarray, ...]:
    """Per spatial axis, the input index of (output position, kernel offset), both row-major:
    arrays of shape (positions, kernel_area). Computed once at trace time."""
    positions = np.array(list(itertools.product(*(range(o) for o in out)))).reshape(-1, len(out))
    offsets = np.array(list(itertools.product(*(range(k) for k in kernel)))).reshape(-1, len(out))
    return tuple(
        positions[:, None, d] * strides[d] + offsets[None, :, d] for d in range(len(kernel))
    )


def _apply(
    spec: s.LocallyConnected, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y[p] = activation(patch(p).flatten() @ kernel[p] + bias[p])"""
    (x,) = inputs
    first = spec.data_format == "channels_first"
    spatial = x.shape[2:] if first else x.shape[1:-1]
    kernel, strides, out = _geometry(spec, spatial)
    index = _patch_indices(kernel, strides, out)
    if first:  # (B, C, P, A) -> (B, P, C, A): Keras 2 flattens channels before offsets
        patches = jnp.moveaxis(x[(slice(None), slice(None), *index)], 1, 2)
    else:  # (B, P, A, C)
        patches = x[(slice(None), *index)]
    patches = patches.reshape(x.shape[0], patches.shape[1], -1)
    y = jnp.einsum("bpk,pkf->bpf", patches, params["kernel"])
    y = y.reshape(x.shape[0], *out, spec.filters)
    if first:
        y = jnp.moveaxis(y, -1, 1)
    if spec.use_bias:
        # Keras 2's bias_add *reshapes* (not transposes) the (*out, filters) bias to
        # (filters, *out) for channels_first; imported weights only mean that.
        bias = params["bias"]
        y = y + (bias.reshape(1, spec.filters, *out) if first else bias[None])
    return [activation(spec.activation)(y)]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(
        c,
        _shape,
        _apply,
        _init,
        compute_mask=drop_mask,
        governs=regularized(kernel="kernel", bias="bias"),
    )
    for c in (s.LocallyConnected1D, s.LocallyConnected2D)
]
