"""Lowering of EinsumDense (part of the attention family): the kernel and bias shapes follow
from the equation as in Keras 3's `keras/src/layers/core/einsum_dense.py`
(`_analyze_split_string`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kspec.compiler.activations import activation
from kspec.compiler.deferred import jax, jnp
from kspec.compiler.initializers import initialize
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    expect_inputs,
    format_shape,
    regularized,
)
from kspec.errors import ShapeError
from kspec.schemas.layers import attention as s


@dataclass(frozen=True)
class EinsumShapes:
    kernel: tuple[int, ...]
    bias: tuple[int, ...] | None
    output: Shape


def analyze(spec: s.EinsumDense, shape: Shape) -> EinsumShapes:
    """Kernel, bias and full output shape of `spec` on an input of `shape` (batch first)."""
    text = spec.equation.replace("...", "0")
    left = text.startswith("0")
    inputs, weights, outputs = re.split(r",|->", text.replace("0", ""))
    elided = len(shape) - len(inputs)
    if elided < 0 or ("0" not in text and elided != 0):
        rank = f"{'>= ' if '0' in text else ''}{len(inputs)}"
        raise ShapeError(
            f"EinsumDense equation '{spec.equation}' expects an input of rank {rank}. "
            f"Received: shape={format_shape(shape)}"
        )
    out: list[int | None] = [shape[0], *spec.output_dims]
    if elided > 0 and left:
        out[1:1] = shape[1:elided]
    elif elided > 0:
        out += shape[len(shape) - elided :]
    offset = elided if left else 0
    in_axis = {d: i + offset for i, d in enumerate(inputs)}
    out_axis = {d: i + offset for i, d in enumerate(outputs)}
    if len(out) != len(outputs) + elided:
        raise ShapeError(
            f"EinsumDense output_shape {spec.output_dims} does not fit the output spec "
            f"'{outputs}' of '{spec.equation}'"
        )
    for d in inputs:
        if d in out_axis:
            if out[out_axis[d]] is None:
                out[out_axis[d]] = shape[in_axis[d]]
            elif out[out_axis[d]] != shape[in_axis[d]]:
                raise ShapeError(
                    f"Input shape and output shape do not match at shared dimension '{d}'. "
                    f"Input shape is {shape[in_axis[d]]}, and output shape is {out[out_axis[d]]}."
                )
    for d in outputs:
        if d not in inputs and d not in weights:
            raise ShapeError(
                f"Dimension '{d}' was specified in the output '{outputs}' but has no "
                f"corresponding dim in the input spec '{inputs}' or weight spec '{weights}'"
            )
    kernel = []
    for d in weights:
        size = out[out_axis[d]] if d in out_axis else shape[in_axis[d]] if d in in_axis else -1
        if size == -1:
            raise ShapeError(
                f"Weight dimension '{d}' did not have a match in either the input spec "
                f"'{inputs}' or the output spec '{outputs}'"
            )
        if size is None:
            raise ShapeError(
                f"EinsumDense needs a known size for kernel dimension '{d}'. "
                f"Received: shape={format_shape(shape)}"
            )
        kernel.append(size)
    bias = None
    if spec.bias_axes:
        first = min(outputs.find(c) for c in spec.bias_axes)
        sizes = [out[out_axis[c]] if c in spec.bias_axes else 1 for c in outputs[first:]]
        bias = tuple(int(b) for b in sizes) + ((1,) * elided if not left else ())  # type: ignore[arg-type]
    return EinsumShapes(tuple(kernel), bias, tuple(out))


def _einsum_shape(spec: s.EinsumDense, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    return [analyze(spec, shapes[0]).output]


def _einsum_init(spec: s.EinsumDense, key: Array, shapes: list[Shape]) -> LayerWeights:
    layout = analyze(spec, shapes[0])
    kernel_key, bias_key = jax.random.split(key)
    params = {"kernel": initialize(spec.kernel_initializer, kernel_key, layout.kernel)}
    if layout.bias is not None:
        params["bias"] = initialize(spec.bias_initializer, bias_key, layout.bias)
    return LayerWeights(params=params)


def _einsum_apply(
    spec: s.EinsumDense, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = activation(einsum(equation, x, kernel) + bias)"""
    y = jnp.einsum(spec.equation, inputs[0], params["kernel"])
    if "bias" in params:
        bias = params["bias"]
        y = y + bias.reshape((1,) * (y.ndim - bias.ndim) + bias.shape)
    return [activation(spec.activation)(y)]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(
        s.EinsumDense,
        _einsum_shape,
        _einsum_apply,
        _einsum_init,
        governs=regularized(kernel="kernel", bias="bias"),
    ),
]
