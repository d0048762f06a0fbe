"""Noise and regularisation layers: GaussianNoise, GaussianDropout, AlphaDropout,
SpatialDropout1D/2D/3D. Identity at inference; random in training (the rng of the apply call).
Fields, names and defaults are Keras 3's."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveInt

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import DIM_ORDERING, DataFormatField

_SEED = Field(None, description="Folded into the per-node rng.")
_RATE = Field(ge=0.0, lt=1.0, description="Fraction of the inputs to drop.")


class GaussianNoise(LayerSpec):
    """Training: `y = x + stddev * N(0, 1)`. Inference: identity."""

    type: Literal["GaussianNoise"] = "GaussianNoise"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"sigma": "stddev"}

    stddev: float = Field(ge=0.0, le=1.0, description="Standard deviation of the noise.")
    seed: int | None = _SEED


class GaussianDropout(LayerSpec):
    """Training: `y = x * N(1, rate / (1 - rate))`. Inference: identity."""

    type: Literal["GaussianDropout"] = "GaussianDropout"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"p": "rate"}

    rate: float = _RATE
    seed: int | None = _SEED


class AlphaDropout(LayerSpec):
    """Training: dropped entries become SELU's negative saturation `-alpha * scale`, then
    `y = a * x + b` keeps mean and variance (Klambauer et al. 2017). Inference: identity."""

    type: Literal["AlphaDropout"] = "AlphaDropout"

    rate: float = _RATE
    noise_shape: list[PositiveInt | None] | None = Field(
        None,
        description="Shape of the keep/drop mask, batch axis included, broadcast over the "
        "input; `null` entries take the input's size.",
    )
    seed: int | None = _SEED


class SpatialDropout(LayerSpec):
    """Training: whole channels (feature maps) are zeroed with probability `rate`, the rest
    scaled by 1/(1-rate). Inference: identity."""

    keras1_aliases: ClassVar[dict[str, Alias]] = {"p": "rate", "dim_ordering": DIM_ORDERING}
    rank: ClassVar[int]

    rate: float = _RATE
    seed: int | None = _SEED


class SpatialDropout1D(SpatialDropout):
    """Drops whole channels of `(batch, steps, channels)`."""

    type: Literal["SpatialDropout1D"] = "SpatialDropout1D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"p": "rate"}
    rank: ClassVar[int] = 1


class SpatialDropout2D(SpatialDropout):
    """Drops whole feature maps of 2D images."""

    type: Literal["SpatialDropout2D"] = "SpatialDropout2D"
    rank: ClassVar[int] = 2
    data_format: DataFormatField = None


class SpatialDropout3D(SpatialDropout):
    """Drops whole feature maps of 3D volumes."""

    type: Literal["SpatialDropout3D"] = "SpatialDropout3D"
    rank: ClassVar[int] = 3
    data_format: DataFormatField = None
