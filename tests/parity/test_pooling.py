"""Parity of pooling layers with Keras 3: outputs over a grid of layouts, paddings, strides and
odd/even sizes; for all spatial layers (pooling and reshaping), inferred shapes vs Keras'
`compute_output_shape`, Keras 3 synonyms, Keras 1 names and located parameter errors."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

import kspec
from kspec.compiler import compile_model
from kspec.errors import SpecError
from kspec.schemas import validate_document
from kspec.spec import load_document
from tests.parity.harness import (
    LayerCase,
    assert_parity,
    keras_sequential,
    keras_side,
    random_input,
    run_layer_case,
    sequential_spec,
)

L = keras.layers
CF = "channels_first"


def row(id: str, params: dict[str, Any], shape: tuple[int, ...]) -> LayerCase:
    """The same layer on both sides: kspec's `type` is the Keras class name."""
    spec = dict(params)
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items() if k != "type"}
    return LayerCase(id, [spec], lambda: [getattr(L, spec["type"])(**kwargs)], shape)


GRID = [
    # Windowed pooling: valid/same, strides, odd/even sizes, both layouts.
    row("max1d", {"type": "MaxPooling1D", "pool_size": 3}, (7, 2)),
    row(
        "avg1d_same_s2",
        {"type": "AveragePooling1D", "pool_size": 3, "strides": 2, "padding": "same"},
        (8, 3),
    ),
    row("max1d_cf_same", {"type": "MaxPooling1D", "padding": "same", "data_format": CF}, (2, 7)),
    row(
        "max2d_same_odd",
        {"type": "MaxPooling2D", "pool_size": [3, 2], "padding": "same"},
        (7, 5, 2),
    ),
    row(
        "avg2d_same_cf",
        {
            "type": "AveragePooling2D",
            "pool_size": 3,
            "strides": [2, 1],
            "padding": "same",
            "data_format": CF,
        },
        (2, 6, 5),
    ),
    row("avg2d_valid_s1", {"type": "AveragePooling2D", "pool_size": 2, "strides": 1}, (5, 4, 3)),
    row("max3d_cf", {"type": "MaxPooling3D", "pool_size": 2, "data_format": CF}, (2, 5, 4, 4)),
    row(
        "avg3d_same",
        {"type": "AveragePooling3D", "pool_size": [2, 3, 2], "strides": 2, "padding": "same"},
        (5, 5, 4, 2),
    ),
    # Global pooling.
    row("gmax1d", {"type": "GlobalMaxPooling1D"}, (5, 3)),
    row(
        "gavg1d_cf_keep",
        {"type": "GlobalAveragePooling1D", "data_format": CF, "keepdims": True},
        (3, 5),
    ),
    row("gmax2d_cf", {"type": "GlobalMaxPooling2D", "data_format": CF}, (3, 4, 5)),
    row("gavg2d_keep", {"type": "GlobalAveragePooling2D", "keepdims": True}, (4, 5, 3)),
    row("gmax3d_keep", {"type": "GlobalMaxPooling3D", "keepdims": True}, (3, 2, 4, 2)),
    row("gavg3d_cf", {"type": "GlobalAveragePooling3D", "data_format": CF}, (2, 3, 2, 4)),
]


@pytest.mark.parametrize("case", GRID, ids=lambda c: c.id)
def test_layer_parity(case: LayerCase) -> None:
    run_layer_case(case)


SHAPES = [
    (
        "max2d_same_unknown",
        {"type": "MaxPooling2D", "pool_size": 3, "strides": 2, "padding": "same"},
        (None, 7, 2),
    ),
    ("avg1d_valid_cf", {"type": "AveragePooling1D", "pool_size": 2, "data_format": CF}, (3, None)),
    ("gavg2d_unknown", {"type": "GlobalAveragePooling2D"}, (None, None, 3)),
    ("crop2d_unknown", {"type": "Cropping2D", "cropping": [[1, 2], [0, 1]]}, (None, 6, 2)),
    (
        "pad3d_unknown_cf",
        {"type": "ZeroPadding3D", "padding": [1, [0, 2], 3], "data_format": CF},
        (2, None, 3, 4),
    ),
    ("up2d_unknown", {"type": "UpSampling2D", "size": [2, 3]}, (None, 4, 2)),
    ("up1d_unknown", {"type": "UpSampling1D"}, (None, 2)),
]


