"""Keras 1/2 weight conversions apply to the layers inside a nested model of a legacy HDF5
file too, as keras 2.2.4 `engine/saving.py` `convert_nested_model` applied
`preprocess_weights_for_loading` to each sub-layer; each model is checked against a NumPy
reference of the old layers' semantics.

Layouts: keras 2.2.4 `engine/network.py` `get_config` (a nested `Sequential` as a layer, its
`inbound_nodes` re-indexed from 0), `save_weights_to_hdf5_group` (the nested model is one
layer group: every trainable weight, then every non-trainable one, named `<layer>/<w>:0`);
Keras 1 names its variables `<layer>_<W>` (keras 1.2 `layers/recurrent.py`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from kspec.errors import KerasImportError
from kspec.runtime.keras_io.importer import import_keras
from tests.importer.legacy_files import randn, write_weights
from tests.importer.test_legacy_conversions import ATOL, RTOL, keras1_lstm, sigmoid

GLOROT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None},
}
ZEROS, ONES = {"class_name": "Zeros", "config": {}}, {"class_name": "Ones", "config": {}}
CONV = {
    "class_name": "Conv1D",
    "config": {
        "name": "conv1d_1",
        "trainable": True,
        "batch_input_shape": [None, 7, 2],
        "dtype": "float32",
        "filters": 4,
        "kernel_size": [3],
        "strides": [1],
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": [1],
        "activation": "linear",
        "use_bias": True,
        "kernel_initializer": GLOROT,
        "bias_initializer": ZEROS,
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    },
}
NORM = {
    "class_name": "BatchNormalization",
    "config": {
        "name": "batch_normalization_1",
        "trainable": True,
        "axis": -1,
        "momentum": 0.99,
        "epsilon": 0.001,
        "center": True,
        "scale": True,
        "beta_initializer": ZEROS,
        "gamma_initializer": ONES,
        "moving_mean_initializer": ZEROS,
        "moving_variance_initializer": ONES,
        "beta_regularizer": None,
        "gamma_regularizer": None,
        "beta_constraint": None,
        "gamma_constraint": None,
    },
}
LSTM = {
    "class_name": "LSTM",
    "config": {
        "name": "lstm_1",
        "trainable": True,
        "return_sequences": False,
        "return_state": False,
        "go_backwards": False,
        "stateful": False,
        "unroll": False,
        "units": 3,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
        "kernel_initializer": GLOROT,
        "recurrent_initializer": {
            "class_name": "Orthogonal",
            "config": {"gain": 1.0, "seed": None},
        },
        "bias_initializer": ZEROS,
        "unit_forget_bias": True,
        "kernel_regularizer": None,
        "recurrent_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "recurrent_constraint": None,
        "bias_constraint": None,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "implementation": 1,
    },
}
DENSE = {
    "class_name": "Dense",
    "config": {
        "name": "dense_1",
        "trainable": True,
        "units": 2,
        "activation": "linear",
        "use_bias": True,
        "kernel_initializer": GLOROT,
        "bias_initializer": ZEROS,
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    },
}
INPUT = {
    "name": "input_1",
    "class_name": "InputLayer",
    "inbound_nodes": [],
    "config": {
        "batch_input_shape": [None, 7, 2],
        "dtype": "float32",
        "sparse": False,
        "name": "input_1",
    },
}
KERAS2 = {"class_name": "Model", "keras_version": "2.2.4", "backend": "theano", "config": {
    "name": "model_1",
    "layers": [
        INPUT,
        {"name": "sequential_1", "class_name": "Sequential",
         "config": {"name": "sequential_1", "layers": [CONV, NORM, LSTM]},
         "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {**DENSE, "name": "dense_1", "inbound_nodes": [[["sequential_1", 0, 0, {}]]]},
    ],
    "input_layers": [["input_1", 0, 0]],
    "output_layers": [["dense_1", 0, 0]]}}  # fmt: skip
"""keras 2.2.4 (Theano backend) `to_json()` of `Model(x, Dense(2)(Sequential([Conv1D(4, 3,
input_shape=(7, 2)), BatchNormalization(), LSTM(3, recurrent_activation='sigmoid')])(x)))`."""


def keras2_lstm(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray):
    """Keras 2 LSTM: one kernel, gates i, f, c, o."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units), np.float32)
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
    return h


