"""Keras 1 layers that later Keras versions dropped: MaxoutDense and Highway (keras 1.2
`keras/layers/core.py`). Fields use Keras 2 names (Keras 1's are aliases); weights are named
Keras 3 style, in Keras 1.2's creation order."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveInt

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import (
    ActivationFunction,
    ActivityRegularizer,
    Constraint,
    Initializer,
    Regularizer,
)

_KERAS1: dict[str, Alias] = {
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
}


class _LegacyDense(LayerSpec):
    keras1_aliases: ClassVar[dict[str, Alias]] = _KERAS1

    use_bias: bool = Field(True, description="Whether to add learned biases.")
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    kernel_regularizer: Regularizer | None = None
    bias_regularizer: Regularizer | None = None
    activity_regularizer: ActivityRegularizer = None
    kernel_constraint: Constraint | None = None
    bias_constraint: Constraint | None = None


class MaxoutDense(_LegacyDense):
    """`y = max_k (x @ kernel[k] + bias[k])` over `nb_feature` linear pieces; kernel
    `(nb_feature, in, units)`, bias `(nb_feature, units)`; input `(batch, in)`."""

    type: Literal["MaxoutDense"] = "MaxoutDense"
    keras1_aliases: ClassVar[dict[str, Alias]] = {**_KERAS1, "output_dim": "units"}

    units: PositiveInt = Field(description="Size of the output.")
    nb_feature: PositiveInt = Field(4, description="Number of linear pieces maxed over.")


class Highway(_LegacyDense):
    """`t = sigmoid(x @ carry_kernel + carry_bias)`, `y = t * activation(x @ kernel + bias) +
    (1 - t) * x`; both kernels `(in, in)`; input `(batch, in)`."""

    type: Literal["Highway"] = "Highway"

    activation: ActivationFunction = None
    transform_bias: float = Field(
        -2.0, description="Initial value of `carry_bias` (the transform gate's bias)."
    )
