"""The Python builder: Keras' documented snippets run as written, errors raise at the line
that made them, shared layers become `shares:` nodes with one set of weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.layers import Activation, Dense, Dropout, Lambda, Permute, RepeatVector, Reshape

HERE = __file__


def test_sequential_list_form_and_add() -> None:
    model = kspec.Sequential(
        [Dense(32, input_dim=784), Activation("relu"), Dense(10), Activation("softmax")]
    )
    assert model.output_shape == (None, 10)
    assert model.layer_names == ["dense", "activation", "dense_1", "activation_1"]
    assert [w.shape for w in model.get_weights()] == [(784, 32), (32,), (32, 10), (10,)]
    added = kspec.Sequential()
    added.add(Dense(32, input_shape=(784,)))
    added.add(Activation("relu"))
    assert added.output_shape == (None, 32)
    assert added.input_shape == (None, 784)


def test_keras_docs_reshape_permute_repeatvector_shapes() -> None:
    model = kspec.Sequential()
    model.add(Reshape((3, 4), input_shape=(12,)))
    assert model.output_shape == (None, 3, 4)
    model.add(Reshape((6, 2)))
    assert model.output_shape == (None, 6, 2)
    model.add(Reshape((-1, 2, 2)))
    assert model.output_shape == (None, 3, 2, 2)
    permuted = kspec.Sequential()
    permuted.add(Permute((2, 1), input_shape=(10, 64)))
    assert permuted.output_shape == (None, 64, 10)
    repeated = kspec.Sequential()
    repeated.add(Dense(32, input_dim=32))
    assert repeated.output_shape == (None, 32)
    repeated.add(RepeatVector(3))
    assert repeated.output_shape == (None, 3, 32)


def test_functional_input_dense_model() -> None:
    a = kspec.Input(shape=(32,))
    b = Dense(32)(a)
    model = kspec.Model(inputs=a, outputs=b)
    assert model.output_shape == (None, 32)
    assert (b.shape, repr(b)) == ((None, 32), "<kspec.Tensor shape=(None, 32) name='dense'>")
    x = np.ones((2, 32), np.float32)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(x), x @ kernel + bias, rtol=1e-5)
    assert kspec.Model(a, b).spec == model.spec  # Keras' positional form


def test_positional_order_and_errors_at_the_calling_line() -> None:
    assert Dropout(0.25).spec.rate == 0.25
    assert Reshape((2, 3)).spec.target_shape == [2, 3]
    with pytest.raises(kspec.SpecError) as bad_units:
        Dense(-3)
    assert str(bad_units.value) == (
        f"{HERE}:{_line_of('Dense(-3)')}:9: error: node 'dense': `units` should be greater "
        "than 0. Received: units=-3"
    )
    with pytest.raises(kspec.SpecError, match=r"unknown parameter `unitz` \(did you mean"):
        Dense(units=3, unitz=4)
    with pytest.raises(kspec.SpecError, match="Dense takes 1 positional argument"):
        Dense(3, "relu")
    x = kspec.Input(shape=(3,))
    with pytest.raises(kspec.SpecError) as bad_shape:
        Reshape((5,))(x)
    assert str(bad_shape.value) == (
        f"{HERE}:{_line_of('Reshape((5,))(x)')}:9: error: node 'reshape': cannot reshape "
        "(None, 3) (3 values) to (5,) (5 values)"
    )


def _line_of(code: str) -> int:
    lines = Path(HERE).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.strip() == code)


def test_failed_add_leaves_the_model_unchanged() -> None:
    model = kspec.Sequential([Dense(3, input_dim=4)])
    with pytest.raises(kspec.SpecError, match="cannot reshape"):
        model.add(Reshape((5,)))
    assert model.layer_names == ["dense"]
    model.add(Dense(2))
    assert model.output_shape == (None, 2)


def test_add_keeps_existing_weights() -> None:
    model = kspec.Sequential([Dense(3, input_dim=4)])
    model.set_weights([np.full((4, 3), 2.0), np.ones(3)])
    model.add(Dense(2))
    np.testing.assert_array_equal(model.get_weights()[0], np.full((4, 3), 2.0))
    assert model.pop().name == "dense_1"
    assert model.output_shape == (None, 3)


def test_sequential_without_input_shape_needs_build() -> None:
    model = kspec.Sequential([Dense(4), Dense(2)])
    with pytest.raises(kspec.SpecError, match="has no input shape yet"):
        _ = model.output_shape
    model.build((None, 7))
    assert model.output_shape == (None, 2)
    assert model.get_layer(index=0).input_shape == (None, 7)


def test_shared_layer_multi_input_multi_output() -> None:
    left, right = kspec.Input(shape=(4,), name="left"), kspec.Input(shape=(4,), name="right")
    encoder = Dense(3, activation="tanh", name="encoder")
    distance = Lambda("abs(x0 - x1)")([encoder(left), encoder(right)])
    same, extra = Dense(1, name="same")(distance), Dense(2)(encoder.nodes[0].outputs[0])
    model = kspec.Model(inputs=[left, right], outputs=[same, extra], name="siamese")
    data = model.get_config()
    assert data["layers"][1] == {"shares": "encoder", "name": "encoder_shared", "inputs": ["right"]}
    assert data["outputs"] == ["same", "dense"]
    assert model.output_shape == [(None, 1), (None, 2)]
    assert model.layer_names == ["encoder", "lambda", "same", "dense"]
    assert len(model.get_weights()) == 6  # the encoder's kernel and bias once
    with pytest.raises(kspec.SpecError, match=r"shares its weights, built for input shapes"):
        encoder(kspec.Input(shape=(6,)))


def test_unconnected_input_and_foreign_tensor_errors() -> None:
    a, b = kspec.Input(shape=(2,), name="a"), kspec.Input(shape=(2,), name="b")
    with pytest.raises(kspec.SpecError, match="the outputs depend on input 'b'"):
        kspec.Model(inputs=a, outputs=Dense(1)(b))
    with pytest.raises(kspec.SpecError, match="a layer is called on kspec tensors"):
        Dense(1)(np.ones((1, 2)))


def test_layer_config_round_trip_and_deserialize() -> None:
    layer = Dense(4, activation="relu", name="hidden")
    config = layer.get_config()
    assert config["type"] == "Dense" and config["units"] == 4
    assert Dense.from_config(config).spec == layer.spec
    assert kspec.layers.deserialize(config).spec == layer.spec
    keras_form = {"class_name": "Dense", "config": {"units": 4, "activation": "relu"}}
    assert kspec.layers.layer_from_config(keras_form).spec.units == 4
    with pytest.raises(kspec.SpecError, match="of type 'Dropout'"):
        Dense.from_config(Dropout(0.1).get_config())


def test_every_registered_type_has_a_constructor() -> None:
    from kspec.schemas.registry import layer_types

    for schema in layer_types():
        cls = getattr(kspec.layers, schema.__name__)
        assert cls.schema is schema
