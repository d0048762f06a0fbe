"""Locally connected layers (Keras 2 semantics; Keras 3 dropped them): LocallyConnected1D/2D.

Like a convolution with `padding: valid`, but every output position has its own weights:
kernel `(output_positions, kernel_area * in_channels, filters)` and bias
`(*output_spatial, filters)`, the weight layout of Keras 2's `implementation=1`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveInt, model_validator

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import (
    DIM_ORDERING,
    ActivationFunction,
    ActivityRegularizer,
    Constraint,
    DataFormatField,
    Initializer,
    Regularizer,
)
from kspec.schemas.layers.spatial_fields import SpatialInt, check_per_axis

_WEIGHT_ALIASES: dict[str, Alias] = {
    "nb_filter": "filters",
    "border_mode": "padding",
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
}


class LocallyConnected(LayerSpec):
    """Shared fields of LocallyConnected1D/2D (Keras 2 names and defaults)."""

    rank: ClassVar[int]

    filters: PositiveInt = Field(description="Number of output channels.")
    kernel_size: SpatialInt = Field(description="Window size: int, or one per spatial axis.")
    strides: SpatialInt = Field(1, description="Step between windows: int, or one per axis.")
    padding: Literal["valid"] = Field(
        "valid", description="Only `valid`, as Keras 2's `implementation=1`."
    )
    data_format: DataFormatField = None
    activation: ActivationFunction = None
    use_bias: bool = Field(True, description="Whether to add a learned bias per position.")
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    bias_initializer: Initializer = Field("zeros", validate_default=True)
    kernel_regularizer: Regularizer | None = None
    bias_regularizer: Regularizer | None = None
    activity_regularizer: ActivityRegularizer = None
    kernel_constraint: Constraint | None = None
    bias_constraint: Constraint | None = None
    implementation: Literal[1] = Field(
        1,
        description="Keras 2 implementation mode; only 1 (its weight layout: kernel "
        "`(positions, kernel_area * in, filters)`) is supported.",
    )

    @model_validator(mode="after")
    def _check_per_axis(self) -> LocallyConnected:
        check_per_axis("kernel_size", self.kernel_size, self.rank)
        check_per_axis("strides", self.strides, self.rank)
        return self


class LocallyConnected1D(LocallyConnected):
    """`y[t] = activation(x[t*s : t*s + k].flatten() @ kernel[t] + bias[t])`: unshared
    weights per output step."""

    type: Literal["LocallyConnected1D"] = "LocallyConnected1D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {
        **_WEIGHT_ALIASES,
        "filter_length": "kernel_size",
        "subsample_length": "strides",
    }
    rank: ClassVar[int] = 1


class LocallyConnected2D(LocallyConnected):
    """`y[i, j] = activation(patch(i, j).flatten() @ kernel[i * out_w + j] + bias[i, j])`:
    unshared weights per output position."""

    type: Literal["LocallyConnected2D"] = "LocallyConnected2D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {
        **_WEIGHT_ALIASES,
        "subsample": "strides",
        "dim_ordering": DIM_ORDERING,
    }
    rank: ClassVar[int] = 2
