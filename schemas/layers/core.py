"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector, Lambda,
ActivityRegularization, Masking, Identity. Fields, names and defaults are Keras 3's."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import (
    Field,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.expressions import parse_expression
from kspec.schemas.fields import (
    ActivationFunction,
    ActivityRegularizer,
    Constraint,
    DataFormatField,
    Initializer,
    LoraAlpha,
    LoraRank,
    Regularizer,
    reject_lora_with_constraint,
)

_WEIGHT_ALIASES = {
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
}


class Dense(LayerSpec):
    """`y = activation(x @ kernel + bias)` on the last axis; any input rank >= 2."""

    type: Literal["Dense"] = "Dense"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"output_dim": "units", **_WEIGHT_ALIASES}

    units: PositiveInt = Field(description="Size of the output's last axis.")
    activation: ActivationFunction = None
    use_bias: bool = Field(True, description="Whether to add a learned bias vector.")
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    bias_initializer: Initializer = Field("zeros", validate_default=True)
    kernel_regularizer: Regularizer | None = None
    bias_regularizer: Regularizer | None = None
    activity_regularizer: ActivityRegularizer = None
    kernel_constraint: Constraint | None = None
    bias_constraint: Constraint | None = None
    lora_rank: LoraRank = None
    lora_alpha: LoraAlpha = None

    @model_validator(mode="after")
    def _lora_without_constraint(self) -> Dense:
        reject_lora_with_constraint(
            self.lora_rank, self.kernel_constraint, "kernel", "kernel_constraint"
        )
        return self


class Activation(LayerSpec):
    """`y = activation(x)`."""

    type: Literal["Activation"] = "Activation"
    activation: ActivationFunction = Field(description="Name of the activation function.")


class Dropout(LayerSpec):
    """Training: zero each element with probability `rate`, scale the rest by 1/(1-rate).
    Inference: identity."""

    type: Literal["Dropout"] = "Dropout"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"p": "rate"}

    rate: float = Field(ge=0.0, lt=1.0, description="Fraction of the inputs to drop.")
    noise_shape: list[PositiveInt | None] | None = Field(
        None,
        description="Shape of the keep/drop mask, batch axis included, broadcast over the "
        "input; `null` entries take the input's size (e.g. `[null, 1, null]` drops whole "
        "features across time).",
    )
    seed: int | None = Field(None, description="Folded into the per-node dropout rng.")


class Flatten(LayerSpec):
    """`(batch, d1, ..., dn) -> (batch, d1*...*dn)`; channels_first is moved last first."""

    type: Literal["Flatten"] = "Flatten"
    data_format: DataFormatField = None


class Reshape(LayerSpec):
    """`(batch, ...) -> (batch, *target_shape)`; one entry may be -1 (inferred)."""

    type: Literal["Reshape"] = "Reshape"
    target_shape: list[int] = Field(description="Output shape without the batch axis.")

    @field_validator("target_shape")
    @classmethod
    def _one_unknown(cls, shape: list[int]) -> list[int]:
        if any(d == 0 or d < -1 for d in shape):
            raise ValueError(f"sizes must be positive or -1. Received: target_shape={shape}")
        if shape.count(-1) > 1:
            raise ValueError(f"at most one size may be -1. Received: target_shape={shape}")
        return shape


class Permute(LayerSpec):
    """Reorder the non-batch axes: output axis i is input axis `dims[i]` (1-based)."""

    type: Literal["Permute"] = "Permute"
    dims: list[int] = Field(description="A permutation of 1..n over the non-batch axes.")

    @field_validator("dims")
    @classmethod
    def _is_permutation(cls, dims: list[int]) -> list[int]:
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"dims must be a permutation of 1..{len(dims)}. Received: dims={dims}")
        return dims


class RepeatVector(LayerSpec):
    """`(batch, features) -> (batch, n, features)`."""

    type: Literal["RepeatVector"] = "RepeatVector"
    n: PositiveInt = Field(description="How many times to repeat the input.")


class Lambda(LayerSpec):
    """`y = f(x)` for a safe `expression` over array functions, or a `function` the caller
    registered in Python (`kspec.load(spec, functions={...})`). A spec never runs code."""

    type: Literal["Lambda"] = "Lambda"

    arguments: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword values: names in the expression."
    )
    expression: str | None = Field(
        None,
        description="Array expression of `x` (or `x0`, `x1`, ... for several inputs), e.g. "
        "`x ** 2`; may assign local names on earlier lines.",
    )
    function: str | None = Field(
        None, description="Name of a Python function registered by the caller."
    )
    output_shape: list[PositiveInt | None] | None = Field(
        None, description="Output shape without batch axis; default: inferred by tracing."
    )

    @field_validator("expression")
    @classmethod
    def _safe_expression(cls, expression: str | None, info: ValidationInfo) -> str | None:
        if expression is not None:
            arguments = info.data.get("arguments", {})
            names = frozenset({"x", "inputs", *(f"x{i}" for i in range(16)), *arguments})
            parse_expression(expression, names)
        return expression

    @model_validator(mode="after")
    def _one_body(self) -> Lambda:
        if (self.expression is None) == (self.function is None):
            raise ValueError("give exactly one of `expression` and `function`")
        return self


class ActivityRegularization(LayerSpec):
    """Identity; adds `(l1 * sum|y| + l2 * sum y^2) / batch` to the training loss."""

    type: Literal["ActivityRegularization"] = "ActivityRegularization"
    l1: float = Field(0.0, ge=0.0, description="L1 factor.")
    l2: float = Field(0.0, ge=0.0, description="L2 factor.")


class Masking(LayerSpec):
    """`y = x * mask`; a timestep is masked when all its features equal `mask_value`.
    Produces the mask that later layers consume."""

    type: Literal["Masking"] = "Masking"
    mask_value: float = Field(0.0, description="The value that marks a padded timestep.")


class Identity(LayerSpec):
    """`y = x`; a mask on the input passes through (a placeholder, or a named tap point)."""

    type: Literal["Identity"] = "Identity"
