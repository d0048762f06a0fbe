"""Keras 3 `model.to_json()` configs translate to kspec specs that predict as Keras does."""

from __future__ import annotations

import keras
import pytest

from kspec.errors import KerasImportError
from tests.importer.keras3_models import assert_import_parity, randomise, translated
from tests.parity.harness import assert_parity, random_input

L = keras.layers


def _nested_model(dtype: str) -> keras.Model:
    x = keras.Input((8,), name="x")
    h = L.Dense(4, activation="tanh", dtype=dtype, name="dense")(x)
    inner = keras.Sequential(
        [keras.Input((4,)), L.Dense(3, activation="relu", name="dense_1")], name="inner"
    )
    h = inner(h)
    y = h[:, 0:2] + h[:, 1:3]
    z = keras.ops.mean(y, axis=-1, keepdims=True) * 2.0
    return keras.Model(x, [z, y])


def test_functional_with_nested_sequential_ops_and_dtype_policy() -> None:
    translation = translated(_nested_model("mixed_float16"))
    report = str(translation.report)
    assert "converted dense: dtype policy mixed_float16" in report
    assert translation.tree["layers"][0]["dtype"] == "mixed_float16"
    assert translation.layers["inner"].nested["dense_1"].class_name == "Dense"
    assert {n["name"]: n["type"] for n in translation.tree["layers"]} == {
        "dense": "Dense", "inner": "Model", "get_item": "Lambda", "get_item_1": "Lambda",
        "add": "Add", "mean": "Lambda", "multiply": "Lambda",
    }  # fmt: skip
    model = randomise(_nested_model("mixed_float16"))
    assert_parity(translated(model).tree, model, random_input((8,)), rtol=2e-2, atol=2e-2)


def test_shared_layer_calls_become_shared_nodes() -> None:
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    dense = L.Dense(3, name="shared")
    merged = L.Concatenate()([dense(a), dense(b)])
    model = keras.Model([a, b], L.Dense(2)(merged))
    translation = assert_import_parity(model, [random_input((5,)), random_input((5,), 1)])
    nodes = translation.tree["layers"]
    assert nodes[1] == {"shares": "shared", "name": "shared_1", "inputs": ["b"]}


def test_ops_graph_predicts_as_keras() -> None:
    x = keras.Input((6,), name="x")
    h = L.Dense(6)(x)
    y = keras.ops.concatenate([keras.ops.exp(h[:, :3]), h[:, 3:] - 1.0], axis=-1)
    y = keras.ops.reshape(y, (-1, 3, 2))
    y = keras.ops.sum(keras.ops.square(y), axis=1)
    model = keras.Model(x, y)
    assert_import_parity(model, random_input((6,)))


def test_unknown_op_is_refused_by_name() -> None:
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.ops.cumprod(L.Dense(4)(x), axis=1))
    with pytest.raises(KerasImportError) as error:
        translated(model)
    assert str(error.value) == (
        "<keras config>:1:1326: error: node 'cumprod': Keras op `Cumprod` has no kspec "
        "translation; write the step as a kspec Lambda `expression`"
    )
