"""Shape and layout helpers shared by the spatial layers (convolution, pooling, cropping, ...).

Everything here is rank-generic: a 1D, 2D or 3D layer passes its per-axis tuples and its
`data_format`, and never transposes. Keras rules throughout:

- `valid`: `out = floor((n - k') / s) + 1` with the dilated kernel `k' = (k - 1) * d + 1`;
- `same`: `out = ceil(n / s)`; the total pad `max((out - 1) * s + k' - n, 0)` is split with the
  extra element at the end (`lo = total // 2`);
- `causal` (Conv1D): left pad `k' - 1`, then `valid`, so `out = ceil(n / s)` too.

Unknown sizes (`None`) stay `None`.
"""

from __future__ import annotations

from collections.abc import Sequence

from kspec.compiler.lowering import Shape
from kspec.schemas.fields import DataFormat

Pairs = list[tuple[int, int]]


def per_axis(value: int | Sequence[int], rank: int) -> tuple[int, ...]:
    """`3 -> (3, 3)` for rank 2; a sequence is returned as a tuple (its length was validated
    by the schema)."""
    if isinstance(value, int):
        return (value,) * rank
    return tuple(value)


def dilated(kernel: int, dilation: int) -> int:
    """Extent of a dilated kernel: `(k - 1) * d + 1`."""
    return (kernel - 1) * dilation + 1


def output_length(
    n: int | None, kernel: int, stride: int, padding: str, dilation: int = 1
) -> int | None:
    """Output length of a conv/pool window along one axis (`padding`: valid, same, causal).

    May return a value <= 0 for `valid` when the kernel is larger than the input; callers
    turn that into their own `ShapeError`.
    """
    if n is None:
        return None
    if padding == "valid":
        return (n - dilated(kernel, dilation)) // stride + 1
    return -(-n // stride)  # same, causal: ceil(n / s)


def padding_pairs(
    sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], padding: str,
    dilation: Sequence[int] | None = None,
) -> Pairs:  # fmt: skip
    """Explicit `(lo, hi)` pads per spatial axis for `lax.conv_general_dilated` or
    `lax.reduce_window`, Keras placement (extra pad at the end; causal pads only the start)."""
    dilation = dilation or (1,) * len(kernel)
    pairs = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=True):
        span = dilated(k, d)
        if padding == "valid":
            pairs.append((0, 0))
        elif padding == "causal":
            pairs.append((span - 1, 0))
        else:
            out = -(-n // s)
            total = max((out - 1) * s + span - n, 0)
            pairs.append((total // 2, total - total // 2))
    return pairs


def channel_axis(data_format: DataFormat) -> int:
    """Axis of the channels in a batched tensor: 1 for channels_first, -1 otherwise."""
    return 1 if data_format == "channels_first" else -1


def split_shape(shape: Shape, data_format: DataFormat) -> tuple[Shape, int | None]:
    """`(spatial sizes, channels)` of a batched shape."""
    if data_format == "channels_first":
        return shape[2:], shape[1]
    return shape[1:-1], shape[-1]


def join_shape(
    batch: int | None, spatial: Sequence[int | None], channels: int | None, data_format: DataFormat
) -> Shape:
    """Inverse of `split_shape`: a batched shape in the layer's layout."""
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def window(spatial: Sequence[int], data_format: DataFormat, fill: int = 1) -> tuple[int, ...]:
    """A per-axis spatial tuple widened to all axes for `lax.reduce_window`
    (`fill` at batch and channels): `(2, 2) -> (1, 2, 2, 1)` channels_last."""
    if data_format == "channels_first":
        return (fill, fill, *spatial)
    return (fill, *spatial, fill)


def full_pairs(spatial: Pairs, data_format: DataFormat) -> Pairs:
    """Spatial `(lo, hi)` pads widened with `(0, 0)` at batch and channels."""
    if data_format == "channels_first":
        return [(0, 0), (0, 0), *spatial]
    return [(0, 0), *spatial, (0, 0)]


def conv_dimension_numbers(
    rank: int, data_format: DataFormat, kernel: str = "IO"
) -> tuple[str, str, str]:
    """`lax.conv_general_dilated` dimension numbers for Keras layouts, so no transpose is
    needed: input/output `NWC`/`NHWC`/`NDHWC` (or `NCW`, ...), kernel `(*spatial, I, O)`.
    `kernel="OI"` reads a kernel stored `(*spatial, O, I)` (the transpose convolutions)."""
    axes = "DHW"[3 - rank :]
    io = f"NC{axes}" if data_format == "channels_first" else f"N{axes}C"
    return io, axes + kernel, io
