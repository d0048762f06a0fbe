"""The EinsumDense projections of MultiHeadAttention, GroupQueryAttention and the keras-hub
blocks built from them: their kernel and bias shapes, weights and rules, in Keras' order
(Keras' `get_weights` follows the order the sublayers are built in)."""

from __future__ import annotations

from typing import Any

from kspec.compiler.deferred import jax
from kspec.compiler.initializers import initialize
from kspec.compiler.lowering import Array, Weights

Shapes = dict[str, tuple[tuple[int, ...], tuple[int, ...]]]
"""Sublayer name -> (kernel shape, bias shape), in Keras' build order."""


def projection_rules(*layers: str) -> dict[str, tuple[str, ...]]:
    """`governs` of layers made of EinsumDense sublayers (Keras passes one regularizer and
    constraint to all of them): `kernel_*` on every `<layer>/kernel`, `bias_*` on biases."""
    return {
        f"{part}_{kind}": tuple(f"{layer}/{part}" for layer in layers)
        for part in ("kernel", "bias")
        for kind in ("regularizer", "constraint")
    }


def gated(shapes: Shapes, gate: tuple[tuple[int, ...], tuple[int, ...]]) -> Shapes:
    """The projections with Keras' `gate` (kernel and bias shapes) after `key`: Keras builds
    it there, and `get_weights` follows build order."""
    names = list(shapes)
    at = names.index("key") + 1
    return {
        **{n: shapes[n] for n in names[:at]},
        "gate": gate,
        **{n: shapes[n] for n in names[at:]},
    }


def projection_weights(
    spec: Any,
    key: Array,
    shapes: Shapes,
    prefix: str = "",
    use_bias: bool | None = None,
) -> Weights:
    """`<prefix><sublayer>/kernel` (and `.../bias` with `use_bias`), in Keras' order, from the
    spec's `kernel_initializer` and `bias_initializer`."""
    params: Weights = {}
    with_bias = spec.use_bias if use_bias is None else use_bias
    for name, k in zip(shapes, jax.random.split(key, len(shapes)), strict=True):
        kernel_shape, bias_shape = shapes[name]
        kernel_key, bias_key = jax.random.split(k)
        kernel = initialize(spec.kernel_initializer, kernel_key, kernel_shape)
        params[f"{prefix}{name}/kernel"] = kernel
        if with_bias:
            bias = initialize(spec.bias_initializer, bias_key, bias_shape)
            params[f"{prefix}{name}/bias"] = bias
    return params


def head_shapes(
    query: int, value: int, key: int, heads: int, key_dim: int, value_dim: int, out: tuple
) -> Shapes:
    """Kernel and bias shapes of MultiHeadAttention's four projections, in Keras' order."""
    return {
        "query": ((query, heads, key_dim), (heads, key_dim)),
        "key": ((key, heads, key_dim), (heads, key_dim)),
        "value": ((value, heads, value_dim), (heads, value_dim)),
        "attention_output": ((heads, value_dim, *out), out),
    }
