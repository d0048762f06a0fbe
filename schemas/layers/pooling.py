"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D, GlobalMaxPooling1D/2D/3D,
GlobalAveragePooling1D/2D/3D. Fields, names and defaults are Keras 3's; `rank` and `reduce`
tell the one shared lowering what to do."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import DIM_ORDERING, DataFormatField
from kspec.schemas.layers.spatial_fields import SpatialInt, check_per_axis

_KERAS1_1D: dict[str, Alias] = {
    "pool_length": "pool_size",
    "stride": "strides",
    "border_mode": "padding",
}
_KERAS1_ND: dict[str, Alias] = {"border_mode": "padding", "dim_ordering": DIM_ORDERING}

_POOL_SIZE = "Window size: an int for every spatial axis, or one per axis."


class Pooling(LayerSpec):
    """Shared fields of the windowed poolings."""

    rank: ClassVar[int]
    reduce: ClassVar[Literal["max", "average"]]

    pool_size: SpatialInt
    strides: SpatialInt | None = Field(
        None, description="Step between windows (int or one per axis); default: `pool_size`."
    )
    padding: Literal["valid", "same"] = Field(
        "valid",
        description="`valid`: windows inside the input only; `same`: pad so that "
        "`out = ceil(n / strides)` (averages count only real elements).",
    )
    data_format: DataFormatField = None

    @model_validator(mode="after")
    def _check_per_axis(self) -> Pooling:
        check_per_axis("pool_size", self.pool_size, self.rank)
        check_per_axis("strides", self.strides, self.rank)
        return self


class MaxPooling1D(Pooling):
    """`y[t] = max(x[t*s : t*s + pool_size])` over the steps axis."""

    type: Literal["MaxPooling1D"] = "MaxPooling1D"
    keras1_aliases: ClassVar[dict[str, Alias]] = _KERAS1_1D
    rank: ClassVar[int] = 1
    reduce: ClassVar[Literal["max", "average"]] = "max"
    pool_size: SpatialInt = Field(2, description=_POOL_SIZE)


class MaxPooling2D(Pooling):
    """Maximum over each `pool_size` window of an image."""

    type: Literal["MaxPooling2D"] = "MaxPooling2D"
    keras1_aliases: ClassVar[dict[str, Alias]] = _KERAS1_ND
    rank: ClassVar[int] = 2
    reduce: ClassVar[Literal["max", "average"]] = "max"
    pool_size: SpatialInt = Field([2, 2], description=_POOL_SIZE)


class MaxPooling3D(Pooling):
    """Maximum over each `pool_size` window of a volume."""

    type: Literal["MaxPooling3D"] = "MaxPooling3D"
    keras1_aliases: ClassVar[dict[str, Alias]] = _KERAS1_ND
    rank: ClassVar[int] = 3
    reduce: ClassVar[Literal["max", "average"]] = "max"
    pool_size: SpatialInt = Field([2, 2, 2], description=_POOL_SIZE)


class AveragePooling1D(Pooling):
    """`y[t] = mean(x[t*s : t*s + pool_size])` over the steps axis."""

    type: Literal["AveragePooling1D"] = "AveragePooling1D"
    keras1_aliases: ClassVar[dict[str, Alias]] = _KERAS1_1D
    rank: ClassVar[int] = 1
    reduce: ClassVar[Literal["max", "average"]] = "average"
    pool_size: SpatialInt = Field(description=_POOL_SIZE)


class AveragePooling2D(Pooling):
    """Mean over each `pool_size` window of an image."""

    type: Literal["AveragePooling2D"] = "AveragePooling2D"
    keras1_aliases: ClassVar[dict[str, Alias]] = _KERAS1_ND
    rank: ClassVar[int] = 2
    reduce: ClassVar[Literal["max", "average"]] = "average"
    pool_size: SpatialInt = Field(description=_POOL_SIZE)


class AveragePooling3D(Pooling):
    """Mean over each `pool_size` window of a volume."""

    type: Literal["AveragePooling3D"] = "AveragePooling3D"
    keras1_aliases: ClassVar[dict[str, Alias]] = _KERAS1_ND
    rank: ClassVar[int] = 3
    reduce: ClassVar[Literal["max", "average"]] = "average"
    pool_size: SpatialInt = Field(description=_POOL_SIZE)


class GlobalPooling(LayerSpec):
    """Shared fields of the global poolings."""

    rank: ClassVar[int]
    reduce: ClassVar[Literal["max", "average"]]

    data_format: DataFormatField = None
    keepdims: bool = Field(
        False, description="Keep the spatial axes (size 1) instead of dropping them."
    )


class GlobalMaxPooling1D(GlobalPooling):
    """`(batch, steps, features) -> (batch, features)`: maximum over the steps."""

    type: Literal["GlobalMaxPooling1D"] = "GlobalMaxPooling1D"
    rank: ClassVar[int] = 1
    reduce: ClassVar[Literal["max", "average"]] = "max"


class GlobalMaxPooling2D(GlobalPooling):
    """`(batch, h, w, c) -> (batch, c)`: maximum over the spatial axes."""

    type: Literal["GlobalMaxPooling2D"] = "GlobalMaxPooling2D"
    rank: ClassVar[int] = 2
    reduce: ClassVar[Literal["max", "average"]] = "max"


class GlobalMaxPooling3D(GlobalPooling):
    """`(batch, d, h, w, c) -> (batch, c)`: maximum over the spatial axes."""

    type: Literal["GlobalMaxPooling3D"] = "GlobalMaxPooling3D"
    rank: ClassVar[int] = 3
    reduce: ClassVar[Literal["max", "average"]] = "max"


class GlobalAveragePooling1D(GlobalPooling):
    """`(batch, steps, features) -> (batch, features)`: mean over the steps; with a mask,
    the mean over the unmasked steps only."""

    type: Literal["GlobalAveragePooling1D"] = "GlobalAveragePooling1D"
    rank: ClassVar[int] = 1
    reduce: ClassVar[Literal["max", "average"]] = "average"


class GlobalAveragePooling2D(GlobalPooling):
    """`(batch, h, w, c) -> (batch, c)`: mean over the spatial axes."""

    type: Literal["GlobalAveragePooling2D"] = "GlobalAveragePooling2D"
    rank: ClassVar[int] = 2
    reduce: ClassVar[Literal["max", "average"]] = "average"


class GlobalAveragePooling3D(GlobalPooling):
    """`(batch, d, h, w, c) -> (batch, c)`: mean over the spatial axes."""

    type: Literal["GlobalAveragePooling3D"] = "GlobalAveragePooling3D"
    rank: ClassVar[int] = 3
    reduce: ClassVar[Literal["max", "average"]] = "average"
