"""Keras 3 `model.to_json()` configs translate to kspec specs that predict as Keras does."""

from __future__ import annotations

import json

import keras
import pytest

from kspec.errors import KerasImportError
from tests.importer.keras3_models import assert_import_parity, translated
from tests.parity.harness import assert_parity, keras_side, random_input

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
    keras_model = _nested_model("mixed_float16")
    translation = translated(keras_model)
    report = str(translation.report)
    assert "converted dense: dtype policy mixed_float16" in report
    assert translation.tree["layers"][0]["dtype"] == "mixed_float16"
    assert translation.layers["inner"].nested["dense_1"].class_name == "Dense"
    # Keras numbers op layers by a process-wide counter (`add`, `add_8`, ...): names come from
    # the model, the types are what the test decides.
    nodes = translation.tree["layers"]
    config_names = [layer["name"] for layer in keras_model.get_config()["layers"]]
    assert [n["name"] for n in nodes] == config_names[1:]
    assert [n["type"] for n in nodes] == [
        "Dense", "Model", "Lambda", "Lambda", "Add", "Lambda", "Lambda",
    ]  # fmt: skip
    model = _nested_model("mixed_float16")
    assert_parity(translated(model).tree, model, random_input((8,)), rtol=2e-2, atol=2e-2)


def test_shared_layer_calls_become_shared_nodes() -> None:
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    dense = L.Dense(3, name="shared")
    merged = L.Concatenate()([dense(a), dense(b)])
    model = keras.Model([a, b], L.Dense(2)(merged))
    translation = assert_import_parity(model, [random_input((5,)), random_input((5,), 1)])
    nodes = translation.tree["layers"]
    assert nodes[1] == {"shares": "shared", "name": "shared_1", "inputs": ["b"]}


def test_bidirectional_recurrent_layers_import() -> None:
    """Keras writes `zero_output_for_mask: true` into the layers Bidirectional wraps (kspec's
    Bidirectional always behaves so); a plain RNN's default `false` is kspec's behaviour."""
    with keras_side():
        x = keras.Input((6, 3), name="x")
        h = L.Bidirectional(L.LSTM(4, return_sequences=True))(x)
        model = keras.Model(x, L.GRU(2)(h))
    translation = assert_import_parity(model, random_input((6, 3)))
    assert translation.tree["layers"][0]["layer"]["type"] == "LSTM"


def test_masking_in_a_functional_model_imports() -> None:
    """Keras 3 records the mask Masking hands the next layer as `NotEqual`/`Any` ops passed
    as `mask=`: they are dropped (kspec propagates the mask) and the result is Keras's."""
    with keras_side():
        x = keras.Input((6, 3), name="x")
        h = L.LSTM(4, return_sequences=True)(L.Masking()(x))
        model = keras.Model(x, L.GlobalAveragePooling1D()(h))
    assert [c["class_name"] for c in json.loads(model.to_json())["config"]["layers"]][
        1
    ] == "NotEqual"
    inputs = random_input((6, 3))
    inputs[0, 4:] = 0.0
    inputs[2, :2] = 0.0
    translation = assert_import_parity(model, inputs)
    assert [n["type"] for n in translation.tree["layers"]] == [
        "Masking",
        "LSTM",
        "GlobalAveragePooling1D",
    ]
    assert "op computing a mask" in str(translation.report)


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
    text = model.to_json()  # the op's layer object; its column depends on Keras' auto names
    column = text.rfind('{"module"', 0, text.index('"class_name": "Cumprod"')) + 1
    assert str(error.value) == (
        f"<keras config>:1:{column}: error: node 'cumprod': Keras op `Cumprod` has no kspec "
        "translation; write the step as a kspec Lambda `expression`"
    )


