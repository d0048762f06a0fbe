"""The whole-model schema: format version, inputs, layer nodes, outputs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, PrivateAttr

from kspec.schemas.base import SpecModel
from kspec.schemas.fields import DataFormat, DType
from kspec.schemas.layers import composition
from kspec.schemas.nodes import AnyLayer
from kspec.schemas.precision import ModelDTypePolicy
from kspec.schemas.training import CompileSpec

FORMAT_VERSION = 1


class InputSpec(SpecModel):
    """A model input: its shape without the batch axis (`null` = any length) and dtype."""

    shape: list[PositiveInt | None] = Field(description="Shape without the batch axis.")
    dtype: DType = Field("float32", description="Element type.")
    batch_size: PositiveInt | None = Field(
        None, description="Fixed batch size, for layers that need one (stateful RNNs)."
    )


class GraphSpec(SpecModel):
    """A model's graph: named inputs, an ordered list of layer nodes, and the outputs. A
    sub-model (`{type: Model, spec: ...}`) is one; a top-level spec adds the format version and
    its training recipe (`ModelSpec`)."""

    kspec: Literal[1] | None = Field(None, description="Format version of the spec.")
    name: str = Field("model", description="Model name.", min_length=1)
    data_format: DataFormat = Field(
        "channels_last", description="Default layout for layers with a `data_format`."
    )
    dtype_policy: ModelDTypePolicy = Field(
        "float32",
        description="Default dtype policy of the graph's layers (Keras "
        "`keras.config.set_dtype_policy`): `float32`, `bfloat16`, `float16`, `mixed_bfloat16` "
        "or `mixed_float16`; a layer's own `dtype:` overrides it.",
    )
    inputs: dict[str, InputSpec] = Field(
        min_length=1, description="Model inputs by name (or `input_shape` on the first layer)."
    )
    layers: list[AnyLayer] = Field(min_length=1, description="Layer nodes, in order.")
    outputs: list[str] | None = Field(
        None,
        min_length=1,
        description="Output node names (`node:1` for a second output); default: the last.",
    )
    _order: tuple[str, ...] = PrivateAttr(default=())

    @property
    def execution_order(self) -> tuple[str, ...]:
        """Node names so that each comes after its inputs (ties in spec order), decided once
        by the canonicalization pass (`schemas/canonicalize.py`)."""
        assert self._order, "not a canonical spec: validate it first"
        return self._order


class ModelSpec(GraphSpec):
    """A model file: the format version, the graph, and optionally its training recipe."""

    kspec: Literal[1] = Field(description="Format version of the spec; write `kspec: 1`.")
    compile: CompileSpec | None = Field(
        None, description="Training recipe: optimizer, loss, metrics (Keras `model.compile`)."
    )


# A sub-model holds a graph: `composition.Model`'s forward reference resolves now that
# `GraphSpec` exists (its schema is built here, which builds no layer schema).
composition.Model.model_rebuild(_types_namespace={"GraphSpec": GraphSpec})
