"""Convolution layers: Conv1D/2D/3D, SeparableConv1D/2D, DepthwiseConv1D/2D and
Conv1DTranspose/2DTranspose/3DTranspose. Fields, names and defaults are Keras 3's; one base
class per kind, parametrised by the class-level `rank`."""

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
    LoraAlpha,
    LoraRank,
    Regularizer,
    reject_lora_with_constraint,
)
from kspec.schemas.layers.spatial_fields import (
    SpatialInt,
    SpatialNonNegInt,
    as_tuple,
    check_per_axis,
)

_KERAS1 = {
    "nb_filter": "filters",
    "filter_length": "kernel_size",
    "subsample": "strides",
    "subsample_length": "strides",
    "border_mode": "padding",
    "atrous_rate": "dilation_rate",
    "dim_ordering": DIM_ORDERING,
    "bias": "use_bias",
    "b_regularizer": "bias_regularizer",
    "b_constraint": "bias_constraint",
}
_KERAS1_KERNEL = {
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "W_constraint": "kernel_constraint",
}
_KERAS1_DEPTHWISE = {"init": "depthwise_initializer"}
_MERGES = {
    1: {},
    2: {"kernel_size": ("nb_row", "nb_col")},
    3: {"kernel_size": ("kernel_dim1", "kernel_dim2", "kernel_dim3")},
}


class Convolution(LayerSpec):
    """Parameters every convolution has."""

    rank: ClassVar[int]

    kernel_size: SpatialInt = Field(
        description="Window size: one int for every spatial axis, or one per axis."
    )
    strides: SpatialInt = Field(1, description="Step of the window along each spatial axis.")
    padding: Literal["valid", "same", "causal"] = Field(
        "valid",
        description="`valid`: no padding; `same`: pad so that output = ceil(input / strides) "
        "(the odd element at the end); `causal` (Conv1D only): pad the start by "
        "`dilation_rate * (kernel_size - 1)`.",
    )
    data_format: DataFormatField = None
    dilation_rate: SpatialInt = Field(
        1, description="Spacing between kernel taps (atrous convolution)."
    )
    activation: ActivationFunction = None
    use_bias: bool = Field(True, description="Whether to add a learned bias vector.")
    bias_initializer: Initializer = Field("zeros", validate_default=True)
    bias_regularizer: Regularizer | None = None
    activity_regularizer: ActivityRegularizer = None
    bias_constraint: Constraint | None = None

    @model_validator(mode="after")
    def _check_spatial(self) -> Convolution:
        for name in ("kernel_size", "strides", "dilation_rate", "output_padding"):
            check_per_axis(name, getattr(self, name, None), self.rank)
        strides = as_tuple(self.strides, self.rank)
        dilation = as_tuple(self.dilation_rate, self.rank)
        if max(strides) > 1 and max(dilation) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        if self.padding == "causal" and type(self).__name__ != "Conv1D":
            raise ValueError(
                f"padding='causal' is only supported by Conv1D. Received: padding=causal "
                f"for {type(self).__name__}; use `valid` or `same`"
            )
        return self


class _Filters(LayerSpec):
    filters: PositiveInt = Field(description="Number of output channels.")


class _KernelWeights(Convolution):
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    kernel_regularizer: Regularizer | None = None
    kernel_constraint: Constraint | None = None


class Conv(_KernelWeights, _Filters):
    """`y = activation(conv(x, kernel) + bias)`; kernel `(*kernel_size, in / groups, filters)`."""

    keras1_aliases: ClassVar[dict[str, Alias]] = {**_KERAS1, **_KERAS1_KERNEL}

    groups: PositiveInt = Field(
        1,
        description="Split input and output channels into this many groups, convolved "
        "separately; `filters` and the input channels must be divisible by it.",
    )
    lora_rank: LoraRank = None
    lora_alpha: LoraAlpha = None

    @model_validator(mode="after")
    def _check_groups(self) -> Conv:
        if self.filters % self.groups:
            raise ValueError(
                "The number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={self.groups}, filters={self.filters}"
            )
        reject_lora_with_constraint(
            self.lora_rank, self.kernel_constraint, "kernel", "kernel_constraint"
        )
        return self