def test_keras2_theano_nested_sequential(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    conv = [randn(rng, 3, 2, 4), randn(rng, 4)]
    gamma_beta = [randn(rng, 4), randn(rng, 4)]
    stats = [randn(rng, 4), rng.uniform(0.5, 2, 4).astype(np.float32)]
    lstm = [randn(rng, 4, 12), randn(rng, 3, 12), randn(rng, 12)]
    dense = [randn(rng, 3, 2), randn(rng, 2)]
    nested = [
        ("conv1d_1/kernel:0", conv[0]), ("conv1d_1/bias:0", conv[1]),
        ("batch_normalization_1/gamma:0", gamma_beta[0]),
        ("batch_normalization_1/beta:0", gamma_beta[1]),
        ("lstm_1/kernel:0", lstm[0]), ("lstm_1/recurrent_kernel:0", lstm[1]),
        ("lstm_1/bias:0", lstm[2]),
        ("batch_normalization_1/moving_mean:0", stats[0]),
        ("batch_normalization_1/moving_variance:0", stats[1]),
    ]  # fmt: skip
    layers = [
        ("input_1", []),
        ("sequential_1", nested),
        ("dense_1", [("dense_1/kernel:0", dense[0]), ("dense_1/bias:0", dense[1])]),
    ]
    file = write_weights(tmp_path / "m.h5", layers, "2.2.4", "theano", json.dumps(KERAS2))
    imported = import_keras(file)
    x = randn(rng, 5, 7, 2)
    # Theano convolves: the saved kernel is applied flipped along its length
    flipped = conv[0][::-1]
    y = np.stack([np.einsum("nli,lio->no", x[:, t : t + 3], flipped) for t in range(5)], 1)
    y = (y + conv[1] - stats[0]) / np.sqrt(stats[1] + 1e-3) * gamma_beta[0] + gamma_beta[1]
    expected = keras2_lstm(y, *lstm) @ dense[0] + dense[1]
    np.testing.assert_allclose(imported.model.predict(x), expected, rtol=RTOL, atol=ATOL)
    assert (
        "  sequential_1/conv1d_1: Theano kernel flipped (convolution -> correlation)"
        in imported.report()
    )


NESTED_SPEC = """
kspec: 1
name: outer
inputs: {x: {shape: [7, 2]}}
layers:
  - type: Model
    name: block
    spec:
      name: block
      inputs: {h: {shape: [7, 2]}}
      layers:
        - {type: Conv1D, name: conv, filters: 4, kernel_size: 3}
        - {type: LSTM, name: lstm, units: 3, recurrent_activation: sigmoid}
  - {type: Dense, name: head, units: 2}
"""


def keras1_nested_file(path: Path, rng: np.random.Generator) -> tuple[Path, dict]:
    """A Keras 1 weights file (no `keras_version`): the nested model's group holds the
    Conv1D's `(length, 1, in, filters)` kernel and the LSTM's 12 per-gate arrays."""
    gates = [f"{k}_{g}" for g in "icfo" for k in "WUb"]  # Keras 1 trainable_weights order
    shapes = {"W": (4, 3), "U": (3, 3), "b": (3,)}
    w = {n: randn(rng, *shapes[n[0]]) for n in gates}
    w["conv_W"], w["conv_b"] = randn(rng, 3, 1, 2, 4), randn(rng, 4)
    w["head_W"], w["head_b"] = randn(rng, 3, 2), randn(rng, 2)
    block = [("conv_W", w["conv_W"]), ("conv_b", w["conv_b"])]
    block += [(f"lstm_{n}", w[n]) for n in gates]
    head = [("head_W", w["head_W"]), ("head_b", w["head_b"])]
    return write_weights(path, [("block", block), ("head", head)]), w


def test_keras1_nested_lstm_and_conv1d(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    file, w = keras1_nested_file(tmp_path / "w.h5", rng)
    imported = import_keras(file, spec=NESTED_SPEC)
    x = randn(rng, 4, 7, 2)
    k = w["conv_W"][:, 0]
    y = np.stack([np.einsum("nli,lio->no", x[:, t : t + 3], k) for t in range(5)], 1) + w["conv_b"]
    expected = keras1_lstm(y, w) @ w["head_W"] + w["head_b"]
    np.testing.assert_allclose(imported.model.predict(x), expected, rtol=RTOL, atol=ATOL)
    report = imported.report()
    lstm_note = "Keras 1 LSTM: 12 per-gate arrays joined, gates i,c,f,o -> i,f,c,o"
    assert f"  block/lstm: {lstm_note}" in report
    assert "  block/conv: Keras 1 Conv1D kernel (length, 1, in, filters)" in report


def test_nested_inner_layer_mismatch_is_located(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    file, _ = keras1_nested_file(tmp_path / "w.h5", rng)
    wrong = NESTED_SPEC.replace("units: 3, recurrent", "units: 5, recurrent")
    message = (
        "w.h5: layer 'block' (Keras layer 'block', group 'block'): inner layer 'lstm' expects "
        "weights [(4, 20), (5, 20), (20,)], the file has [(4, 12), (3, 12), (12,)]"
    )
    with pytest.raises(KerasImportError, match=re.escape(message)):
        import_keras(file, spec=wrong)
