"""Keras 1 JSON architectures, written in the layouts Keras 1 saved, translate to kspec specs
that compute what Keras 1 computed (NumPy references of the Keras 1 layers).

Layouts: keras 1.1 `models.py` `Sequential.get_config` (a list of `{class_name, config}`,
`to_json` wraps it as `{"class_name": "Sequential", "config": [...]}`; earlier files hold the
bare list); keras 1.2 `engine/topology.py` `Container.get_config` (`layers` with
`inbound_nodes` `[[[name, node_index, tensor_index]]]`, `input_layers`, `output_layers`);
each layer's `get_config` from keras 1.2 `layers/core.py`, `recurrent.py`, `embeddings.py`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import kspec
from kspec.errors import KerasImportError
from kspec.runtime.keras_io.importer import import_keras
from kspec.schemas.registry import known_type_names
from kspec.spec.keras import translate
from tests.parity.harness import ATOL, RTOL, random_input


def _load(config: object) -> tuple[kspec.Model, str]:
    imported = import_keras(json.dumps(config))  # no warning: the report says every rename
    return imported.model, imported.report()


def _hard_sigmoid(z: np.ndarray) -> np.ndarray:  # keras 1.2 backend: clip(0.2 x + 0.5, 0, 1)
    return np.clip(0.2 * z + 0.5, 0.0, 1.0)


def _dense(name: str, units: int, activation: str = "linear", **extra: object) -> dict:
    config = {"output_dim": units, "init": "glorot_uniform", "activation": activation,
              "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
              "W_constraint": None, "b_constraint": None, "bias": True, "input_dim": None,
              "name": name, "trainable": True, **extra}  # fmt: skip
    return {"class_name": "Dense", "config": config}


KERAS11_LSTM = [
    {"class_name": "Embedding", "config": {
        "input_dim": 20, "output_dim": 4, "init": "uniform", "input_length": 5,
        "W_regularizer": None, "activity_regularizer": None, "W_constraint": None,
        "mask_zero": False, "dropout": 0.0, "name": "embedding_1", "trainable": True,
        "batch_input_shape": [None, 5], "input_dtype": "int32"}},
    {"class_name": "LSTM", "config": {
        "output_dim": 3, "init": "glorot_uniform", "inner_init": "orthogonal",
        "forget_bias_init": "one", "activation": "tanh", "inner_activation": "hard_sigmoid",
        "W_regularizer": None, "U_regularizer": None, "b_regularizer": None,
        "dropout_W": 0.0, "dropout_U": 0.0, "return_sequences": False,
        "go_backwards": False, "stateful": False, "unroll": False, "consume_less": "cpu",
        "input_dim": 4, "input_length": None, "name": "lstm_1", "trainable": True}},
    _dense("dense_1", 2, "softmax", input_dim=3),
]  # fmt: skip
"""`model.to_json()` of `Sequential([Embedding(20, 4, input_length=5), LSTM(3), Dense(2,
activation='softmax')])` under Keras 1.1 (each layer's get_config, in order)."""


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare-list", "keras-1.1-to-json"])
def test_keras11_sequential_lstm(wrapped: bool) -> None:
    config = (
        {"class_name": "Sequential", "config": KERAS11_LSTM, "keras_version": "1.1.0"}
        if wrapped
        else KERAS11_LSTM
    )
    model, report = _load(config)
    assert "lstm_1: `recurrent_activation: legacy_hard_sigmoid`" not in report
    assert "converted lstm_1: `inner_activation: hard_sigmoid` is Keras 1/2's" in report
    rng = np.random.default_rng(0)
    emb, w, u, b, dw, db = (rng.normal(0, 0.6, s).astype(np.float32)
                            for s in [(20, 4), (4, 12), (3, 12), (12,), (3, 2), (2,)])  # fmt: skip
    model.set_weights([emb, w, u, b, dw, db])
    ids = rng.integers(0, 20, (6, 5)).astype(np.int32)
    # keras 1.2 LSTM.step, gates i, f, c, o (kspec holds Keras 2's concatenated layout)
    h, c = np.zeros((6, 3)), np.zeros((6, 3))
    for t in range(5):
        z = emb[ids[:, t]] @ w + h @ u + b
        i, f, o = _hard_sigmoid(z[:, :3]), _hard_sigmoid(z[:, 3:6]), _hard_sigmoid(z[:, 9:])
        c = f * c + i * np.tanh(z[:, 6:9])
        h = o * np.tanh(c)
    logits = h @ dw + db
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(model.predict(ids), expected, rtol=RTOL, atol=ATOL)


def _input(name: str, size: int) -> dict:
    config = {"batch_input_shape": [None, size], "input_dtype": "float32", "sparse": False,
              "name": name}  # fmt: skip
    return {"class_name": "InputLayer", "config": config, "name": name, "inbound_nodes": []}


def _node(layer: dict, *inbound: tuple[str, int]) -> dict:
    name = layer["config"]["name"]
    return {**layer, "name": name, "inbound_nodes": [[[n, k, 0] for n, k in inbound]]}


KERAS1_MERGE = {
    "class_name": "Model",
    "keras_version": "1.2.2",
    "config": {
        "name": "model_1",
        "layers": [
            _input("left", 4),
            _input("right", 4),
            {**_dense("shared", 3, "tanh"), "name": "shared",
             "inbound_nodes": [[["left", 0, 0]], [["right", 0, 0]]]},
            _node({"class_name": "Merge", "config": {
                "name": "merge_1", "mode": "concat", "concat_axis": -1, "dot_axes": -1,
                "mode_type": "raw", "output_shape": None, "output_shape_type": "raw",
                "output_mask": None, "output_mask_type": "raw", "arguments": {}}},
                ("shared", 0), ("shared", 1)),
            _node({"class_name": "MaxoutDense", "config": {
                "output_dim": 2, "nb_feature": 3, "init": "glorot_uniform", "W_regularizer": None,
                "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
                "b_constraint": None, "bias": True, "input_dim": None, "name": "maxout"}},
                ("merge_1", 0)),
            _node({"class_name": "Highway", "config": {
                "init": "glorot_uniform", "activation": "relu", "W_regularizer": None,
                "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
                "b_constraint": None, "bias": True, "input_dim": None, "name": "highway"}},
                ("maxout", 0)),
        ],
        "input_layers": [["left", 0, 0], ["right", 0, 0]],
        "output_layers": [["highway", 0, 0]],
    },
}  # fmt: skip
"""A Keras 1.2 functional model: a Dense shared by two inputs, a `Merge` of its two calls,
then Keras 1's MaxoutDense and Highway."""


def test_keras1_functional_with_merge_shared_layer_maxout_highway() -> None:
    model, report = _load(KERAS1_MERGE)
    assert "converted merge_1: Keras 1 Merge mode 'concat'" in report
    assert model.layer_names == ["shared", "merge_1", "maxout", "highway"]
    shared_call = model.spec.layers[1]
    assert (shared_call.shares, shared_call.name, shared_call.inputs) == (
        "shared",
        "shared_1",
        ["right"],
    )
    rng = np.random.default_rng(1)
    shapes = [(4, 3), (3,), (3, 6, 2), (3, 2), (2, 2), (2, 2), (2,), (2,)]
    weights = [rng.normal(0, 0.7, s).astype(np.float32) for s in shapes]
    model.set_weights(weights)
    sw, sb, mw, mb, hw, hcw, hb, hcb = weights
    left, right = random_input((4,)), random_input((4,), seed=1)
    merged = np.concatenate([np.tanh(left @ sw + sb), np.tanh(right @ sw + sb)], -1)
    maxout = (np.tensordot(merged, mw, axes=[[1], [1]]) + mb[None]).max(axis=1)
    gate = 1 / (1 + np.exp(-(maxout @ hcw + hcb)))
    expected = np.maximum(maxout @ hw + hb, 0) * gate + (1 - gate) * maxout
    np.testing.assert_allclose(model.predict([left, right]), expected, rtol=RTOL, atol=ATOL)


def test_time_distributed_dense_and_atrous_convolution() -> None:
    config = [
        {"class_name": "AtrousConvolution1D", "config": {
            "nb_filter": 2, "filter_length": 2, "atrous_rate": 2, "init": "glorot_uniform",
            "activation": "linear", "border_mode": "valid", "subsample_length": 1,
            "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
            "W_constraint": None, "b_constraint": None, "bias": True, "input_dim": 3,
            "input_length": 6, "name": "atrous", "batch_input_shape": [None, 6, 3],
            "input_dtype": "float32"}},
        {"class_name": "TimeDistributedDense", "config": {
            "output_dim": 4, "init": "glorot_uniform", "activation": "linear",
            "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
            "W_constraint": None, "b_constraint": None, "bias": True, "input_dim": 2,
            "input_length": None, "name": "tdd"}},
    ]  # fmt: skip
    model, report = _load(config)
    assert "converted tdd: Keras 1 TimeDistributedDense -> TimeDistributed(Dense)" in report
    rng = np.random.default_rng(2)
    k, kb, w, b = (
        rng.normal(0, 0.7, s).astype(np.float32) for s in [(2, 3, 2), (2,), (2, 4), (4,)]
    )
    model.set_weights([k, kb, w, b])
    x = random_input((6, 3))
    # dilation 2, valid: y[t] = x[t] @ k[0] + x[t + 2] @ k[1]
    conv = np.stack([x[:, t] @ k[0] + x[:, t + 2] @ k[1] + kb for t in range(4)], 1)
    np.testing.assert_allclose(model.predict(x), conv @ w + b, rtol=RTOL, atol=ATOL)


BYTECODE = "4wEAAAAAAAAAAQAAAAIAAABDAAAAcwgAAAB8AABkAQAUUygCAAAATukCAAAAqQA="
"""keras 1.2 `generic_utils.func_dump` of `lambda x: x * 2`: base64 of marshalled bytecode."""


def test_bytecode_lambda_is_refused_with_both_safe_routes() -> None:
    lam = {"class_name": "Lambda", "config": {
        "name": "double", "function": [BYTECODE, None, None],
        "function_type": "lambda", "output_shape": None, "output_shape_type": "raw",
        "arguments": {}}}  # fmt: skip
    config = [_dense("dense_1", 2, batch_input_shape=[None, 3]), lam]
    with pytest.raises(KerasImportError) as error:
        translate(config)
    assert str(error.value) == (
        "error: node 'double': Lambda layer carries marshalled Python bytecode, which kspec "
        "never runs. Either write it as a kspec Lambda `expression` (`{type: Lambda, name: "
        "double, expression: 'x * 2'}` in the spec), or give the function at import: "
        "`functions={'double': fn}`"
    )
    kept = translate(config, functions=["double"]).tree["layers"][1]
    assert kept == {"type": "Lambda", "function": "double", "name": "double"}


def test_unknown_types_are_listed_together_with_the_plugin_route() -> None:
    config = {"class_name": "Sequential", "config": [
        _dense("dense_1", 2, batch_input_shape=[None, 3]),
        {"class_name": "LayerScaleX", "config": {"name": "scale_a"}},
        {"class_name": "Frobnicate", "config": {"name": "frob"}},
        {"class_name": "LayerScaleX", "config": {"name": "scale_b"}},
    ]}  # fmt: skip
    with pytest.raises(KerasImportError) as error:
        translate(config, known_types=known_type_names())
    assert str(error.value) == (
        "error: unknown Keras layer types Frobnicate, LayerScaleX (layers 'scale_a' "
        "(LayerScaleX), 'frob' (Frobnicate), 'scale_b' (LayerScaleX)); kspec has no built-in "
        "layer of these names. Register a kspec layer for each (`kspec.register_layer`, see "
        'docs/composition.md) and map it at import: `custom_objects={"Frobnicate": '
        'MyFrobnicate, "LayerScaleX": MyLayerScaleX}`'
    )
    mapped = translate(config, custom_objects={"LayerScaleX": "Dense", "Frobnicate": "Dense"})
    assert [n["type"] for n in mapped.tree["layers"]] == ["Dense"] * 4


def test_keras1_sequential_merge_of_models() -> None:
    def branch(name: str) -> dict:
        layer = _dense(f"{name}_dense", 2, "tanh", batch_input_shape=[None, 3])
        return {"class_name": "Sequential", "config": [layer]}

    merge = {"class_name": "Merge", "config": {
        "name": "merge_1", "mode": "sum", "concat_axis": -1, "dot_axes": -1, "mode_type": "raw",
        "output_shape": None, "output_shape_type": "raw", "arguments": {},
        "layers": [branch("left"), branch("right")]}}  # fmt: skip
    model, report = _load([merge, _dense("out", 1)])
    assert "converted merge_1: Keras 1 Merge mode 'sum'" in report
    assert list(model.spec.inputs) == ["left_dense_input", "right_dense_input"]
    rng = np.random.default_rng(4)
    lw, lb, rw, rb, ow, ob = (rng.normal(0, 0.7, s).astype(np.float32)
                              for s in [(3, 2), (2,), (3, 2), (2,), (2, 1), (1,)])  # fmt: skip
    model.set_weights([lw, lb, rw, rb, ow, ob])
    a, b = random_input((3,)), random_input((3,), seed=1)
    expected = (np.tanh(a @ lw + lb) + np.tanh(b @ rw + rb)) @ ow + ob
    np.testing.assert_allclose(model.predict([a, b]), expected, rtol=RTOL, atol=ATOL)
