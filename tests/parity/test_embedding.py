"""Embedding parity with Keras 3, its defined behaviour for out-of-range ids, its Keras 1
names, and how masks flow (or are refused) through a graph at compile time."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import keras
import numpy as np
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning, SpecError
from tests.parity.harness import assert_parity, keras_side

L = keras.layers


def _ids(shape: tuple[int, ...], vocab: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, shape).astype(np.int32)


def _spec(layers: list[dict], shape: list[int | None], **inputs: object) -> dict:
    return {
        "kspec": 1,
        "inputs": {"ids": {"shape": shape, "dtype": "int32", **inputs}},
        "layers": layers,
    }


@pytest.mark.parametrize(
    ("params", "keras_kwargs"),
    [
        ({"input_dim": 12, "output_dim": 4}, {}),
        ({"input_dim": 9, "output_dim": 3, "mask_zero": True}, {"mask_zero": True}),
        ({"input_dim": 8, "output_dim": 5, "lora_rank": 2}, {"lora_rank": 2}),
    ],
)
def test_embedding_parity(params: dict, keras_kwargs: dict) -> None:
    keras.utils.set_random_seed(0)
    vocab, dim = params["input_dim"], params["output_dim"]
    with keras_side():
        keras_model = keras.Sequential(
            [keras.Input((6,), dtype="int32"), L.Embedding(vocab, dim, **keras_kwargs)]
        )
        if "lora_rank" in keras_kwargs:  # LoRA starts at B = 0: make the delta visible
            layer = keras_model.layers[0]
            layer.lora_embeddings_b.assign(np.full((2, dim), 0.3, np.float32))
    model = assert_parity(
        _spec([{"type": "Embedding", **params}], [6]), keras_model, _ids((5, 6), vocab)
    )
    assert model.spec.layers[0].embeddings_initializer.type == "RandomUniform"


def test_embedding_mask_matches_keras() -> None:
    ids = _ids((4, 7), 5)
    ids[0, 3:] = 0
    with keras_side():
        expected = np.asarray(L.Embedding(5, 2, mask_zero=True).compute_mask(ids))
    model = kspec.load(_spec([{"type": "Embedding", "input_dim": 5, "output_dim": 2}], [7]))
    node = model.compiled.graph.nodes[0]
    spec = node.spec.model_copy(update={"mask_zero": True})
    (mask,) = node.lowering.compute_mask(spec, [None], [jnp.asarray(ids)])
    np.testing.assert_array_equal(np.asarray(mask), expected)


def test_out_of_range_ids_give_zero_vectors() -> None:
    model = kspec.load(_spec([{"type": "Embedding", "input_dim": 4, "output_dim": 3}], [5]))
    table = np.arange(12, dtype=np.float32).reshape(4, 3) + 1.0
    model.set_weights([table])
    out = model.predict(np.array([[0, 3, 4, -1, 100]], np.int32))
    np.testing.assert_array_equal(out[0], [table[0], table[3], [0, 0, 0], [0, 0, 0], [0, 0, 0]])


def test_input_length_declares_the_input_and_is_checked() -> None:
    first = {"type": "Embedding", "input_dim": 10, "output_dim": 2, "input_length": 6}
    model = kspec.load({"kspec": 1, "layers": [first]})
    assert model.spec.inputs["input"].shape == [6]
    assert model.spec.inputs["input"].dtype == "int32"
    assert model.output_shape == (None, 6, 2)
    with pytest.raises(SpecError) as info:
        kspec.load(_spec([first], [5]))
    assert str(info.value).endswith(
        "node 'embedding': input_length=6 expects ids of shape (None, 6). Received: shape=(None, 5)"
    )


def test_keras1_names_and_removed_dropout() -> None:
    old = {"type": "Embedding", "input_dim": 5, "output_dim": 2, "init": "zeros"}
    old |= {"W_regularizer": "l2", "W_constraint": "non_neg"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = kspec.load(_spec([old], [3]))
    messages = [str(w.message) for w in caught if w.category is KspecDeprecationWarning]
    assert len(messages) == 3
    assert (
        "Embedding: `init` is a Keras 1 name; use `embeddings_initializer` instead" in messages[0]
    )
    layer = model.spec.layers[0]
    assert layer.embeddings_initializer.type == "Zeros"
    assert layer.embeddings_regularizer.type == "L2"
    assert layer.embeddings_constraint.type == "NonNeg"
    with pytest.raises(SpecError, match="embedding dropout is now a separate layer"):
        kspec.load(
            _spec([{"type": "Embedding", "input_dim": 5, "output_dim": 2, "dropout": 0.2}], [3])
        )


# Mask flow ------------------------------------------------------------------------------------


def test_masked_tensor_into_a_layer_that_cannot_honour_it_is_a_located_error() -> None:
    text = """kspec: 1
inputs: {ids: {shape: [6], dtype: int32}}
layers:
  - {type: Embedding, input_dim: 10, output_dim: 4, mask_zero: true}
  - {type: Dropout, rate: 0.1}
  - {type: Flatten}
"""
    with pytest.raises(SpecError) as info:
        kspec.load(text)
    assert str(info.value) == (
        "<string>:6:5: error: node 'flatten': Flatten cannot honour the mask that node "
        "'embedding' puts on its input (Keras would silently drop it); consume the mask "
        "first (an RNN, GlobalAveragePooling1D) or do not create it"
    )


def test_rnn_without_return_sequences_consumes_the_mask() -> None:
    layers = [
        {"type": "Embedding", "input_dim": 10, "output_dim": 4, "mask_zero": True},
        {"type": "LSTM", "units": 3},
        {"type": "Flatten"},
    ]
    assert kspec.load(_spec(layers, [6])).output_shape == (None, 3)
    layers[1] = {"type": "LSTM", "units": 3, "return_sequences": True}
    with pytest.raises(
        SpecError, match="node 'flatten': Flatten cannot honour the mask that node 'lstm'"
    ):
        kspec.load(_spec(layers, [6]))


def test_mask_flows_through_dense_and_dropout_into_the_rnn() -> None:
    """Embedding(mask_zero) -> Dense -> Dropout -> GRU: the GRU still skips padded steps."""
    keras.utils.set_random_seed(1)
    ids = _ids((4, 6), 9) + 1
    ids[0, 2:] = 0
    ids[1, 5:] = 0
    ids[2, :1] = 0
    spec = _spec(
        [
            {"type": "Embedding", "input_dim": 10, "output_dim": 4, "mask_zero": True},
            {"type": "Dense", "units": 3, "activation": "tanh"},
            {"type": "Dropout", "rate": 0.5},
            {"type": "GRU", "units": 2, "return_sequences": True},
        ],
        [6],
    )
    with keras_side():
        keras_model = keras.Sequential(
            [
                keras.Input((6,), dtype="int32"),
                L.Embedding(10, 4, mask_zero=True),
                L.Dense(3, activation="tanh"),
                L.Dropout(0.5),
                L.GRU(2, return_sequences=True),
            ]
        )
    model = assert_parity(spec, keras_model, ids)
    out = model.predict(ids)
    np.testing.assert_array_equal(out[0, 2:], np.broadcast_to(out[0, 1], (4, 2)))
    np.testing.assert_array_equal(out[2, 0], [0.0, 0.0])
