"""Embedding: integer ids -> dense vectors. Fields, names and defaults are Keras 3's."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt, model_validator

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import (
    ActivityRegularizer,
    Constraint,
    Initializer,
    LoraAlpha,
    LoraRank,
    Regularizer,
    reject_lora_with_constraint,
)


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
    activity_regularizer: ActivityRegularizer = None
    embeddings_constraint: Constraint | None = None
    mask_zero: bool = Field(
        False, description="Treat id 0 as padding: the output is masked where the id is 0."
    )
    input_length: PositiveInt | None = Field(
        None,
        description="Keras 2: length of the id sequences; checked against the input shape.",
    )
    lora_rank: LoraRank = None
    lora_alpha: LoraAlpha = None

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
        reject_lora_with_constraint(
            self.lora_rank, self.embeddings_constraint, "embedding", "embeddings_constraint"
        )
        return self
