"""Lowerings of the convolution layers. Every kind (plain, grouped, depthwise, separable,
transposed) and every rank goes through one `lax.conv_general_dilated` call, `_convolve`, with
dimension numbers matching the Keras layouts, so nothing is ever transposed; depthwise steps
may instead lower to per-tap shifted slices (`depthwise_shifted.py`, `LoweringOptions`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kspec.compiler.activations import activation
from kspec.compiler.deferred import jax, jnp
from kspec.compiler.initializers import initialize
from kspec.compiler.layers.conv_grad import ConvGeometry, conv_im2col_grad
from kspec.compiler.layers.depthwise_shifted import (
    DepthwiseGeometry,
    fits_shifted,
    shifted_depthwise,
)
from kspec.compiler.layers.spatial import (
    Pairs,
    channel_axis,
    conv_dimension_numbers,
    dilated,
    join_shape,
    output_length,
    padding_pairs,
    per_axis,
    split_shape,
)
from kspec.compiler.lora import effective_weight, lora_weights
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    add_bias,
    drop_mask,
    expect_inputs,
    expect_rank,
    format_shape,
    regularized,
)
from kspec.compiler.options import LoweringOptions
from kspec.errors import ShapeError
from kspec.schemas.layers import convolution as s

# The shared geometry ------------------------------------------------------------------------


def _geometry(spec: s.Convolution) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(kernel_size, strides, dilation_rate) as per-axis tuples."""
    rank = spec.rank
    return (
        per_axis(spec.kernel_size, rank),
        per_axis(spec.strides, rank),
        per_axis(spec.dilation_rate, rank),
    )


def _input_channels(spec: s.Convolution, shapes: list[Shape]) -> tuple[Shape, int]:
    """Check one input of rank `spec.rank + 2` with known channels; return (spatial, channels)."""
    layer = type(spec).__name__
    expect_inputs(spec, shapes, 1)
    (shape,) = shapes
    expect_rank(spec, shape, spec.rank + 2, exactly=True)
    spatial, channels = split_shape(shape, spec.data_format)
    if channels is None:
        raise ShapeError(
            f"{layer} needs a known channel dimension ({spec.data_format}). "
            f"Received: shape={format_shape(shape)}"
        )
    return spatial, channels


def _transpose_pads(n_k_s_d: tuple[int, int, int], padding: str, op: int | None) -> tuple[int, int]:
    """(lo, hi) pads of the stride-dilated input for a transposed convolution (Keras rule):
    valid -> length (n - 1) * s + k' + op, op default max(k', s) - k';
    same  -> n * s, or (n - 1) * s + k' % 2 + op when output_padding is given."""
    k, stride, d = n_k_s_d
    span = dilated(k, d)
    if padding == "valid":
        extra = max(span, stride) - span if op is None else op
        return span - 1, span - 1 + extra
    total = stride + span - 2 if op is None else span + span % 2 - 2 + op
    lo = min(total // 2 + total % 2, span - 1)
    return lo, total - lo


def _transpose_setup(spec: s.ConvTranspose) -> list[tuple[int, int]]:
    kernel, strides, dilation = _geometry(spec)
    pads = (
        [None] * spec.rank
        if spec.output_padding is None
        else per_axis(spec.output_padding, spec.rank)
    )
    return [
        _transpose_pads((k, st, d), spec.padding, op)
        for k, st, d, op in zip(kernel, strides, dilation, pads, strict=True)
    ]


def _out_spatial(spec: s.Convolution, spatial: Shape, transpose: bool) -> list[int | None]:
    kernel, strides, dilation = _geometry(spec)
    if transpose:
        pairs = _transpose_setup(spec)
        return [
            None if n is None else (n - 1) * st + lo + hi - dilated(k, d) + 2
            for n, k, st, d, (lo, hi) in zip(spatial, kernel, strides, dilation, pairs, strict=True)
        ]
    out = [
        output_length(n, k, st, spec.padding, d)
        for n, k, st, d in zip(spatial, kernel, strides, dilation, strict=True)
    ]
    for axis, (n, o) in enumerate(zip(spatial, out, strict=True)):
        if o is not None and o <= 0:
            raise ShapeError(
                f"{type(spec).__name__}: the kernel is larger than the input along spatial "
                f"axis {axis} (input size {n}, dilated kernel size "
                f"{dilated(kernel[axis], dilation[axis])}). Received: "
                f"kernel_size={spec.kernel_size}, dilation_rate={spec.dilation_rate}; use "
                "padding='same' or a smaller kernel"
            )
    return out


def _convolve(
    x: Array,
    kernel: Array,
    spec: s.Convolution,
    *,
    strides: Sequence[int],
    pads: Pairs,
    dilation: Sequence[int],
    groups: int = 1,
    lhs_dilation: Sequence[int] | None = None,
    kernel_layout: str = "IO",
    options: LoweringOptions | None = None,
) -> Array:
    """The one convolution primitive of the family, in the layer's own layout. Given
    `options` that choose it, a plain convolution (one group, no input dilation) takes its
    weight gradient as an im2col matmul (`conv_grad.py`)."""
    dimension_numbers = conv_dimension_numbers(spec.rank, spec.data_format, kernel_layout)
    if options is not None and groups == 1 and lhs_dilation is None:
        geometry = ConvGeometry(
            tuple(strides), tuple(map(tuple, pads)), tuple(dilation), dimension_numbers
        )
        if options.im2col_weight_grad() and geometry.fits_im2col(x.shape, kernel.shape):
            return conv_im2col_grad(x, kernel, geometry)
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        window_strides=tuple(strides),
        padding=pads,
        lhs_dilation=None if lhs_dilation is None else tuple(lhs_dilation),
        rhs_dilation=tuple(dilation),
        dimension_numbers=dimension_numbers,
        feature_group_count=groups,
    )


