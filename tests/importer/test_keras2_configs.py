"""Keras 2 / tf.keras JSON architectures, in the layouts they saved, translate to kspec specs
that compute what Keras 2 computed (NumPy references).

Layouts: keras 2.2.4 `engine/network.py` `Network.get_config` (`inbound_nodes`
`[[[name, node_index, tensor_index, kwargs]]]`) and `engine/sequential.py` (`{"name",
"layers"}`), `{"class_name", "config"}` initializers, regularizers and constraints
(`utils/generic_utils.py` `serialize_keras_object`); tf.keras 2.x `Node.serialize` for
`TFOpLambda` / `SlicingOpLambda` (other call arguments in the kwargs, `slice_spec`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.errors import KerasImportError
from kspec.schemas.registry import known_type_names
from kspec.spec.keras import translate
from tests.importer.legacy_files import randn, write_weights
from tests.parity.harness import ATOL, RTOL, random_input

GLOROT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None},
}
"""keras 2.2.4's serialized `glorot_uniform`."""


def _dense(name: str, units: int, activation: str = "linear", **extra: object) -> dict:
    config = {"name": name, "trainable": True, "units": units, "activation": activation,
              "use_bias": True, "kernel_initializer": GLOROT,
              "bias_initializer": {"class_name": "Zeros", "config": {}},
              "kernel_regularizer": {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}},
              "bias_regularizer": None, "activity_regularizer": None,
              "kernel_constraint": {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}},
              "bias_constraint": None, **extra}  # fmt: skip
    return {"class_name": "Dense", "config": config}


def _call(layer: dict, *inbound: list) -> dict:
    return {**layer, "name": layer["config"]["name"], "inbound_nodes": [list(inbound)]}


INNER = {"class_name": "Sequential", "config": {"name": "block", "layers": [
    _dense("inner_1", 4, "relu", batch_input_shape=[None, 3], dtype="float32"),
]}}  # fmt: skip
"""A nested keras 2.2.4 Sequential (its first layer declares the input)."""

KERAS2 = {
    "class_name": "Model",
    "keras_version": "2.2.4",
    "backend": "tensorflow",
    "config": {
        "name": "model_1",
        "layers": [
            {"class_name": "InputLayer", "name": "x", "inbound_nodes": [], "config": {
                "batch_input_shape": [None, 3], "dtype": "float32", "sparse": False,
                "name": "x"}},
            _call(INNER | {"config": {**INNER["config"], "name": "block"}}, ["x", 0, 0, {}]),
            _call(_dense("out", 4, "hard_sigmoid"), ["block", 0, 0, {}]),
            _call({"class_name": "TFOpLambda", "config": {
                "name": "tf.math.multiply", "trainable": True, "dtype": "float32",
                "function": "math.multiply"}},
                ["out", 0, 0, {"y": 3.0, "name": None}]),
            _call({"class_name": "SlicingOpLambda", "config": {
                "name": "tf.__operators__.getitem", "trainable": True, "dtype": "float32",
                "function": "__operators__.getitem"}},
                ["tf.math.multiply", 0, 0, {"slice_spec": [
                    {"start": None, "stop": None, "step": None},
                    {"start": 1, "stop": None, "step": None}]}]),
            _call({"class_name": "TFOpLambda", "config": {
                "name": "tf.math.reduce_mean", "function": "math.reduce_mean"}},
                ["tf.__operators__.getitem", 0, 0, {"axis": -1, "keepdims": True,
                                                    "name": None}]),
        ],
        "input_layers": [["x", 0, 0]],
        "output_layers": [["tf.math.reduce_mean", 0, 0], ["out", 0, 0]],
    },
}  # fmt: skip


