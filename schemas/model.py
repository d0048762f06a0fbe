"""The whole-model schema: format version, inputs, layer nodes, outputs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from kspec.schemas.base import SpecModel
from kspec.schemas.fields import DType
from kspec.schemas.registry import AnyLayer
from kspec.schemas.training import CompileSpec

FORMAT_VERSION = 1


class InputSpec(SpecModel):
    """A model input: its shape without the batch axis (`null` = any length) and dtype."""

    shape: list[PositiveInt | None] = Field(description="Shape without the batch axis.")
    dtype: DType = Field("float32", description="Element type.")
    batch_size: PositiveInt | None = Field(
        None, description="Fixed batch size, for layers that need one (stateful RNNs)."
    )


class ModelSpec(SpecModel):
    """A model: named inputs, an ordered list of layer nodes, and the outputs."""

    kspec: Literal[1] = Field(description="Format version of the spec; write `kspec: 1`.")
    name: str = Field("model", description="Model name.", min_length=1)
    data_format: Literal["channels_last", "channels_first"] = Field(
        "channels_last", description="Default layout for layers with a `data_format`."
    )
    inputs: dict[str, InputSpec] = Field(
        min_length=1, description="Model inputs by name (or `input_shape` on the first layer)."
    )
    layers: list[AnyLayer] = Field(min_length=1, description="Layer nodes, in order.")
    outputs: list[str] | None = Field(
        None, description="Output node names (`node:1` for a second output); default: the last."
    )
    compile: CompileSpec | None = Field(
        None, description="Training recipe: optimizer, loss, metrics (Keras `model.compile`)."
    )
