"""Recurrent layers: SimpleRNN, LSTM, GRU, ConvLSTM2D. Fields, names and defaults are Keras 3's."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveInt, model_validator

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import (
    ActivationFunction,
    ActivityRegularizer,
    Constraint,
    DataFormatField,
    Initializer,
    Regularizer,
)
from kspec.schemas.layers.spatial_fields import (
    SpatialInt,
    as_tuple,
    check_per_axis,
)

_CONSUME_LESS = {"cpu": 0, "mem": 1, "gpu": 2}

_KERAS1: dict[str, Alias] = {
    "output_dim": "units",
    "init": "kernel_initializer",
    "inner_init": "recurrent_initializer",
    "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer",
    "b_regularizer": "bias_regularizer",
    "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout",
    "consume_less": ("implementation", _CONSUME_LESS.get),
}


class RecurrentOptions(LayerSpec):
    """Options every recurrent layer shares, ConvLSTM2D included (not a layer type itself)."""

    activation: ActivationFunction = Field(
        "tanh", description="Activation of the candidate state and output."
    )
    use_bias: bool = Field(True, description="Whether to add a learned bias vector.")
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    recurrent_initializer: Initializer = Field("orthogonal", validate_default=True)
    bias_initializer: Initializer = Field("zeros", validate_default=True)
    kernel_regularizer: Regularizer | None = None
    recurrent_regularizer: Regularizer | None = None
    bias_regularizer: Regularizer | None = None
    activity_regularizer: ActivityRegularizer = None
    kernel_constraint: Constraint | None = None
    recurrent_constraint: Constraint | None = None
    bias_constraint: Constraint | None = None
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Training only: dropout on the inputs (one mask for "
        "all timesteps)."
    )  # fmt: skip
    recurrent_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Training only: dropout on the recurrent state (one "
        "mask for all timesteps)."
    )  # fmt: skip
    seed: int | None = Field(None, description="Folded into the per-node dropout rng.")
    return_sequences: bool = Field(
        False, description="Return the output of every timestep, not only the last."
    )
    return_state: bool = Field(
        False, description="Also return the final states as extra outputs (`node:1`, ...)."
    )
    go_backwards: bool = Field(
        False, description="Read the sequence backwards (and return it in that order)."
    )
    stateful: bool = Field(
        False,
        description="Carry the final states into the next call (kept in the model's `state`; "
        "`model.reset_states()` zeroes them). Needs the input's `batch_size`.",
    )
    unroll: bool = Field(
        False, description="Unroll the time loop in Python (short, fixed lengths only)."
    )


class Recurrent(RecurrentOptions):
    """Fields of the dense-cell recurrent layers (not a layer type itself)."""

    keras1_aliases: ClassVar[dict[str, Alias]] = _KERAS1

    units: PositiveInt = Field(description="Size of the output and of each state.")
    implementation: Literal[0, 1, 2] = Field(
        2, description="Keras 2 matmul layout; accepted, no numerical effect in kspec."
    )


class SimpleRNN(Recurrent):
    """`h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`."""

    type: Literal["SimpleRNN"] = "SimpleRNN"


class LSTM(Recurrent):
    """Gates i, f, o = recurrent_activation(...), g = activation(...);
    `c_t = f * c_{t-1} + i * g`, `h_t = o * activation(c_t)`. Gate order i, f, c, o."""

    type: Literal["LSTM"] = "LSTM"
    keras1_aliases: ClassVar[dict[str, Alias]] = {
        **_KERAS1,
        "inner_activation": "recurrent_activation",
        "forget_bias_init": ("unit_forget_bias", lambda v: v in ("one", "ones")),
    }

    recurrent_activation: ActivationFunction = Field(
        "sigmoid", description="Activation of the gates."
    )
    unit_forget_bias: bool = Field(
        True, description="Initialise the forget gate's bias to 1 (Jozefowicz et al., 2015)."
    )
    use_cudnn: bool | Literal["auto"] = Field(
        "auto", description="Keras' cuDNN switch; accepted, no effect in kspec."
    )


class GRU(Recurrent):
    """Gates z, r = recurrent_activation(...); `h_t = z * h_{t-1} + (1 - z) * hh` where
    `hh = activation(x W_h + r * (h U_h + b_rec))` (reset_after) or
    `activation(x W_h + (r * h) U_h + b)`. Gate order z, r, h."""

    type: Literal["GRU"] = "GRU"
    keras1_aliases: ClassVar[dict[str, Alias]] = {
        **_KERAS1,
        "inner_activation": "recurrent_activation",
    }

    recurrent_activation: ActivationFunction = Field(
        "sigmoid", description="Activation of the update and reset gates."
    )
    reset_after: bool = Field(
        True,
        description="Apply the reset gate after the recurrent matmul (Keras 3, cuDNN; bias "
        "shape (2, 3*units)); false: before it (Keras 2.2; bias (3*units,)).",
    )
    use_cudnn: bool | Literal["auto"] = Field(
        "auto", description="Keras' cuDNN switch; accepted, no effect in kspec."
    )


class ConvLSTM2D(RecurrentOptions):
    """An LSTM whose input and recurrent transforms are 2D convolutions, over input
    `(batch, time, rows, cols, channels)` (channels_first: `(batch, time, channels, rows,
    cols)`). Gate order i, f, c, o; kernel `(kh, kw, channels, 4 * filters)`, recurrent kernel
    `(kh, kw, filters, 4 * filters)`. The input convolution uses `strides`, `padding` and
    `dilation_rate`; the recurrent one is always `same` with strides 1."""

    type: Literal["ConvLSTM2D"] = "ConvLSTM2D"
    rank: ClassVar[int] = 2

    filters: PositiveInt = Field(description="Number of output channels (of each state).")
    kernel_size: SpatialInt = Field(
        description="Window size: one int for both spatial axes, or one per axis."
    )
    strides: SpatialInt = Field(1, description="Step of the input convolution's window.")
    padding: Literal["valid", "same"] = Field(
        "valid", description="Padding of the input convolution (the recurrent one is `same`)."
    )
    data_format: DataFormatField = None
    dilation_rate: SpatialInt = Field(
        1, description="Spacing between the input convolution's kernel taps."
    )
    recurrent_activation: ActivationFunction = Field(
        "sigmoid", description="Activation of the gates."
    )
    unit_forget_bias: bool = Field(
        True, description="Initialise the forget gate's bias to 1 (Jozefowicz et al., 2015)."
    )

    @model_validator(mode="after")
    def _check_spatial(self) -> ConvLSTM2D:
        for name in ("kernel_size", "strides", "dilation_rate"):
            check_per_axis(name, getattr(self, name), self.rank)
        if max(as_tuple(self.strides, 2)) > 1 and max(as_tuple(self.dilation_rate, 2)) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        return self
