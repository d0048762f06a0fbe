"""Attention layers: MultiHeadAttention, GroupQueryAttention, Attention, AdditiveAttention,
and EinsumDense (the projection they are built from). Fields, names and defaults are Keras 3's;
Keras' call options (`use_causal_mask`, `return_attention_scores`) are fields, because a spec
node is one call."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from kspec.schemas.base import LayerSpec
from kspec.schemas.fields import (
    ActivationFunction,
    ActivityRegularizer,
    Constraint,
    Initializer,
    Regularizer,
)

_QKV = ("query", "value", "key", "attention_mask")

Rate = Field(0.0, ge=0.0, lt=1.0, description="Dropout rate on the attention probabilities.")
Seed = Field(None, description="Folded into the per-node dropout rng.")
CausalMask = Field(
    False,
    description="Let query position i attend to key positions <= i only (a decoder's "
    "self-attention); combined with every other mask.",
)
ReturnScores = Field(
    False,
    description="Also return the attention probabilities as output 1 (`inputs: [node:1]`); "
    "this selects the einsum lowering.",
)


class _Projected(LayerSpec):
    """Fields of attention layers built from EinsumDense projections (Keras'
    `_get_common_kwargs_for_sublayer`): one initializer, regularizer and constraint for all
    kernels, one for all biases."""

    call_arguments: ClassVar[tuple[str, ...]] = _QKV
    required_call_arguments: ClassVar[int] = 2

    dropout: float = Rate
    use_bias: bool = Field(True, description="Whether the projections have biases.")
    use_gate: bool = Field(
        False,
        description="Gated attention: a sigmoid projection `gate` of the query multiplies the "
        "heads before the output projection (weights `gate/kernel`, `gate/bias`).",
    )
    sliding_window: int | None = Field(
        None,
        description="Query position i attends to key positions j with |i - j| < "
        "sliding_window only (a band); with `use_causal_mask` the causal sliding window.",
    )
    flash_attention: bool | None = Field(
        None,
        description="The lowering: `true` the fused `jax.nn.dot_product_attention` (refused "
        "where it cannot apply), `false` the einsum path, `null` chosen as Keras does.",
    )
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    bias_initializer: Initializer = Field("zeros", validate_default=True)
    kernel_regularizer: Regularizer | None = Field(None, description="On every kernel.")
    bias_regularizer: Regularizer | None = Field(None, description="On every bias.")
    activity_regularizer: ActivityRegularizer = None
    kernel_constraint: Constraint | None = Field(None, description="On every kernel.")
    bias_constraint: Constraint | None = Field(None, description="On every bias.")
    seed: int | None = Seed
    use_causal_mask: bool = CausalMask
    return_attention_scores: bool = ReturnScores

    @field_validator("sliding_window")
    @classmethod
    def _positive_window(cls, window: int | None) -> int | None:
        if window is not None and window <= 0:
            raise ValueError(
                "`sliding_window` must be `None` or a positive integer. "
                f"Received: sliding_window={window}"
            )
        return window

    @model_validator(mode="after")
    def _flash_allows(self) -> _Projected:
        """Keras' refusals: the fused kernel has no attention dropout and returns no scores."""
        if self.flash_attention and self.dropout > 0.0:
            raise ValueError(
                "Dropout is not supported when flash attention is enabled. "
                "Please set dropout to 0.0 to use flash attention."
            )
        if self.flash_attention and self.return_attention_scores:
            raise ValueError(
                "Returning attention scores is not supported when flash attention is enabled. "
                "Please disable flash attention to access attention scores."
            )
        return self


class MultiHeadAttention(_Projected):
    """`softmax(q k^T / sqrt(key_dim)) v` per head, `q, k, v` projected from query, key
    (default: value) and value; heads concatenated and projected back to the query's size.
    Inputs `[query, value]`, `[query, value, key]` or a mapping with `attention_mask`."""

    type: Literal["MultiHeadAttention"] = "MultiHeadAttention"
    num_heads: PositiveInt = Field(description="Number of attention heads.")
    key_dim: PositiveInt = Field(description="Size of each head for query and key.")
    value_dim: PositiveInt | None = Field(
        None, description="Size of each head for value; default: `key_dim`."
    )
    output_shape: PositiveInt | list[PositiveInt] | None = Field(
        None, description="Output shape without batch and attention axes; default: the "
        "query's last dimension.",
    )  # fmt: skip
    attention_axes: int | list[int] | None = Field(
        None,
        description="Axes attention runs over (of the query, batch = 0); default: every axis "
        "between batch and features. `[1, 2]` on images is 2-D attention.",
    )

    @property
    def head_value_dim(self) -> int:
        return self.value_dim or self.key_dim

    @property
    def output_dims(self) -> tuple[int, ...] | None:
        shape = self.output_shape
        return None if shape is None else (shape,) if isinstance(shape, int) else tuple(shape)

    @property
    def axes(self) -> tuple[int, ...] | None:
        axes = self.attention_axes
        return None if axes is None else (axes,) if isinstance(axes, int) else tuple(axes)


