"""Parity of the convolution layers with Keras 3: outputs (weights copied by set_weights),
output shapes against `compute_output_shape` (unknown spatial sizes included), Keras 1 forms
and the located validation errors."""

from __future__ import annotations

import json
from typing import Any

import keras
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning, SpecError
from tests.parity.harness import LayerCase, keras_side, run_layer_case

L = keras.layers
CL, CF = "channels_last", "channels_first"

# (layer type, parameters, input shape channels_last without batch, data_format)
GRID: list[tuple[str, dict[str, Any], tuple[int, ...], str]] = [
    ("Conv1D", {"filters": 3, "kernel_size": 4, "padding": "same", "strides": 2}, (10, 3), CL),
    (
        "Conv1D",
        {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
        (11, 3),
        CL,
    ),
    ("Conv1D", {"filters": 2, "kernel_size": 2, "padding": "causal", "strides": 2}, (8, 2), CF),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "same", "groups": 2}, (7, 6), CF),
    (
        "Conv2D",
        {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
        (8, 7, 3),
        CL,
    ),
    ("Conv2D", {"filters": 3, "kernel_size": (3, 2), "strides": (2, 1)}, (9, 8, 2), CF),
    (
        "Conv2D",
        {"filters": 2, "kernel_size": 3, "dilation_rate": (2, 3), "padding": "same"},
        (9, 10, 2),
        CL,
    ),
    ("Conv2D", {"filters": 3, "kernel_size": 2, "groups": 3, "use_bias": False}, (5, 6, 6), CF),
    ("Conv2D", {"filters": 2, "kernel_size": 4, "strides": 3, "padding": "same"}, (11, 10, 1), CL),
    ("Conv2D", {"filters": 3, "kernel_size": 2, "lora_rank": 2, "lora_alpha": 4.0}, (5, 5, 2), CL),
    ("Conv3D", {"filters": 2, "kernel_size": 3, "padding": "same", "strides": 2}, (5, 6, 7, 2), CL),
    ("Conv3D", {"filters": 3, "kernel_size": (2, 3, 1), "dilation_rate": 2}, (6, 7, 5, 3), CF),
    (
        "SeparableConv1D",
        {"filters": 4, "kernel_size": 3, "depth_multiplier": 2, "padding": "same", "strides": 2},
        (9, 3),
        CL,
    ),
    (
        "SeparableConv2D",
        {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "tanh"},
        (8, 8, 3),
        CL,
    ),
    (
        "SeparableConv2D",
        {"filters": 2, "kernel_size": (3, 2), "depth_multiplier": 3, "strides": 2},
        (9, 7, 2),
        CF,
    ),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, (8, 3), CL),
    (
        "DepthwiseConv2D",
        {"kernel_size": 3, "depth_multiplier": 2, "padding": "same", "strides": 2},
        (7, 8, 3),
        CL,
    ),
    ("DepthwiseConv2D", {"kernel_size": 3, "dilation_rate": 2}, (9, 9, 2), CF),
    (
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
        (5, 2),
        CL,
    ),
    (
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 4, "dilation_rate": 2, "padding": "same"},
        (7, 3),
        CF,
    ),
    (
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
        (5, 4, 3),
        CL,
    ),
    (
        "Conv2DTranspose",
        {"filters": 3, "kernel_size": (3, 2), "strides": (2, 3), "output_padding": (1, 2)},
        (4, 5, 2),
        CF,
    ),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 2, "strides": 3}, (3, 3, 2), CL),
    (
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 0},
        (4, 4, 2),
        CL,
    ),
    (
        "Conv3DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1},
        (3, 3, 2, 2),
        CF,
    ),
]


def _layout(shape: tuple[int | None, ...], data_format: str) -> tuple[int | None, ...]:
    return (shape[-1], *shape[:-1]) if data_format == CF else shape


def _case(row: tuple[str, dict[str, Any], tuple[int, ...], str]) -> LayerCase:
    type_name, params, shape, data_format = row
    # channels_first comes from the model's data_format, so the default fill is tested too.
    ours = {
        "type": type_name,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
    }
    if data_format == CL:
        ours["data_format"] = CL
    return LayerCase(
        f"{type_name}-{data_format}-" + "-".join(f"{k}={v}" for k, v in params.items()),
        [ours],
        lambda: [getattr(L, type_name)(**params, data_format=data_format)],
        _layout(shape, data_format),
        model={"data_format": data_format} if data_format == CF else {},
    )


CASES = [_case(row) for row in GRID]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_parity(case: LayerCase) -> None:
    run_layer_case(case)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_output_shape_with_unknown_spatial_size(case: LayerCase) -> None:
    """Our shape inference equals Keras' compute_output_shape, an unknown first spatial size
    included (it stays unknown)."""
    shape = list(case.input_shape)
    axis = 1 if case.model.get("data_format") == CF else 0
    for known in (tuple(shape), (*shape[:axis], None, *shape[axis + 1 :])):
        spec = {"kspec": 1, "inputs": {"x": list(known)}, "layers": case.layers, **case.model}
        (layer,) = case.keras_layers()
        with keras_side():
            expected = tuple(layer.compute_output_shape((None, *known)))
        assert kspec.load(spec).output_shape == expected


# Keras 1 forms ------------------------------------------------------------------------------

SEED_DEMO = """
kspec: 1
layers:
  - {type: Convolution2D, nb_filter: 64, nb_row: 3, nb_col: 3, border_mode: same,
     dim_ordering: th, input_shape: [3, 32, 32]}
  - {type: Flatten, data_format: channels_first}
"""


