"""Embedding: integer ids -> dense vectors. Fields, names and defaults are Keras 3's."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import Constraint, Initializer, Regularizer


class Embedding(LayerSpec):
    """`y[..., :] = embeddings[ids[...]]`: `(batch, *ids) -> (batch, *ids, output_dim)`.

    Ids outside `[0, input_dim)` (negative ones included) give a zero vector (Keras on JAX
    gives NaN for ids >= input_dim and wraps negative ones). With `mask_zero`, id 0 is padding:
    the output carries a mask that recurrent layers and pooling honour.
    """

    type: Literal["Embedding"] = "Embedding"
    keras1_aliases: ClassVar[dict[str, Alias]] = {
        "init": "embeddings_initializer",
        "W_regularizer": "embeddings_regularizer",
        "W_constraint": "embeddings_constraint",
    }

    input_dim: PositiveInt = Field(
        description="Vocabulary size: ids run from 0 to input_dim - 1 (with `mask_zero`, "
        "0 is padding, so vocabulary + 1)."
    )
    output_dim: PositiveInt = Field(description="Size of each embedding vector.")
    embeddings_initializer: Initializer = Field("uniform", validate_default=True)
    embeddings_regularizer: Regularizer | None = None
    activity_regularizer: Regularizer | None = Field(
        None, description="Penalty on the layer's output, added to the training loss."
    )
    embeddings_constraint: Constraint | None = None
    mask_zero: bool = Field(
        False, description="Treat id 0 as padding: the output is masked where the id is 0."
    )
    input_length: PositiveInt | None = Field(
        None,
        description="Keras 2: length of the id sequences; checked against the input shape.",
    )
    lora_rank: PositiveInt | None = Field(
        None,
        description="Rank of a LoRA update: the embeddings are frozen and `lora_embeddings_a "
        "@ lora_embeddings_b * lora_alpha / lora_rank` is learned instead.",
    )
    lora_alpha: PositiveFloat | None = Field(
        None, description="LoRA scale numerator; default: `lora_rank` (scale 1)."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_embedding_dropout(cls, data: Any) -> Any:
        if isinstance(data, dict) and "dropout" in data:
            raise ValueError(
                "Embedding has no `dropout` since Keras 2: embedding dropout is now a separate "
                "layer; remove `dropout` and add `{type: Dropout, rate: ...}` (or "
                "SpatialDropout1D) after the Embedding"
            )
        return data

    @model_validator(mode="after")
    def _lora_without_constraint(self) -> Embedding:
        if self.lora_rank is not None and self.embeddings_constraint is not None:
            raise ValueError(
                "LoRA is incompatible with embedding constraints: drop `embeddings_constraint`"
            )
        return self


LAYERS: list[type[LayerSpec]] = [Embedding]
TYPE_ALIASES: dict[str, str] = {}