@pytest.mark.parametrize(("params", "shape"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_inferred_shape_equals_keras(params: dict[str, Any], shape: tuple[int | None, ...]) -> None:
    spec = sequential_spec([params], shape)
    (ours,) = compile_model(validate_document(load_document(spec))).output_shapes
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items() if k != "type"}
    expected = getattr(L, params["type"])(**kwargs).compute_output_shape((None, *shape))
    assert tuple(ours) == tuple(expected)


def test_global_average_pooling_1d_averages_unmasked_steps() -> None:
    x = random_input((6, 3), seed=3)
    x[0, 4:] = 0.0  # padded steps: the mean must ignore them
    x[1, :2] = 0.0
    x[2, 1::2] = 0.0
    layers = [{"type": "Masking"}, {"type": "GlobalAveragePooling1D"}]
    with keras_side():
        keras_model = keras_sequential([L.Masking(), L.GlobalAveragePooling1D()], (6, 3))
    assert_parity(sequential_spec(layers, (6, 3)), keras_model, x)
    expected_row0 = x[0, :4].mean(axis=0)  # independent of both libraries
    np.testing.assert_allclose(
        kspec.load(sequential_spec(layers, (6, 3))).predict(x)[0], expected_row0, rtol=1e-6
    )


KERAS1 = [
    (
        {"type": "MaxPooling1D", "pool_length": 3, "stride": 1, "border_mode": "same"},
        L.MaxPooling1D(3, 1, "same"),
        (6, 2),
    ),
    (
        {"type": "AveragePooling2D", "pool_size": [2, 2], "dim_ordering": "th"},
        L.AveragePooling2D(2, data_format=CF),
        (2, 4, 4),
    ),
    ({"type": "UpSampling1D", "length": 3}, L.UpSampling1D(3), (4, 2)),
    (
        {"type": "ZeroPadding2D", "padding": [1, 2], "dim_ordering": "tf"},
        L.ZeroPadding2D((1, 2)),
        (3, 3, 1),
    ),
]

SYNONYMS = [
    ({"type": "MaxPool2D"}, L.MaxPooling2D(), (4, 4, 2)),
    (
        {"type": "AvgPool3D", "pool_size": 2, "padding": "same"},
        L.AveragePooling3D(2, padding="same"),
        (3, 3, 3, 1),
    ),
    ({"type": "GlobalAvgPool1D"}, L.GlobalAveragePooling1D(), (4, 2)),
]


@pytest.mark.parametrize(
    ("layer", "keras_layer", "shape"), SYNONYMS, ids=[str(k[0]) for k in SYNONYMS]
)
def test_keras_3_synonyms_are_accepted_without_warning(
    layer: dict[str, Any], keras_layer: Any, shape: tuple[int, ...]
) -> None:
    """`MaxPool2D` is a current Keras name, not a deprecated one (warnings are errors here)."""
    with keras_side():
        keras_model = keras_sequential([keras_layer], shape)
    assert_parity(sequential_spec([layer], shape), keras_model, random_input(shape))


@pytest.mark.parametrize(("layer", "keras_layer", "shape"), KERAS1, ids=[str(k[0]) for k in KERAS1])
def test_keras1_names_mean_the_keras_3_layer(
    layer: dict[str, Any], keras_layer: Any, shape: tuple[int, ...]
) -> None:
    with pytest.warns(kspec.KspecDeprecationWarning, match="use `"):
        with keras_side():
            keras_model = keras_sequential([keras_layer], shape)
        assert_parity(sequential_spec([layer], shape), keras_model, random_input(shape))


BAD = [
    (
        {"type": "MaxPooling2D", "pool_size": [2, 2, 2]},
        "`pool_size` must be an int or a list of 2 ints (one per spatial axis). "
        "Received: pool_size=[2, 2, 2]",
    ),
    ({"type": "AveragePooling1D", "pool_size": 2, "padding": "causal"}, "padding"),
    (
        {"type": "Cropping1D", "cropping": [1, 2, 3]},
        "`cropping` must be an int or a list of 2 ints (before, after). "
        "Received: cropping=[1, 2, 3]",
    ),
    (
        {"type": "ZeroPadding2D", "padding": [1, 2, 3]},
        "`padding` must be an int, a list of 2 ints (one per spatial axis) or a list of 2 "
        "[before, after] pairs. Received: padding=[1, 2, 3]",
    ),
    (
        {"type": "Cropping3D", "cropping": [1, [1, 2, 3], 0]},
        "the 2nd entry of `cropping` must be an int or a list of 2 ints. "
        "Received: cropping=[1, [1, 2, 3], 0]",
    ),
    (
        {"type": "UpSampling3D", "size": [2, 2]},
        "`size` must be an int or a list of 3 ints (one per spatial axis). Received: size=[2, 2]",
    ),
    ({"type": "UpSampling2D", "interpolation": "area"}, "interpolation"),
]


@pytest.mark.parametrize(("layer", "message"), BAD, ids=[m[:30] for _, m in BAD])
def test_invalid_parameters_are_located_errors(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_document(load_document(sequential_spec([layer], (4, 4, 4, 1))))
    assert any(message in d.message for d in info.value.diagnostics), info.value.diagnostics


def test_inference_errors_name_node_and_sizes() -> None:
    spec = sequential_spec([{"type": "MaxPooling2D", "pool_size": 3}], (2, 5, 1))
    with pytest.raises(SpecError) as info:
        kspec.load(spec)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.node == "max_pooling2d"
    assert diagnostic.message == (
        "MaxPooling2D: pool_size (3, 3) is larger than the input with padding='valid'. "
        "Received: shape=(None, 2, 5, 1)"
    )