def test_preprocessing_stack_and_long_conv_names() -> None:
    model = keras.Sequential(
        [
            keras.Input((9, 8, 3)),
            L.Rescaling(1 / 255.0, offset=-0.5),
            L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 0.5]),
            L.Resizing(7, 6),
            L.CenterCrop(5, 4),
            L.Convolution2D(4, 3, activation="relu"),
            L.Identity(),
            L.Flatten(),
            L.Dense(2),
        ]
    )
    translation = assert_import_parity(model, random_input((9, 8, 3)) * 100.0)
    types = [n["type"] for n in translation.tree["layers"]]
    assert types == [
        "Rescaling", "Normalization", "Resizing", "CenterCrop", "Conv2D", "Identity",
        "Flatten", "Dense",
    ]  # fmt: skip


def test_adapted_normalization_state_imports_as_weights() -> None:
    model = keras.Sequential([keras.Input((4,)), L.Normalization(), L.Dense(2)])
    model.layers[0].adapt(random_input((4,), batch=20) * 3.0 + 1.0)
    translation = translated(model)
    assert translation.tree["layers"][0]["mean"] is None  # state: Keras' adapted weights
    assert_import_parity(model, random_input((4,)))


def test_frozen_nested_model_stays_frozen() -> None:
    inner = keras.Sequential([keras.Input((3,)), L.Dense(2, name="inner_dense")], name="enc")
    inner.trainable = False
    x = keras.Input((3,), name="x")
    model = keras.Model(x, L.Dense(1, name="head")(inner(x)))
    translation = assert_import_parity(model, random_input((3,)))
    node = translation.tree["layers"][0]
    assert (node["type"], node["name"], node["trainable"]) == ("Model", "enc", False)


def test_keras_3_15_attention_options_import() -> None:
    """Keras 3.15 writes `use_gate` and `sliding_window` into every MultiHeadAttention and
    GroupQueryAttention config (not `flash_attention`, a runtime choice) and the call's
    `use_causal_mask` into the node's kwargs (a kspec field); a padded, gated, windowed,
    causal decoder imports and predicts as Keras does."""
    with keras_side():
        ids = keras.Input((6,), dtype="int32", name="ids")
        e = L.Embedding(9, 8, mask_zero=True)(ids)
        h = L.MultiHeadAttention(2, 4, use_gate=True, sliding_window=3)(e, e, use_causal_mask=True)
        h = L.GroupQueryAttention(2, 4, 2, use_gate=True, sliding_window=2)(h, h)
        model = keras.Model(ids, L.GlobalAveragePooling1D()(h))
    layers = json.loads(model.to_json())["config"]["layers"]
    written = {k: layers[2]["config"][k] for k in ("use_gate", "sliding_window")}
    assert written == {"use_gate": True, "sliding_window": 3}
    tokens = random_input((6,)).argsort(axis=1).astype("int32") + 1
    tokens[0, 4:], tokens[3, 2:] = 0, 0
    translation = assert_import_parity(model, tokens)
    nodes = [n for n in translation.tree["layers"] if "Attention" in n["type"]]
    assert [(n["use_gate"], n["sliding_window"]) for n in nodes] == [(True, 3), (True, 2)]
    assert nodes[0]["use_causal_mask"] is True and "use_causal_mask" not in nodes[1]
    assert "call argument `use_causal_mask=True` as a field" in str(translation.report)


def test_shared_attention_layer_called_with_other_call_arguments_is_refused() -> None:
    """A kspec shared node takes its layer's fields, `use_causal_mask` included: a Keras
    layer called causal once and not again cannot be one kspec layer."""
    x = keras.Input((5, 4), name="x")
    mha = L.MultiHeadAttention(2, 2, name="att")
    model = keras.Model(x, L.Add()([mha(x, x, use_causal_mask=True), mha(x, x)]))
    with pytest.raises(KerasImportError) as error:
        translated(model)
    text = model.to_json()
    column = text.rfind('{"module"', 0, text.index('"class_name": "MultiHeadAttention"')) + 1
    assert str(error.value) == (
        f"<keras config>:1:{column}: error: node 'att': called with {{'use_causal_mask': True}} "
        "first and {} here; a shared node shares fields: use two layers"
    )
