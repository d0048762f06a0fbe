"""Keras 1/2 weight files converted as Keras 2 converted them on load (keras 2.2.4
`engine/saving.py` `preprocess_weights_for_loading`), each checked against a NumPy reference
of the old layer's semantics (Keras 1.2 `layers/recurrent.py`, Theano's convolution)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kspec.errors import KerasImportError
from kspec.runtime.keras_io.importer import import_keras
from tests.importer.legacy_files import randn, write_weights

RTOL, ATOL = 1e-4, 1e-5


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def keras1_lstm(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """Keras 1.2 LSTM.step with sigmoid inner activation: per-gate W, U, b."""
    h = np.zeros((x.shape[0], w["U_i"].shape[0]), np.float32)
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        xt = x[:, t]
        i = sigmoid(xt @ w["W_i"] + w["b_i"] + h @ w["U_i"])
        f = sigmoid(xt @ w["W_f"] + w["b_f"] + h @ w["U_f"])
        c = f * c + i * np.tanh(xt @ w["W_c"] + w["b_c"] + h @ w["U_c"])
        o = sigmoid(xt @ w["W_o"] + w["b_o"] + h @ w["U_o"])
        h = o * np.tanh(c)
    return h


def keras1_gru(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """Keras 1.2 GRU.step: the reset gate applied before the recurrent product."""
    h = np.zeros((x.shape[0], w["U_z"].shape[0]), np.float32)
    for t in range(x.shape[1]):
        xt = x[:, t]
        z = sigmoid(xt @ w["W_z"] + w["b_z"] + h @ w["U_z"])
        r = sigmoid(xt @ w["W_r"] + w["b_r"] + h @ w["U_r"])
        hh = np.tanh(xt @ w["W_h"] + w["b_h"] + (r * h) @ w["U_h"])
        h = z * h + (1 - z) * hh
    return h


def rnn_spec(kind: str, units: int, extra: str = "") -> str:
    return f"""
kspec: 1
name: rnn
inputs: {{x: {{shape: [5, 3]}}}}
layers:
  - {{type: {kind}, name: rnn_1, units: {units}, recurrent_activation: sigmoid{extra}}}
"""


def test_keras1_lstm_12_arrays_gate_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    names = [f"{k}_{g}" for g in "icfo" for k in "WUb"]  # Keras 1 trainable_weights order
    shapes = {"W": (3, 4), "U": (4, 4), "b": (4,)}
    w = {n: randn(rng, *shapes[n[0]]) for n in names}
    file = write_weights(tmp_path / "w.h5", [("lstm_1", [(f"lstm_1_{n}", w[n]) for n in names])])
    imported = import_keras(file, spec=rnn_spec("LSTM", 4))
    x = randn(rng, 2, 5, 3)
    np.testing.assert_allclose(imported.model.predict(x), keras1_lstm(x, w), RTOL, ATOL)
    assert "gates i,c,f,o -> i,f,c,o" in imported.report()


def test_keras1_gru_9_arrays(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    names = [f"{k}_{g}" for g in "zrh" for k in "WUb"]
    shapes = {"W": (3, 4), "U": (4, 4), "b": (4,)}
    w = {n: randn(rng, *shapes[n[0]]) for n in names}
    file = write_weights(tmp_path / "w.h5", [("gru_1", [(f"gru_1_{n}", w[n]) for n in names])])
    model = import_keras(file, spec=rnn_spec("GRU", 4, ", reset_after: false")).model
    x = randn(rng, 2, 5, 3)
    np.testing.assert_allclose(model.predict(x), keras1_gru(x, w), RTOL, ATOL)


def cudnn_lstm_reference(
    x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray
) -> np.ndarray:
    """CuDNNLSTM as Keras 2 ran it (`cudnn_recurrent.py`): per-gate input kernels stored
    transposed in Fortran order, recurrent kernels transposed, input + recurrent biases."""
    units = recurrent.shape[0]
    gates_k = [k.T.reshape(k.shape, order="F") for k in np.hsplit(kernel, 4)]
    gates_u = [u.T for u in np.hsplit(recurrent, 4)]
    b = np.split(bias, 2)[0] + np.split(bias, 2)[1]
    b_i, b_f, b_c, b_o = np.split(b, 4)
    h = np.zeros((x.shape[0], units), np.float32)
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        xt = x[:, t]
        i = sigmoid(xt @ gates_k[0] + h @ gates_u[0] + b_i)
        f = sigmoid(xt @ gates_k[1] + h @ gates_u[1] + b_f)
        g = np.tanh(xt @ gates_k[2] + h @ gates_u[2] + b_c)
        o = sigmoid(xt @ gates_k[3] + h @ gates_u[3] + b_o)
        c = f * c + i * g
        h = o * np.tanh(c)
    return h


def test_cudnn_lstm_to_lstm(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    kernel, recurrent, bias = randn(rng, 3, 16), randn(rng, 4, 16), randn(rng, 32)
    weights = [
        ("cu_dnnlstm_1/kernel:0", kernel),
        ("cu_dnnlstm_1/recurrent_kernel:0", recurrent),
        ("cu_dnnlstm_1/bias:0", bias),
    ]
    file = write_weights(tmp_path / "w.h5", [("cu_dnnlstm_1", weights)], "2.2.4", "tensorflow")
    imported = import_keras(file, spec=rnn_spec("LSTM", 4))
    x = randn(rng, 2, 5, 3)
    reference = cudnn_lstm_reference(x, kernel, recurrent, bias)
    np.testing.assert_allclose(imported.model.predict(x), reference, RTOL, ATOL)
    assert "CuDNNLSTM weights converted to LSTM" in imported.report()


def test_cudnn_gru_needs_reset_after(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    weights = [("k:0", randn(rng, 3, 12)), ("r:0", randn(rng, 4, 12)), ("b:0", randn(rng, 24))]
    file = write_weights(tmp_path / "w.h5", [("cu_dnngru_1", weights)], "2.2.4", "tensorflow")
    converted = import_keras(file, spec=rnn_spec("GRU", 4, ", reset_after: true")).model
    np.testing.assert_array_equal(converted.get_weights()[2], weights[2][1].reshape(2, 12))
    with pytest.raises(
        KerasImportError,
        match=r"layer 'rnn_1' \(Keras layer 'cu_dnngru_1'.*"
        r"CuDNNGRU weights need GRU\(reset_after=True\)",
    ):
        import_keras(file, spec=rnn_spec("GRU", 4, ", reset_after: false"))


def theano_conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Theano's 'valid' conv2d: a true convolution (kernel flipped), channels first, kernel
    (filters, in, rows, cols)."""
    filters, _, kr, kc = kernel.shape
    n, _, height, width = x.shape
    out = np.zeros((n, filters, height - kr + 1, width - kc + 1), np.float32)
    flipped = kernel[:, :, ::-1, ::-1]
    for y in range(out.shape[2]):
        for z in range(out.shape[3]):
            patch = x[:, :, y : y + kr, z : z + kc]
            out[:, :, y, z] = np.einsum("nirc,oirc->no", patch, flipped)
    return out + bias[None, :, None, None]


