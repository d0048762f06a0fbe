"""Spatial reshaping layers: Cropping1D/2D/3D, ZeroPadding1D/2D/3D, UpSampling1D/2D/3D.

Fields, names and defaults are Keras 3's. Cropping and padding amounts keep the form the user
wrote (`2`, `[1, 2]`, `[[1, 0], [2, 3]]`); `pairs()` expands them to `(before, after)` per axis.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, NonNegativeInt, PositiveInt, model_validator

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import DIM_ORDERING, DataFormatField
from kspec.schemas.layers.spatial_fields import (
    SpatialInt,
    as_tuple,
    check_per_axis,
)


def _lists(value: Any) -> Any:
    # Python callers write Keras-style (nested) tuples; strict mode would refuse them.
    if isinstance(value, (tuple, list)):
        return [_lists(v) for v in value]
    return value


Margins = Annotated[
    NonNegativeInt | list[NonNegativeInt | list[NonNegativeInt]], BeforeValidator(_lists)
]
"""An amount per side: one int, one per axis, or `[before, after]` per axis."""

_ORDINALS = ("1st", "2nd", "3rd")


class CroppingOrPadding(LayerSpec):
    """Shared rule of cropping and zero padding: `(before, after)` amounts per spatial axis."""

    rank: ClassVar[int]
    field: ClassVar[str]

    def pairs(self) -> tuple[tuple[int, int], ...]:
        """`((before, after), ...)`, one pair per spatial axis."""
        value = getattr(self, self.field)
        if self.rank == 1:
            return (as_tuple(value, 2),)  # type: ignore[return-value]
        if isinstance(value, int):
            return ((value, value),) * self.rank
        return tuple(as_tuple(v, 2) for v in value)  # type: ignore[misc]

    @model_validator(mode="after")
    def _check_form(self) -> CroppingOrPadding:
        name, value = self.field, getattr(self, self.field)
        if self.rank == 1:
            if isinstance(value, list) and (
                len(value) != 2 or any(isinstance(v, list) for v in value)
            ):
                raise ValueError(
                    f"`{name}` must be an int or a list of 2 ints (before, after). "
                    f"Received: {name}={value}"
                )
            return self
        if isinstance(value, list):
            if len(value) != self.rank:
                raise ValueError(
                    f"`{name}` must be an int, a list of {self.rank} ints (one per spatial "
                    f"axis) or a list of {self.rank} [before, after] pairs. "
                    f"Received: {name}={value}"
                )
            for ordinal, entry in zip(_ORDINALS, value, strict=False):
                if isinstance(entry, list) and (
                    len(entry) != 2 or any(isinstance(v, list) for v in entry)
                ):
                    raise ValueError(
                        f"the {ordinal} entry of `{name}` must be an int or a list of 2 ints. "
                        f"Received: {name}={value}"
                    )
        return self


_CROPPING = "How much to cut off each side: an int for every side, "
_PADDING = "How many zeros to add on each side: an int for every side, "


class Cropping1D(CroppingOrPadding):
    """`(batch, steps, features) -> (batch, steps - before - after, features)`."""

    type: Literal["Cropping1D"] = "Cropping1D"
    rank: ClassVar[int] = 1
    field: ClassVar[str] = "cropping"

    cropping: Margins = Field([1, 1], description=_CROPPING + "or `[before, after]`.")


class Cropping2D(CroppingOrPadding):
    """Cut rows and columns off the sides of an image: `x[:, t:h-b, l:w-r, :]`."""

    type: Literal["Cropping2D"] = "Cropping2D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"dim_ordering": DIM_ORDERING}
    rank: ClassVar[int] = 2
    field: ClassVar[str] = "cropping"

    cropping: Margins = Field(
        [[0, 0], [0, 0]],
        description=_CROPPING + "`[height, width]` (symmetric per axis), or "
        "`[[top, bottom], [left, right]]`.",
    )
    data_format: DataFormatField = None


class Cropping3D(CroppingOrPadding):
    """Cut the sides of a volume along its three spatial axes."""

    type: Literal["Cropping3D"] = "Cropping3D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"dim_ordering": DIM_ORDERING}
    rank: ClassVar[int] = 3
    field: ClassVar[str] = "cropping"

    cropping: Margins = Field(
        [[1, 1], [1, 1], [1, 1]],
        description=_CROPPING + "one int per axis (symmetric), or `[before, after]` per axis.",
    )
    data_format: DataFormatField = None


class ZeroPadding1D(CroppingOrPadding):
    """`(batch, steps, features) -> (batch, before + steps + after, features)`, zeros added."""

    type: Literal["ZeroPadding1D"] = "ZeroPadding1D"
    rank: ClassVar[int] = 1
    field: ClassVar[str] = "padding"

    padding: Margins = Field(1, description=_PADDING + "or `[before, after]`.")
    data_format: DataFormatField = None


class ZeroPadding2D(CroppingOrPadding):
    """Add rows and columns of zeros around an image."""

    type: Literal["ZeroPadding2D"] = "ZeroPadding2D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"dim_ordering": DIM_ORDERING}
    rank: ClassVar[int] = 2
    field: ClassVar[str] = "padding"

    padding: Margins = Field(
        [1, 1],
        description=_PADDING + "`[height, width]` (symmetric per axis), or "
        "`[[top, bottom], [left, right]]`.",
    )
    data_format: DataFormatField = None


class ZeroPadding3D(CroppingOrPadding):
    """Add zeros around a volume along its three spatial axes."""

    type: Literal["ZeroPadding3D"] = "ZeroPadding3D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"dim_ordering": DIM_ORDERING}
    rank: ClassVar[int] = 3
    field: ClassVar[str] = "padding"

    padding: Margins = Field(
        [[1, 1], [1, 1], [1, 1]],
        description=_PADDING + "one int per axis (symmetric), or `[before, after]` per axis.",
    )
    data_format: DataFormatField = None


class UpSampling1D(LayerSpec):
    """Repeat each step `size` times: `(batch, steps, f) -> (batch, steps * size, f)`."""

    type: Literal["UpSampling1D"] = "UpSampling1D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"length": "size"}
    rank: ClassVar[int] = 1

    size: PositiveInt = Field(2, description="Upsampling factor.")


class UpSampling2D(LayerSpec):
    """Resize an image by integer factors: `nearest` repeats rows and columns, the other
    methods interpolate (half-pixel centres, as Keras)."""

    type: Literal["UpSampling2D"] = "UpSampling2D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"dim_ordering": DIM_ORDERING}
    rank: ClassVar[int] = 2

    size: SpatialInt = Field([2, 2], description="Factor for rows and columns: int or [h, w].")
    data_format: DataFormatField = None
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"] = Field(
        "nearest", description="Resampling method."
    )

    @model_validator(mode="after")
    def _check_size(self) -> UpSampling2D:
        check_per_axis("size", self.size, 2)
        return self


class UpSampling3D(LayerSpec):
    """Repeat a volume's entries `size` times along each spatial axis."""

    type: Literal["UpSampling3D"] = "UpSampling3D"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"dim_ordering": DIM_ORDERING}
    rank: ClassVar[int] = 3

    size: SpatialInt = Field([2, 2, 2], description="Factor per spatial axis: int or [d, h, w].")
    data_format: DataFormatField = None

    @model_validator(mode="after")
    def _check_size(self) -> UpSampling3D:
        check_per_axis("size", self.size, 3)
        return self