def _forward(
    x: Array, kernel: Array, spec: s.Convolution, groups: int, options: LoweringOptions | None
) -> Array:
    """A strided/dilated convolution with Keras padding (valid, same, causal)."""
    size, strides, dilation = _geometry(spec)
    spatial, _ = split_shape(x.shape, spec.data_format)
    pads = padding_pairs(spatial, size, strides, spec.padding, dilation)  # type: ignore[arg-type]
    return _convolve(
        x, kernel, spec, strides=strides, pads=pads, dilation=dilation, groups=groups,
        options=options,
    )  # fmt: skip


def _finish(y: Array, spec: s.Convolution, params: Weights) -> list[Array]:
    """`activation(y + bias)`, bias along the channel axis."""
    if spec.use_bias:
        y = add_bias(y, params["bias"], channel_axis(spec.data_format))
    return [activation(spec.activation)(y)]


def _bias(spec: s.Convolution, key: Array, n: int) -> Weights:
    return {"bias": initialize(spec.bias_initializer, key, (n,))} if spec.use_bias else {}


# Conv1D/2D/3D ---------------------------------------------------------------------------------


def _conv_shape(spec: s.Conv, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    spatial, channels = _input_channels(spec, shapes)
    if channels % spec.groups:
        raise ShapeError(
            "The number of input channels must be evenly divisible by the number of groups. "
            f"Received: groups={spec.groups}, input shape {format_shape(shapes[0])} has "
            f"{channels} channels"
        )
    out = _out_spatial(spec, spatial, transpose=False)
    return [join_shape(shapes[0][0], out, spec.filters, spec.data_format)]


def _conv_init(spec: s.Conv, key: Array, shapes: list[Shape]) -> LayerWeights:
    _, channels = split_shape(shapes[0], spec.data_format)
    shape = (*per_axis(spec.kernel_size, spec.rank), channels // spec.groups, spec.filters)
    kernel_key, bias_key, lora_key = jax.random.split(key, 3)
    kernel = initialize(spec.kernel_initializer, kernel_key, shape)
    bias = _bias(spec, bias_key, spec.filters)
    return lora_weights(spec, lora_key, "kernel", kernel, bias)


def _conv_apply(spec: s.Conv, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
    """y = activation(conv(x, kernel) + bias); with LoRA, kernel + alpha/rank * A @ B."""
    kernel = effective_weight(spec, params, call, "kernel")
    return _finish(_forward(inputs[0], kernel, spec, spec.groups, call.env.lowering), spec, params)


# DepthwiseConv1D/2D and SeparableConv1D/2D ---------------------------------------------------


def _depthwise_shape(
    spec: s.DepthwiseOrSeparable, shapes: list[Shape], env: BuildEnv
) -> list[Shape]:
    spatial, channels = _input_channels(spec, shapes)
    out = _out_spatial(spec, spatial, transpose=False)
    filters = getattr(spec, "filters", channels * spec.depth_multiplier)
    return [join_shape(shapes[0][0], out, filters, spec.data_format)]


def _depthwise_init(spec: s.DepthwiseOrSeparable, key: Array, shapes: list[Shape]) -> LayerWeights:
    _, channels = split_shape(shapes[0], spec.data_format)
    depth_key, point_key, bias_key = jax.random.split(key, 3)
    size = per_axis(spec.kernel_size, spec.rank)
    weights = {
        "depthwise_kernel": initialize(
            spec.depthwise_initializer, depth_key, (*size, channels, spec.depth_multiplier)
        )
    }
    mid = channels * spec.depth_multiplier
    if isinstance(spec, s.SeparableConv):
        shape = (*(1,) * spec.rank, mid, spec.filters)
        weights["pointwise_kernel"] = initialize(spec.pointwise_initializer, point_key, shape)
    return LayerWeights({**weights, **_bias(spec, bias_key, getattr(spec, "filters", mid))})


def _depthwise(
    x: Array, spec: s.DepthwiseOrSeparable, params: Weights, options: LoweringOptions
) -> Array:
    """Channel c convolved with its own filters: output channel c * depth_multiplier + m.
    XLA's grouped convolution, or per-tap shifted slices where `options` choose them."""
    kernel = params["depthwise_kernel"]
    if options.shifted_depthwise() and fits_shifted(x.shape):
        size, strides, dilation = _geometry(spec)
        spatial, _ = split_shape(x.shape, spec.data_format)
        pads = padding_pairs(spatial, size, strides, spec.padding, dilation)  # type: ignore[arg-type]
        geometry = DepthwiseGeometry(
            strides, tuple(map(tuple, pads)), dilation, spec.data_format == "channels_first"
        )
        return shifted_depthwise(x, kernel, geometry)
    channels = kernel.shape[-2]
    kernel = kernel.reshape(*kernel.shape[:-2], 1, channels * kernel.shape[-1])
    return _forward(x, kernel, spec, channels, None)


def _depthwise_apply(
    spec: s.DepthwiseConv, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = activation(depthwise(x) + bias)"""
    return _finish(_depthwise(inputs[0], spec, params, call.env.lowering), spec, params)


def _separable_apply(
    spec: s.SeparableConv, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = activation(pointwise(depthwise(x)) + bias)"""
    y = _depthwise(inputs[0], spec, params, call.env.lowering)
    ones = (1,) * spec.rank
    pads = [(0, 0)] * spec.rank
    y = _convolve(y, params["pointwise_kernel"], spec, strides=ones, pads=pads, dilation=ones)
    return _finish(y, spec, params)


# Conv1DTranspose/2DTranspose/3DTranspose -----------------------------------------------------


def _transpose_shape(spec: s.ConvTranspose, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    spatial, _ = _input_channels(spec, shapes)
    out = _out_spatial(spec, spatial, transpose=True)
    return [join_shape(shapes[0][0], out, spec.filters, spec.data_format)]


def _transpose_init(spec: s.ConvTranspose, key: Array, shapes: list[Shape]) -> LayerWeights:
    _, channels = split_shape(shapes[0], spec.data_format)
    shape = (*per_axis(spec.kernel_size, spec.rank), spec.filters, channels)
    kernel_key, bias_key = jax.random.split(key)
    kernel = initialize(spec.kernel_initializer, kernel_key, shape)
    return LayerWeights({"kernel": kernel, **_bias(spec, bias_key, spec.filters)})


def _transpose_apply(
    spec: s.ConvTranspose, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = activation(conv(dilate(x, strides), flip(kernel)) + bias): a convolution of the
    stride-dilated input with the spatially flipped kernel, its (O, I) roles swapped."""
    _, strides, dilation = _geometry(spec)
    kernel = jnp.flip(params["kernel"], axis=tuple(range(spec.rank)))
    y = _convolve(
        inputs[0],
        kernel,
        spec,
        strides=(1,) * spec.rank,
        pads=_transpose_setup(spec),
        dilation=dilation,
        lhs_dilation=strides,
        kernel_layout="OI",
    )
    return _finish(y, spec, params)


_CONV = (s.Conv1D, s.Conv2D, s.Conv3D)
_DEPTHWISE = (s.DepthwiseConv1D, s.DepthwiseConv2D)
_SEPARABLE = (s.SeparableConv1D, s.SeparableConv2D)
_TRANSPOSE = (s.Conv1DTranspose, s.Conv2DTranspose, s.Conv3DTranspose)

_KERNEL = regularized(kernel="kernel", bias="bias")
_DEPTH = regularized(depthwise="depthwise_kernel", bias="bias")
_SEP = regularized(depthwise="depthwise_kernel", pointwise="pointwise_kernel", bias="bias")
LOWERINGS: list[Lowering[Any]] = [
    *(Lowering(c, _conv_shape, _conv_apply, _conv_init, drop_mask, governs=_KERNEL) for c in _CONV),
    *(
        Lowering(c, _depthwise_shape, _depthwise_apply, _depthwise_init, drop_mask, governs=_DEPTH)
        for c in _DEPTHWISE
    ),
    *(
        Lowering(c, _depthwise_shape, _separable_apply, _depthwise_init, drop_mask, governs=_SEP)
        for c in _SEPARABLE
    ),
    *(
        Lowering(c, _transpose_shape, _transpose_apply, _transpose_init, drop_mask, governs=_KERNEL)
        for c in _TRANSPOSE
    ),
]
