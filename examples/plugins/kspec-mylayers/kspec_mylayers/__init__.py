"""An example kspec layer plugin: `GatedLinearUnit`, `y = (x @ kernel + bias) * sigmoid(x @
gate_kernel + gate_bias)` (Dauphin et al. 2017), on the last axis.

A layer is a schema (what a spec may say, with defaults and descriptions) and a lowering (shape
rule, init, apply). kspec finds `LOWERINGS` through the `kspec.layers` entry point in
pyproject.toml once this package is installed; `type: GatedLinearUnit` is then valid in specs.
"""

from __future__ import annotations

from typing import Literal

import jax
from pydantic import Field, PositiveInt

from kspec.extend import (
    Array,
    BuildEnv,
    Initializer,
    LayerCall,
    LayerSpec,
    LayerWeights,
    Lowering,
    Regularizer,
    Shape,
    ShapeError,
    Weights,
    add_bias,
    expect_inputs,
    expect_rank,
    format_shape,
    initialize,
)


class GatedLinearUnit(LayerSpec):
    """`y = (x @ kernel + bias) * sigmoid(x @ gate_kernel + gate_bias)` on the last axis."""

    type: Literal["GatedLinearUnit"] = "GatedLinearUnit"
    units: PositiveInt = Field(description="Size of the output's last axis.")
    use_bias: bool = Field(True, description="Whether to add the biases.")
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    bias_initializer: Initializer = Field("zeros", validate_default=True)
    kernel_regularizer: Regularizer | None = None


def _shape(spec: GatedLinearUnit, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    (shape,) = shapes
    expect_rank(spec, shape, 2)
    if shape[-1] is None:
        raise ShapeError(
            f"GatedLinearUnit needs a known last dimension. Received: shape={format_shape(shape)}"
        )
    return [(*shape[:-1], spec.units)]


def _init(spec: GatedLinearUnit, key: Array, shapes: list[Shape]) -> LayerWeights:
    kernel_shape = (shapes[0][-1], spec.units)
    keys = jax.random.split(key, 4)
    params = {
        "kernel": initialize(spec.kernel_initializer, keys[0], kernel_shape),
        "gate_kernel": initialize(spec.kernel_initializer, keys[1], kernel_shape),
    }
    if spec.use_bias:
        params["bias"] = initialize(spec.bias_initializer, keys[2], (spec.units,))
        params["gate_bias"] = initialize(spec.bias_initializer, keys[3], (spec.units,))
    return LayerWeights(params, order=tuple(n for n in _ORDER if n in params))


_ORDER = ("kernel", "bias", "gate_kernel", "gate_bias")
"""Weight order in `get_weights`: each projection's kernel, then its bias."""


def _apply(
    spec: GatedLinearUnit, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    (x,) = inputs
    value, gate = x @ params["kernel"], x @ params["gate_kernel"]
    if spec.use_bias:
        value, gate = add_bias(value, params["bias"]), add_bias(gate, params["gate_bias"])
    return [value * jax.nn.sigmoid(gate)]


LOWERINGS: list[Lowering[GatedLinearUnit]] = [
    Lowering(GatedLinearUnit, _shape, _apply, _init, mask="propagate"),
]

__all__ = ["LOWERINGS", "GatedLinearUnit"]
