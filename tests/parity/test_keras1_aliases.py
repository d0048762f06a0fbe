"""Keras 1 parameter names against Keras 3 built with the modern names: each row sets the
Keras 1 names to non-default values (`subsample: [2, 2]` vs `strides=2`) and compares outputs
with randomised weights. Where each alias lands is `tests/schemas/test_keras1_aliases.py`."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import keras
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning
from tests.parity.harness import assert_parity, keras_sequential, keras_side, random_input

L = keras.layers

ROWS: list[tuple[str, dict[str, Any], Callable[[], Any], tuple[int, ...]]] = [
    (
        "conv2d_subsample_border_mode",
        {"type": "Conv2D", "nb_filter": 3, "nb_row": 3, "nb_col": 2, "subsample": [2, 2],
         "border_mode": "same"},
        lambda: L.Conv2D(3, (3, 2), strides=2, padding="same"),
        (9, 8, 2),
    ),
    (
        "conv2d_atrous_rate",
        {"type": "Conv2D", "nb_filter": 2, "nb_row": 3, "nb_col": 3, "atrous_rate": 2},
        lambda: L.Conv2D(2, 3, dilation_rate=2),
        (9, 9, 2),
    ),
    (
        "conv2d_dim_ordering_th",
        {"type": "Conv2D", "filters": 2, "kernel_size": 3, "dim_ordering": "th"},
        lambda: L.Conv2D(2, 3, data_format="channels_first"),
        (2, 7, 6),
    ),
    (
        "conv1d_filter_and_subsample_length",
        {"type": "Conv1D", "nb_filter": 2, "filter_length": 3, "subsample_length": 2,
         "bias": False},
        lambda: L.Conv1D(2, 3, strides=2, use_bias=False),
        (9, 3),
    ),
    (
        "separable_conv2d_keras1",
        {"type": "SeparableConv2D", "nb_filter": 3, "nb_row": 2, "nb_col": 2,
         "subsample": [2, 2]},
        lambda: L.SeparableConv2D(3, 2, strides=2),
        (8, 8, 2),
    ),
    (
        "max_pooling1d_pool_length_stride",
        {"type": "MaxPooling1D", "pool_length": 3, "stride": 1},
        lambda: L.MaxPooling1D(3, strides=1),
        (7, 2),
    ),
    (
        "average_pooling2d_border_mode",
        {"type": "AveragePooling2D", "pool_size": 3, "border_mode": "same"},
        lambda: L.AveragePooling2D(3, padding="same"),
        (7, 7, 2),
    ),
    (
        "zero_padding2d_dim_ordering_th",
        {"type": "ZeroPadding2D", "padding": [1, 2], "dim_ordering": "th"},
        lambda: L.ZeroPadding2D((1, 2), data_format="channels_first"),
        (2, 4, 4),
    ),
    (
        "upsampling1d_length",
        {"type": "UpSampling1D", "length": 3},
        lambda: L.UpSampling1D(3),
        (4, 2),
    ),
    ("leaky_relu_alpha", {"type": "LeakyReLU", "alpha": 0.2}, lambda: L.LeakyReLU(0.2), (5,)),
    (
        "dense_output_dim_bias",
        {"type": "Dense", "output_dim": 5, "bias": False},
        lambda: L.Dense(5, use_bias=False),
        (4,),
    ),
    (
        "lstm_output_dim_inner_activation",
        {"type": "LSTM", "output_dim": 3, "inner_activation": "tanh"},
        lambda: L.LSTM(3, recurrent_activation="tanh"),
        (5, 2),
    ),
    (
        "gru_output_dim_inner_activation",
        {"type": "GRU", "output_dim": 3, "inner_activation": "hard_sigmoid"},
        lambda: L.GRU(3, recurrent_activation="hard_sigmoid"),
        (5, 2),
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("layer", "keras_layer", "shape"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_keras1_names_compute_what_keras3_names_do(
    layer: dict[str, Any], keras_layer: Callable[[], Any], shape: tuple[int, ...]
) -> None:
    keras.utils.set_random_seed(1)
    with keras_side():
        model = keras_sequential([keras_layer()], shape)
    spec = {"kspec": 1, "inputs": {"x": list(shape)}, "layers": [layer]}
    with pytest.warns(KspecDeprecationWarning, match="Keras 1 names?; use"):
        kspec.validate(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KspecDeprecationWarning)
        assert_parity(spec, model, random_input(shape))