def test_keras1_theano_channels_first_conv2d(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    kernel, bias = randn(rng, 4, 2, 3, 2), randn(rng, 4)
    layers = [("convolution2d_1", [("convolution2d_1_W", kernel), ("convolution2d_1_b", bias)])]
    file = write_weights(tmp_path / "w.h5", layers, backend="theano")
    spec = """
kspec: 1
name: th
inputs: {x: {shape: [2, 6, 5]}}
layers:
  - {type: Conv2D, name: convolution2d_1, filters: 4, kernel_size: [3, 2],
     data_format: channels_first}
"""
    imported = import_keras(file, spec=spec)
    x = randn(rng, 2, 2, 6, 5)
    np.testing.assert_allclose(imported.model.predict(x), theano_conv(x, kernel, bias), RTOL, ATOL)
    report = imported.report()
    assert "Keras 1 channels_first Conv2D kernel transposed (2, 3, 1, 0)" in report
    assert "Theano kernel flipped" in report


def test_keras1_conv1d_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    kernel, bias = randn(rng, 3, 1, 2, 4), randn(rng, 4)  # (length, 1, in, filters)
    file = write_weights(tmp_path / "w.h5", [("c", [("c_W", kernel), ("c_b", bias)])])
    spec = """
kspec: 1
name: c1
inputs: {x: {shape: [7, 2]}}
layers: [{type: Conv1D, name: c, filters: 4, kernel_size: 3}]
"""
    model = import_keras(file, spec=spec).model
    x = randn(rng, 2, 7, 2)
    k = kernel[:, 0]
    reference = np.stack([np.einsum("nli,lio->no", x[:, t : t + 3], k) for t in range(5)], 1)
    np.testing.assert_allclose(model.predict(x), reference + bias, RTOL, ATOL)


def test_keras1_deconvolution2d_axes(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    kernel, bias = randn(rng, 2, 2, 3, 5), randn(rng, 5)  # Keras 1: (rows, cols, in, filters)
    file = write_weights(tmp_path / "w.h5", [("d", [("d_W", kernel), ("d_b", bias)])])
    spec = """
kspec: 1
name: dc
inputs: {x: {shape: [3, 3, 3]}}
layers: [{type: Conv2DTranspose, name: d, filters: 5, kernel_size: 2, strides: 2}]
"""
    model = import_keras(file, spec=spec).model
    np.testing.assert_array_equal(model.get_weights()[0], np.transpose(kernel, (0, 1, 3, 2)))
    x = randn(rng, 1, 3, 3, 3)
    # stride 2, kernel 2: each input pixel paints its own 2x2 block
    reference = np.einsum("nhwi,abi o->nhawbo".replace(" ", ""), x, kernel).reshape(1, 6, 6, 5)
    np.testing.assert_allclose(model.predict(x), reference + bias, RTOL, ATOL)


def test_keras2_names_and_batchnorm_keras1(tmp_path: Path) -> None:
    """Keras 1 BatchNormalization saved [gamma, beta, running_mean, running_std]; since
    Keras 1.1 running_std holds the variance, and Keras 2 loaded it as moving_variance."""
    rng = np.random.default_rng(8)
    gamma, beta, mean = randn(rng, 3), randn(rng, 3), randn(rng, 3)
    var = rng.uniform(0.5, 2.0, 3).astype(np.float32)
    names = ["gamma", "beta", "running_mean", "running_std"]
    layer = [
        (f"batchnormalization_1_{n}", v)
        for n, v in zip(names, [gamma, beta, mean, var], strict=True)
    ]
    file = write_weights(tmp_path / "w.h5", [("batchnormalization_1", layer)])
    spec = """
kspec: 1
name: bn
inputs: {x: {shape: [3]}}
layers: [{type: BatchNormalization, name: bn, epsilon: 0.001}]
"""
    model = import_keras(file, spec=spec).model
    x = randn(rng, 4, 3)
    reference = gamma * (x - mean) / np.sqrt(var + 1e-3) + beta
    np.testing.assert_allclose(model.predict(x), reference, RTOL, ATOL)
