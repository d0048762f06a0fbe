"""Field types shared by the spatial layers (convolution, pooling, cropping, padding, ...).

Keras lets `kernel_size`, `strides`, `pool_size`, ... be one int (every spatial axis) or one
int per spatial axis. The fields keep what the user wrote (`3` or `[3, 5]`); a layer checks
the tuple length against its rank with `check_per_axis`, and the compiler expands with
`kspec.compiler.layers.spatial.per_axis`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, NonNegativeInt, PositiveInt


def _tuple_to_list(value: Any) -> Any:
    # Python callers write Keras-style tuples; YAML/JSON give lists. Strict mode would refuse
    # the tuple.
    return list(value) if isinstance(value, tuple) else value


SpatialInt = Annotated[PositiveInt | list[PositiveInt], BeforeValidator(_tuple_to_list)]
"""A positive int for every spatial axis, or one per axis (`3` or `[3, 5]`)."""

SpatialNonNegInt = Annotated[NonNegativeInt | list[NonNegativeInt], BeforeValidator(_tuple_to_list)]
"""A non-negative int for every spatial axis, or one per axis (`0` or `[1, 0]`)."""


def check_per_axis(name: str, value: int | list[int] | None, rank: int) -> None:
    """Raise `ValueError` unless `value` is an int, None, or a list of `rank` ints."""
    if isinstance(value, list) and len(value) != rank:
        raise ValueError(
            f"`{name}` must be an int or a list of {rank} ints (one per spatial axis). "
            f"Received: {name}={value}"
        )


def as_tuple(value: int | list[int], rank: int) -> tuple[int, ...]:
    """`3 -> (3, 3)` for rank 2; a list becomes a tuple."""
    return (value,) * rank if isinstance(value, int) else tuple(value)