class ConvTranspose(_KernelWeights, _Filters):
    """Gradient of a convolution: `(n - 1) * strides + kernel` long ("valid");
    kernel `(*kernel_size, filters, in)`."""

    # Keras 1 Deconvolution2D required the full `output_shape`; kspec infers it.
    keras1_aliases: ClassVar[dict[str, Alias]] = {
        **_KERAS1, **_KERAS1_KERNEL, "output_shape": (None, lambda value: None),
    }  # fmt: skip

    output_padding: SpatialNonNegInt | None = Field(
        None,
        description="Extra length added at the end of each spatial axis, less than "
        "`strides`; `null`: inferred (Keras rule).",
    )

    @model_validator(mode="after")
    def _check_output_padding(self) -> ConvTranspose:
        if self.output_padding is None:
            return self
        pads = as_tuple(self.output_padding, self.rank)
        for i, (op, s) in enumerate(zip(pads, as_tuple(self.strides, self.rank), strict=True)):
            if op >= s:
                raise ValueError(
                    "`output_padding` must be strictly less than `strides` for all "
                    f"dimensions. At dimension {i}, `output_padding` is {op} but `strides` "
                    f"is {s}. Received: output_padding={self.output_padding}, "
                    f"strides={self.strides}"
                )
        return self


class DepthwiseOrSeparable(Convolution):
    keras1_aliases: ClassVar[dict[str, Alias]] = {**_KERAS1, **_KERAS1_DEPTHWISE}

    depth_multiplier: PositiveInt = Field(
        1, description="Output channels per input channel of the depthwise step."
    )
    depthwise_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    depthwise_regularizer: Regularizer | None = None
    depthwise_constraint: Constraint | None = None


class DepthwiseConv(DepthwiseOrSeparable):
    """Each input channel convolved with its own `depth_multiplier` filters; output channel
    `c * depth_multiplier + m`; depthwise_kernel `(*kernel_size, in, depth_multiplier)`."""

    keras1_aliases: ClassVar[dict[str, Alias]] = {
        old: new for old, new in DepthwiseOrSeparable.keras1_aliases.items() if old != "nb_filter"
    }  # it has no `filters` (and Keras 1 had no depthwise layer to name them)


class SeparableConv(DepthwiseOrSeparable, _Filters):
    """A depthwise convolution, then a pointwise (1x1) one mixing channels into `filters`;
    pointwise_kernel `(1, ..., in * depth_multiplier, filters)`."""

    pointwise_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    pointwise_regularizer: Regularizer | None = None
    pointwise_constraint: Constraint | None = None


class Conv1D(Conv):
    """1D `y = activation(conv(x, kernel) + bias)`."""

    rank: ClassVar[int] = 1
    type: Literal["Conv1D"] = "Conv1D"


class Conv2D(Conv):
    """2D `y = activation(conv(x, kernel) + bias)`."""

    rank: ClassVar[int] = 2
    keras1_merges: ClassVar[dict[str, tuple[str, ...]]] = _MERGES[2]
    type: Literal["Conv2D"] = "Conv2D"


class Conv3D(Conv):
    """3D `y = activation(conv(x, kernel) + bias)`."""

    rank: ClassVar[int] = 3
    keras1_merges: ClassVar[dict[str, tuple[str, ...]]] = _MERGES[3]
    type: Literal["Conv3D"] = "Conv3D"


class SeparableConv1D(SeparableConv):
    """1D depthwise then pointwise convolution."""

    rank: ClassVar[int] = 1
    type: Literal["SeparableConv1D"] = "SeparableConv1D"


class SeparableConv2D(SeparableConv):
    """2D depthwise then pointwise convolution."""

    rank: ClassVar[int] = 2
    keras1_merges: ClassVar[dict[str, tuple[str, ...]]] = _MERGES[2]
    type: Literal["SeparableConv2D"] = "SeparableConv2D"


class DepthwiseConv1D(DepthwiseConv):
    """1D depthwise convolution."""

    rank: ClassVar[int] = 1
    type: Literal["DepthwiseConv1D"] = "DepthwiseConv1D"


class DepthwiseConv2D(DepthwiseConv):
    """2D depthwise convolution."""

    rank: ClassVar[int] = 2
    keras1_merges: ClassVar[dict[str, tuple[str, ...]]] = _MERGES[2]
    type: Literal["DepthwiseConv2D"] = "DepthwiseConv2D"


class Conv1DTranspose(ConvTranspose):
    """1D transposed convolution (the gradient of a convolution)."""

    rank: ClassVar[int] = 1
    type: Literal["Conv1DTranspose"] = "Conv1DTranspose"


class Conv2DTranspose(ConvTranspose):
    """2D transposed convolution (the gradient of a convolution)."""

    rank: ClassVar[int] = 2
    keras1_merges: ClassVar[dict[str, tuple[str, ...]]] = _MERGES[2]
    type: Literal["Conv2DTranspose"] = "Conv2DTranspose"


class Conv3DTranspose(ConvTranspose):
    """3D transposed convolution (the gradient of a convolution)."""

    rank: ClassVar[int] = 3
    keras1_merges: ClassVar[dict[str, tuple[str, ...]]] = _MERGES[3]
    type: Literal["Conv3DTranspose"] = "Conv3DTranspose"
