"""Lowerings of the Keras 1 layers MaxoutDense and Highway (keras 1.2 `keras/layers/core.py`:
`MaxoutDense.call` = `K.max(K.dot(x, W) + b, axis=1)`; `Highway.call` = `act(x W + b) * t +
(1 - t) * x` with `t = sigmoid(x W_carry + b_carry)`)."""

from __future__ import annotations

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
    add_bias,
    expect_inputs,
    expect_rank,
    format_shape,
    regularized,
)
from kspec.errors import ShapeError
from kspec.schemas.layers import legacy as s


def _features(spec: s.MaxoutDense | s.Highway, shapes: list[Shape]) -> int:
    """The known feature count of the one rank-2 input of a Keras 1 dense-like layer."""
    layer = type(spec).__name__
    expect_inputs(spec, shapes, 1)
    expect_rank(spec, shapes[0], 2, exactly=True)
    features = shapes[0][-1]
    if features is None:
        raise ShapeError(
            f"{layer} needs a known last dimension. Received: shape={format_shape(shapes[0])}"
        )
    return features


# MaxoutDense ---------------------------------------------------------------------------------


def _maxout_shape(spec: s.MaxoutDense, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    _features(spec, shapes)
    return [(shapes[0][0], spec.units)]


def _maxout_init(spec: s.MaxoutDense, key: Array, shapes: list[Shape]) -> LayerWeights:
    shape = (spec.nb_feature, shapes[0][-1], spec.units)
    params = {"kernel": initialize(spec.kernel_initializer, key, shape)}
    if spec.use_bias:
        params["bias"] = jnp.zeros((spec.nb_feature, spec.units))
    return LayerWeights(params)


def _maxout_apply(
    spec: s.MaxoutDense, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = max_k (x @ kernel[k] + bias[k])"""
    pieces = jnp.einsum("bi,kio->bko", inputs[0], params["kernel"])
    if spec.use_bias:
        pieces = pieces + params["bias"][None]
    return [jnp.max(pieces, axis=1)]


# Highway -------------------------------------------------------------------------------------


def _highway_shape(spec: s.Highway, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    _features(spec, shapes)
    return [shapes[0]]


def _highway_init(spec: s.Highway, key: Array, shapes: list[Shape]) -> LayerWeights:
    size = shapes[0][-1]
    kernel_key, carry_key = jax.random.split(key)
    params = {
        "kernel": initialize(spec.kernel_initializer, kernel_key, (size, size)),
        "carry_kernel": initialize(spec.kernel_initializer, carry_key, (size, size)),
    }
    if spec.use_bias:
        params["bias"] = jnp.zeros((size,))
        params["carry_bias"] = jnp.full((size,), spec.transform_bias)
    return LayerWeights(params)


def _highway_apply(
    spec: s.Highway, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """t = sigmoid(x @ carry_kernel + carry_bias); y = t * act(x @ kernel + bias) + (1 - t) * x"""
    x = inputs[0]
    gate, value = x @ params["carry_kernel"], x @ params["kernel"]
    if spec.use_bias:
        gate, value = add_bias(gate, params["carry_bias"]), add_bias(value, params["bias"])
    t = jax.nn.sigmoid(gate)
    return [activation(spec.activation)(value) * t + (1.0 - t) * x]


LOWERINGS: list[Lowering[Any]] = [
    Lowering(
        s.MaxoutDense,
        _maxout_shape,
        _maxout_apply,
        _maxout_init,
        governs=regularized(kernel="kernel", bias="bias"),
    ),
    Lowering(
        s.Highway,
        _highway_shape,
        _highway_apply,
        _highway_init,
        mask="propagate",
        governs=regularized(kernel="kernel", bias="bias"),
    ),
]
