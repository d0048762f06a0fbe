"""Layers that `keras.applications` models define for themselves and save in their configs:
ConvNeXt's `LayerScale` and InceptionResNetV2's `CustomScaleLayer`. Built in (rather than a
plugin) because every saved ConvNeXt / InceptionResNetV2 holds them and they are data, not
code: Keras 3 `keras/src/applications/convnext.py` and `inception_resnet_v2.py`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from kspec.schemas.base import LayerSpec


class LayerScale(LayerSpec):
    """`y = x * gamma`, one learned `gamma` per channel (last axis), initialised to
    `init_values` (ConvNeXt's residual-branch scaling)."""

    type: Literal["LayerScale"] = "LayerScale"
    init_values: float = Field(description="Initial value of every gamma.")
    projection_dim: PositiveInt = Field(description="Number of channels (size of gamma).")


class CustomScaleLayer(LayerSpec):
    """`y = inputs[0] + inputs[1] * scale`: InceptionResNetV2's scaled residual sum."""

    type: Literal["CustomScaleLayer"] = "CustomScaleLayer"
    scale: float = Field(description="Factor on the second input (the residual branch).")