def test_seed_demo_keras1_conv2d_then_flatten() -> None:
    with pytest.warns(KspecDeprecationWarning) as caught:
        model = kspec.load(SEED_DEMO)
    assert model.output_shape == (None, 65536)
    messages = [str(w.message) for w in caught]
    assert (
        "<string>:4:42: node 'conv2d': Conv2D: `nb_row`, `nb_col` are Keras 1 names; "
        "use `kernel_size: [3, 3]` instead" in messages
    )
    # Convolution2D is also Keras 3's current long name: a synonym, not deprecated
    assert not any("`Convolution2D`" in m for m in messages)
    conv = model.get_layer("conv2d").spec
    assert (conv.filters, conv.kernel_size, conv.padding, conv.data_format) == (
        64, [3, 3], "same", "channels_first"
    )  # fmt: skip


def test_keras1_conv1d_and_deconvolution_names() -> None:
    doc = {
        "kspec": 1,
        "inputs": {"x": [10, 2]},
        "layers": [
            {"type": "Convolution1D", "nb_filter": 3, "filter_length": 2, "subsample_length": 2},
            {"type": "AtrousConvolution1D", "nb_filter": 3, "filter_length": 2, "atrous_rate": 2},
        ],
    }
    with pytest.warns(KspecDeprecationWarning):
        model = kspec.load(doc)
    assert model.output_shape == (None, 3, 3)
    with pytest.warns(KspecDeprecationWarning):
        spec = kspec.validate({
            "kspec": 1, "inputs": {"x": [4, 4, 4, 2]},
            "layers": [{"type": "Convolution3D", "nb_filter": 2, "kernel_dim1": 1,
                        "kernel_dim2": 2, "kernel_dim3": 3, "subsample": [1, 1, 1]}],
        })  # fmt: skip
    assert spec.layers[0].kernel_size == [1, 2, 3]
    deconv = {"type": "Deconvolution2D", "nb_filter": 3, "nb_row": 3, "nb_col": 3,
              "output_shape": [None, 6, 6, 3], "subsample": [1, 1]}  # fmt: skip
    with pytest.warns(KspecDeprecationWarning) as caught:
        model = kspec.load({"kspec": 1, "inputs": {"x": [4, 4, 2]}, "layers": [deconv]})
    assert model.output_shape == (None, 6, 6, 3)
    assert any("`output_shape=[None, 6, 6, 3]`" in str(w.message) for w in caught)


@pytest.mark.parametrize(
    ("synonym", "modern", "shape"),
    [
        ("Convolution1D", "Conv1D", [6, 2]),
        ("Convolution2D", "Conv2D", [6, 6, 2]),
        ("Convolution3D", "Conv3D", [4, 4, 4, 2]),
        ("SeparableConvolution1D", "SeparableConv1D", [6, 2]),
        ("SeparableConvolution2D", "SeparableConv2D", [6, 6, 2]),
        ("Convolution1DTranspose", "Conv1DTranspose", [6, 2]),
        ("Convolution2DTranspose", "Conv2DTranspose", [6, 6, 2]),
        ("Convolution3DTranspose", "Conv3DTranspose", [4, 4, 4, 2]),
    ],
)
def test_keras3_long_names_are_silent_synonyms(synonym: str, modern: str, shape: list) -> None:
    layer = {"type": synonym, "filters": 3, "kernel_size": 2}
    spec = kspec.validate({"kspec": 1, "inputs": {"x": shape}, "layers": [layer]})  # no warning
    assert type(spec.layers[0]).__name__ == modern
    assert getattr(keras.layers, synonym) is getattr(keras.layers, modern)


# Validation rules: located errors with exact text ---------------------------------------------

ERRORS = [
    (
        {"type": "Conv2D", "filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
        "<string>:1:53: error: node 'conv2d': `strides > 1` not supported in conjunction with "
        "`dilation_rate > 1`. Received: strides=2 and dilation_rate=2",
    ),
    (
        {"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "causal"},
        "<string>:1:53: error: node 'conv2d': padding='causal' is only supported by Conv1D. "
        "Received: padding=causal for Conv2D; use `valid` or `same`",
    ),
    (
        {"type": "Conv2D", "filters": 3, "kernel_size": 3, "groups": 2},
        "<string>:1:53: error: node 'conv2d': The number of filters must be evenly divisible by "
        "the number of groups. Received: groups=2, filters=3",
    ),
    (
        {"type": "Conv2DTranspose", "filters": 2, "kernel_size": 3, "strides": 2,
         "output_padding": [1, 2]},
        "<string>:1:53: error: node 'conv2d_transpose': `output_padding` must be strictly less "
        "than `strides` for all dimensions. At dimension 1, `output_padding` is 2 but "
        "`strides` is 2. Received: output_padding=[1, 2], strides=2",
    ),
    (
        {"type": "Conv2D", "filters": 2, "kernel_size": [3, 3, 3]},
        "<string>:1:53: error: node 'conv2d': `kernel_size` must be an int or a list of 2 ints "
        "(one per spatial axis). Received: kernel_size=[3, 3, 3]",
    ),
    (
        {"type": "Conv2D", "filters": 2, "kernel_size": [3, 7]},
        "<string>:1:53: error: node 'conv2d': Conv2D: the kernel is larger than the input along "
        "spatial axis 1 (input size 6, dilated kernel size 7). Received: kernel_size=[3, 7], "
        "dilation_rate=1; use padding='same' or a smaller kernel (input shapes: (None, 6, 6, 1))",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("layer", "message"), ERRORS, ids=[m.split("node ")[1][:40] for _, m in ERRORS]
)
def test_validation_errors_are_located(layer: dict[str, Any], message: str) -> None:
    doc = json.dumps({"kspec": 1, "inputs": {"x": [6, 6, 1]}, "layers": [layer]})
    with pytest.raises(SpecError) as info:
        kspec.load(doc)
    assert message in str(info.value).splitlines()
