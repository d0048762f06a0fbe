"""Preprocessing layers models carry inside them: Rescaling, Normalization, Resizing,
CenterCrop, with Keras 3's fields and defaults and their inference semantics."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from kspec.schemas.base import LayerSpec
from kspec.schemas.fields import DataFormatField

Scalars = float | list[float]
Statistics = float | list[float] | list[list[float]] | list[list[list[float]]]
"""A mean or variance: a scalar, or values aligned to the kept axes from the right."""


class Rescaling(LayerSpec):
    """`y = x * scale + offset` (a list broadcasts over the last axis)."""

    type: Literal["Rescaling"] = "Rescaling"
    scale: Scalars = Field(description="Multiplier, e.g. `1/255`; one value or one per channel.")
    offset: Scalars = Field(0.0, description="Added after scaling.")


class Normalization(LayerSpec):
    """`y = (x - mean) / max(sqrt(variance), 1e-7)`; with `invert`,
    `y = mean + x * max(sqrt(variance), 1e-7)`. Without `mean`/`variance` they are the
    layer's state (`mean`, `variance`, `count`: Keras' adapted weights)."""

    type: Literal["Normalization"] = "Normalization"
    axis: int | list[int] | None = Field(
        -1, description="Axes with their own mean and variance; `null`: one for all."
    )
    mean: Statistics | None = Field(None, description="Given mean (else a weight).")
    variance: Statistics | None = Field(None, description="Given variance (else a weight).")
    invert: bool = Field(False, description="Undo the normalization instead.")

    @model_validator(mode="after")
    def _both_or_neither(self) -> Normalization:
        if (self.mean is None) != (self.variance is None):
            raise ValueError(
                "When setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={self.mean} and variance={self.variance}"
            )
        return self


class Resizing(LayerSpec):
    """Resize images to `(height, width)` (`jax.image.resize`, as Keras 3's JAX backend)."""

    type: Literal["Resizing"] = "Resizing"
    height: PositiveInt = Field(description="Output height.")
    width: PositiveInt = Field(description="Output width.")
    interpolation: Literal["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"] = Field(
        "bilinear", description="Interpolation method."
    )
    crop_to_aspect_ratio: Literal[False] = Field(
        False, description="Cropping to the aspect ratio first is not supported yet."
    )
    pad_to_aspect_ratio: Literal[False] = Field(
        False, description="Padding to the aspect ratio first is not supported yet."
    )
    fill_mode: Literal["constant"] = Field("constant", description="Unused without padding.")
    fill_value: float = Field(0.0, description="Unused without padding.")
    antialias: bool = Field(False, description="Antialias when downsampling.")
    data_format: DataFormatField = None


class CenterCrop(LayerSpec):
    """The central `(height, width)` window of each image (the input must be at least as
    large)."""

    type: Literal["CenterCrop"] = "CenterCrop"
    height: PositiveInt = Field(description="Output height.")
    width: PositiveInt = Field(description="Output width.")
    data_format: DataFormatField = None