class GroupQueryAttention(_Projected):
    """Grouped-query attention: `num_query_heads` query heads share `num_key_value_heads`
    key/value heads (each key/value head serves `num_query_heads / num_key_value_heads`)."""

    type: Literal["GroupQueryAttention"] = "GroupQueryAttention"
    head_dim: PositiveInt = Field(description="Size of each attention head.")
    num_query_heads: PositiveInt = Field(description="Number of query heads.")
    num_key_value_heads: PositiveInt = Field(description="Number of key and value heads.")

    @model_validator(mode="after")
    def _heads_divide(self) -> GroupQueryAttention:
        if self.num_query_heads % self.num_key_value_heads:
            raise ValueError(
                "`num_query_heads` must be divisible by `num_key_value_heads`. Received: "
                f"num_query_heads={self.num_query_heads}, "
                f"num_key_value_heads={self.num_key_value_heads}"
            )
        return self


class Attention(LayerSpec):
    """Luong (dot-product) attention: `softmax(scale * q k^T) v`; `score_mode: concat` scores
    `concat_score_weight * sum(tanh(scale * (q + k)))`. Inputs `[query, value]` or
    `[query, value, key]`; no projections."""

    type: Literal["Attention"] = "Attention"
    call_arguments: ClassVar[tuple[str, ...]] = _QKV[:3]
    required_call_arguments: ClassVar[int] = 2

    use_scale: bool = Field(False, description="Learn a scalar `scale` on the scores.")
    score_mode: Literal["dot", "concat"] = Field(
        "dot", description="`dot`: q k^T; `concat`: sum over features of tanh(q + k)."
    )
    dropout: float = Rate
    seed: int | None = Seed
    use_causal_mask: bool = CausalMask
    return_attention_scores: bool = ReturnScores


class AdditiveAttention(LayerSpec):
    """Bahdanau attention: scores `sum(scale * tanh(q + k))` over features, `scale` a learned
    vector; then `softmax(scores) v`."""

    type: Literal["AdditiveAttention"] = "AdditiveAttention"
    call_arguments: ClassVar[tuple[str, ...]] = _QKV[:3]
    required_call_arguments: ClassVar[int] = 2

    use_scale: bool = Field(True, description="Learn the per-feature `scale` vector.")
    dropout: float = Rate
    seed: int | None = Seed
    use_causal_mask: bool = CausalMask
    return_attention_scores: bool = ReturnScores


_EQUATION = re.compile(
    r"^(?:[a-zA-Z]+,[a-zA-Z]+->[a-zA-Z]+|\.\.\.[a-zA-Z]+,[a-zA-Z]+->\.\.\.[a-zA-Z]+"
    r"|[a-zA-Z]{2,}\.\.\.,[a-zA-Z]+->[a-zA-Z]+\.\.\.)$"
)


class EinsumDense(LayerSpec):
    """`y = activation(einsum(equation, x, kernel) + bias)`: a dense layer over any axes; the
    kernel's shape follows from the equation, the input shape and `output_shape`."""

    type: Literal["EinsumDense"] = "EinsumDense"
    equation: str = Field(
        description="`ab,bc->ac`, `...b,bc->...c` or `ab...,bc->ac...`: input, kernel, output."
    )
    output_shape: PositiveInt | list[PositiveInt | None] = Field(
        description="Output shape without the batch axis; `null` entries take the input's."
    )
    activation: ActivationFunction = None
    bias_axes: str | None = Field(
        None, description="Output letters the bias runs over (e.g. `c`); default: no bias."
    )
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    bias_initializer: Initializer = Field("zeros", validate_default=True)
    kernel_regularizer: Regularizer | None = None
    bias_regularizer: Regularizer | None = None
    activity_regularizer: ActivityRegularizer = None
    kernel_constraint: Constraint | None = None
    bias_constraint: Constraint | None = None

    @field_validator("equation")
    @classmethod
    def _supported_equation(cls, equation: str) -> str:
        if not _EQUATION.match(equation):
            raise ValueError(
                f"Invalid einsum equation '{equation}'. Equations must be in the form "
                "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]..."
            )
        return equation

    @model_validator(mode="after")
    def _bias_in_output(self) -> EinsumDense:
        output = self.equation.split("->")[1]
        for char in self.bias_axes or "":
            if char not in output:
                raise ValueError(
                    f"Bias dimension '{char}' was requested, but is not part of the output "
                    f"spec '{output.replace('...', '')}'"
                )
        return self

    @property
    def output_dims(self) -> list[int | None]:
        shape = self.output_shape
        return [shape] if isinstance(shape, int) else list(shape)
