"""keras-hub building blocks: TransformerEncoder, TransformerDecoder, PositionEmbedding,
SinePositionEncoding, RotaryEmbedding, ReversibleEmbedding, and ClassToken (the learned token a
ViT prepends). Names, fields and defaults are keras-hub's (`keras_hub/src/layers/modeling/`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt

from kspec.schemas.base import LayerSpec
from kspec.schemas.fields import ActivationFunction, Initializer


class _Block(LayerSpec):
    """Fields shared by keras-hub's encoder and decoder blocks."""

    intermediate_dim: PositiveInt = Field(description="Hidden size of the feedforward network.")
    num_heads: PositiveInt = Field(
        description="Attention heads; each has size `hidden_dim // num_heads`."
    )
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout rate of attention and residual branches."
    )
    activation: ActivationFunction = Field("relu", description="Feedforward activation.")
    layer_norm_epsilon: PositiveFloat = Field(1e-5, description="Layer normalization epsilon.")
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    bias_initializer: Initializer = Field("zeros", validate_default=True)
    normalize_first: bool = Field(
        False, description="Pre-norm (normalize before each sublayer) instead of post-norm."
    )


class TransformerEncoder(_Block):
    """`x = norm(x + attention(x, x)); y = norm(x + dense(act(dense(x))))` (post-norm; with
    `normalize_first` the norms move inside the residual branches). Inputs `[inputs]`, or a
    mapping with `padding_mask` (batch, time) and `attention_mask` (batch, time, time); an
    input mask (Embedding `mask_zero`) is the padding mask by default."""

    type: Literal["TransformerEncoder"] = "TransformerEncoder"
    call_arguments: ClassVar[tuple[str, ...]] = ("inputs", "padding_mask", "attention_mask")
    required_call_arguments: ClassVar[int] = 1


class TransformerDecoder(_Block):
    """A TransformerEncoder with causal self-attention and, when `encoder_sequence` is given,
    a cross-attention block over it. Inputs `[decoder_sequence]`, `[decoder_sequence,
    encoder_sequence]` or a mapping that adds the padding and attention masks."""

    type: Literal["TransformerDecoder"] = "TransformerDecoder"
    call_arguments: ClassVar[tuple[str, ...]] = (
        "decoder_sequence",
        "encoder_sequence",
        "decoder_padding_mask",
        "decoder_attention_mask",
        "encoder_padding_mask",
        "encoder_attention_mask",
    )
    required_call_arguments: ClassVar[int] = 1
    use_causal_mask: bool = Field(
        True, description="Mask future positions in the self-attention (keras-hub's default)."
    )


class PositionEmbedding(LayerSpec):
    """`y = embeddings[:time]`, broadcast to the input's shape: a learned vector per position
    (add it to the token embeddings with `Add`)."""

    type: Literal["PositionEmbedding"] = "PositionEmbedding"
    sequence_length: PositiveInt = Field(description="The longest sequence it can embed.")
    initializer: Initializer = Field("glorot_uniform", validate_default=True)


class SinePositionEncoding(LayerSpec):
    """The fixed sinusoidal encoding of "Attention Is All You Need": `sin` on even features,
    `cos` on odd ones, broadcast to the input's shape."""

    type: Literal["SinePositionEncoding"] = "SinePositionEncoding"
    max_wavelength: PositiveFloat = Field(10000.0, description="The longest wavelength.")


class RotaryEmbedding(LayerSpec):
    """Rotary position embedding (RoPE): rotates feature pairs `(x1, x2)` (the two halves of
    the feature axis) by position-dependent angles."""

    type: Literal["RotaryEmbedding"] = "RotaryEmbedding"
    max_wavelength: PositiveFloat = Field(10000.0, description="The longest wavelength.")
    scaling_factor: PositiveFloat = Field(
        1.0, description="Divides the frequencies (linear position interpolation)."
    )
    sequence_axis: int = Field(1, description="The axis of positions.")
    feature_axis: int = Field(-1, description="The axis rotated; its size must be even.")


class ReversibleEmbedding(LayerSpec):
    """An Embedding that can also run in reverse, `logits = x @ embeddings^T`, for tied input
    and output embeddings: give the forward node `inputs: [ids]` and a node sharing it
    `inputs: {reverse: hidden}`."""

    type: Literal["ReversibleEmbedding"] = "ReversibleEmbedding"
    call_arguments: ClassVar[tuple[str, ...]] = ("inputs", "reverse")
    required_call_arguments: ClassVar[int] = 0

    input_dim: PositiveInt = Field(description="Vocabulary size.")
    output_dim: PositiveInt = Field(description="Size of each embedding vector.")
    tie_weights: bool = Field(
        True, description="Reverse with the embeddings' transpose; false: a separate matrix."
    )
    embeddings_initializer: Initializer = Field("uniform", validate_default=True)
    mask_zero: bool = Field(False, description="Treat id 0 as padding (forward only).")
    logit_soft_cap: PositiveFloat | None = Field(
        None, description="Reverse: `tanh(logits / cap) * cap`."
    )


class ClassToken(LayerSpec):
    """`(batch, time, dim) -> (batch, 1 + time, dim)`: prepends one learned token (a ViT's
    class token, as keras-hub's `ViTPatchingAndEmbedding` builds it)."""

    type: Literal["ClassToken"] = "ClassToken"
    initializer: Initializer = Field("random_normal", validate_default=True)