def test_keras2_functional_nested_sequential_and_tf_ops() -> None:
    translation = translate(json.dumps(KERAS2), known_types=known_type_names())
    report = str(translation.report)
    assert (
        "converted out: `activation: hard_sigmoid` is Keras 1/2's clip(0.2 x + 0.5, 0, 1)" in report
    )
    by_name = {n["name"]: n for n in translation.tree["layers"]}
    assert by_name["tf.math.multiply"]["expression"] == "x * 3.0"
    assert by_name["tf.__operators__.getitem"]["expression"] == "x[:, 1:]"
    assert by_name["tf.math.reduce_mean"]["expression"] == "mean(x, axis=-1, keepdims=True)"
    assert translation.layers["block"].nested["inner_1"].keras_version == "2.2.4"
    model = kspec.load(translation.tree)
    assert model.get_layer("out").spec.kernel_initializer.type == "VarianceScaling"
    rng = np.random.default_rng(0)
    w1, b1, w2, b2 = (
        rng.normal(0, 0.7, s).astype(np.float32) for s in [(3, 4), (4,), (4, 4), (4,)]
    )
    model.set_weights([w1, b1, w2, b2])
    x = random_input((3,))
    out = np.clip(0.2 * (np.maximum(x @ w1 + b1, 0) @ w2 + b2) + 0.5, 0, 1)
    mean = (out * 3.0)[:, 1:].mean(-1, keepdims=True)
    actual = model.predict(x)
    np.testing.assert_allclose(actual[0], mean, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(actual[1], out, rtol=RTOL, atol=ATOL)


def test_keras2_variance_scaling_normal_is_truncated() -> None:
    layer = _dense("d", 2, batch_input_shape=[None, 3])
    layer["config"]["kernel_initializer"] = {"class_name": "VarianceScaling", "config": {
        "scale": 2.0, "mode": "fan_in", "distribution": "normal", "seed": None}}  # fmt: skip
    translation = translate({"class_name": "Sequential", "keras_version": "2.2.4",
                             "config": {"name": "s", "layers": [layer]}})  # fmt: skip
    init = translation.tree["layers"][0]["kernel_initializer"]
    config = {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}
    assert init == {"class_name": "VarianceScaling", "config": config}
    assert kspec.validate(translation.tree).layers[0].kernel_initializer.distribution == (
        "truncated_normal"
    )


def test_gru_without_reset_after_is_keras2s() -> None:
    config = {"name": "gru", "units": 2, "batch_input_shape": [None, 4, 3]}
    gru = {"class_name": "GRU", "config": config}
    translation = translate({"class_name": "Sequential", "keras_version": "2.1.2",
                             "config": [gru]})  # fmt: skip
    assert translation.tree["layers"][0]["reset_after"] is False
    assert translation.tree["inputs"] == {"gru_input": {"shape": [4, 3]}}


def test_unknown_tf_op_is_refused_by_name() -> None:
    config = json.loads(json.dumps(KERAS2))
    config["config"]["layers"][3]["config"]["function"] = "math.bessel_i0"
    with pytest.raises(KerasImportError) as error:
        translate(config)
    assert str(error.value) == (
        "error: node 'tf.math.multiply': TF op `tf.math.bessel_i0` has no kspec translation; "
        "write the step as a kspec Lambda `expression`"
    )


@pytest.mark.slow
def test_cli_import_of_a_bytecode_lambda_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    lam = {"class_name": "Lambda", "name": "square", "inbound_nodes": [[["d", 0, 0, {}]]],
           "config": {"name": "square", "function": ["4wEAAAAAAAAA", None, None],
                      "function_type": "lambda", "output_shape": None,
                      "output_shape_type": "raw", "arguments": {}}}  # fmt: skip
    config = json.loads(json.dumps(KERAS2))
    config["config"]["layers"][1:] = [_call(_dense("d", 2), ["x", 0, 0, {}]), lam]
    config["config"]["output_layers"] = [["square", 0, 0]]
    rng = np.random.default_rng(0)
    weights = [("d/kernel:0", randn(rng, 3, 2)), ("d/bias:0", randn(rng, 2))]
    file = write_weights(tmp_path / "m.h5", [("d", weights)], "2.2.4", "tensorflow",
                         model_config=json.dumps(config))  # fmt: skip
    command = [sys.executable, "-m", "kspec.runtime.cli", "import", str(file), "-o",
               str(tmp_path / "out")]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 1, run.stderr
    assert "node 'square': Lambda layer carries marshalled Python bytecode" in run.stderr
    assert "functions={'square': fn}" in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]
