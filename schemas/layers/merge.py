"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, and the
Keras 1 `Merge` layer. Fields, names and defaults are Keras 3's."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from kspec.schemas.base import LayerSpec


class _ElementwiseMerge(LayerSpec):
    """Shared base of the element-wise merges: inputs broadcast as in Keras (shapes aligned on
    the right, batch axis excluded; an axis of size 1 stretches)."""


class Add(_ElementwiseMerge):
    """`y = x0 + x1 + ...`, broadcast."""

    type: Literal["Add"] = "Add"


class Subtract(_ElementwiseMerge):
    """`y = x0 - x1`: exactly two inputs, broadcast."""

    type: Literal["Subtract"] = "Subtract"


class Multiply(_ElementwiseMerge):
    """`y = x0 * x1 * ...`, broadcast; masked entries count as 1."""

    type: Literal["Multiply"] = "Multiply"


class Average(_ElementwiseMerge):
    """`y = (x0 + x1 + ...) / n`, broadcast."""

    type: Literal["Average"] = "Average"


class Maximum(_ElementwiseMerge):
    """`y = max(x0, x1, ...)` element-wise; masked entries are skipped."""

    type: Literal["Maximum"] = "Maximum"


class Minimum(_ElementwiseMerge):
    """`y = min(x0, x1, ...)` element-wise; masked entries are skipped."""

    type: Literal["Minimum"] = "Minimum"


class Concatenate(LayerSpec):
    """`y = concatenate([x0, x1, ...], axis)`; the other axes must agree."""

    type: Literal["Concatenate"] = "Concatenate"
    axis: int = Field(-1, description="Axis to join along (batch axis = 0; negative counts back).")

    @field_validator("axis")
    @classmethod
    def _not_batch(cls, axis: int) -> int:
        if axis == 0:
            raise ValueError("cannot concatenate along the batch axis. Received: axis=0")
        return axis


def _check_dot_axes(axes: int | list[int]) -> int | list[int]:
    if isinstance(axes, list) and len(axes) != 2:
        raise ValueError(f"axes must be an int or a pair of ints. Received: axes={axes}")
    if 0 in ([axes] if isinstance(axes, int) else axes):
        raise ValueError(f"cannot take a dot product over the batch axis. Received: axes={axes}")
    return axes


DotAxes = Annotated[int | list[int], AfterValidator(_check_dot_axes)]


class Dot(LayerSpec):
    """Batched dot product of two inputs over `axes` (Keras' `batch_dot`): the output axes are
    x0's remaining axes then x1's (batch excluded); a rank-1 result becomes `(batch, 1)`.
    With `normalize`, each input is L2-normalised along its axis first (cosine proximity)."""

    type: Literal["Dot"] = "Dot"
    axes: DotAxes = Field(
        description="Axis to reduce in both inputs, or `[axis_of_x0, axis_of_x1]`; negative "
        "axes count back from each input's last axis."
    )
    normalize: bool = Field(
        False, description="L2-normalise both inputs along the dot axes first (cosine)."
    )


class Merge(LayerSpec):
    """The Keras 1 `Merge` layer, lowered to its modern equivalent (deprecated): sum -> Add,
    mul -> Multiply, ave -> Average, max -> Maximum, concat -> Concatenate(concat_axis),
    dot -> Dot(dot_axes), cos -> Dot(dot_axes, normalize=True)."""

    type: Literal["Merge"] = "Merge"
    mode: Literal["sum", "mul", "concat", "ave", "cos", "dot", "max"] = Field(
        "sum", description="How to merge the inputs."
    )
    concat_axis: int = Field(-1, description="Axis for `mode: concat`.")
    dot_axes: DotAxes = Field(-1, description="Axes for `mode: dot` and `mode: cos`.")

    @classmethod
    def deprecation(cls, item: dict[str, object]) -> str:
        """The warning text for a node of this type (read by the validator, with location)."""
        mode = item.get("mode", "sum")
        modern = MODERN.get(str(mode), "Add")
        return f"`Merge` is the Keras 1 merge layer; use `{modern}` instead (mode {mode})"


MODERN = {
    "sum": "Add",
    "mul": "Multiply",
    "ave": "Average",
    "max": "Maximum",
    "concat": "Concatenate",
    "dot": "Dot",
    "cos": "Dot",
}
"""The modern layer type each Keras 1 `Merge` mode lowers to."""
