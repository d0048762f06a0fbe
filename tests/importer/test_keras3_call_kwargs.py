"""Keras 3 configs that pass tensors as keyword call arguments (`inbound_nodes` `kwargs`
holding `__keras_tensor__`s, keras/src/models/functional.py `serialize_node`): mapped to the
kspec layer's named inputs (`call_arguments`), refused by name where kspec's layer has no such
argument. Built and saved by Keras 3, imported, `predict` compared."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from kspec.errors import KerasImportError
from kspec.runtime.keras_io.importer import import_keras
from tests.parity.harness import keras_side


def attention_model() -> Any:
    """MultiHeadAttention called with `key=` and `attention_mask=` by keyword, and one called
    with every tensor by keyword; the inputs' layer order differs from the model's."""
    q, v = keras.Input((4, 8), name="q"), keras.Input((5, 8), name="v")
    k, m = keras.Input((5, 8), name="k"), keras.Input((4, 5), name="m")
    out = keras.layers.MultiHeadAttention(2, 3, name="mha")(q, v, key=k, attention_mask=m)
    both = keras.layers.MultiHeadAttention(2, 3, name="kw")(query=out, value=v)
    model = keras.Model([q, v, k, m], both)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    mask = (rng.uniform(size=(3, 4, 5)) > 0.4).astype("float32")
    mask[:, :, 0] = 1  # every query attends somewhere
    shapes = [(3, 4, 8), (3, 5, 8), (3, 5, 8)]
    return [*(rng.normal(size=s).astype("float32") for s in shapes), mask]


@pytest.mark.parametrize("form", ["m.keras", "live"])
def test_attention_keyword_tensors(tmp_path: Path, form: str) -> None:
    with keras_side():
        model = attention_model()
        if form != "live":
            model.save(tmp_path / form)
        expected = model.predict(inputs(), verbose=0)
    imported = import_keras(model if form == "live" else tmp_path / form).model
    assert [n.inputs for n in imported.spec.layers] == [
        {"query": "q", "value": "v", "key": "k", "attention_mask": "m"},
        {"query": "mha", "value": "v"},
    ]
    assert list(imported.spec.inputs) == ["q", "v", "k", "m"]
    np.testing.assert_allclose(imported.predict(inputs()), expected, rtol=1e-5, atol=1e-6)


def test_keyword_tensor_kspec_lacks_is_refused_by_name(tmp_path: Path) -> None:
    with keras_side():
        x, h, c = keras.Input((5, 3)), keras.Input((4,)), keras.Input((4,))
        y = keras.layers.LSTM(4, name="lstm")(x, initial_state=[h, c])
        keras.Model([x, h, c], y).save(tmp_path / "s.keras")
        q, v = keras.Input((4, 8)), keras.Input((5, 8))
        qm = keras.Input((4,), dtype="bool")
        z = keras.layers.MultiHeadAttention(2, 3, name="mha")(q, v, query_mask=qm)
        keras.Model([q, v, qm], z).save(tmp_path / "q.keras")
    message = (
        "node 'lstm': tensors passed as keyword arguments (`initial_state`): kspec's LSTM "
        "takes no keyword tensors"
    )
    with pytest.raises(KerasImportError, match=re.escape(message)):
        import_keras(tmp_path / "s.keras")
    message = (
        "node 'mha': tensors passed as keyword arguments (`query_mask`): kspec's "
        "MultiHeadAttention takes query, value, key, attention_mask"
    )
    with pytest.raises(KerasImportError, match=re.escape(message)):
        import_keras(tmp_path / "q.keras")


def test_mask_tensor_from_a_model_input_is_refused() -> None:
    """A `mask=` computed by Masking is kspec's own (dropped, see test_keras3_configs); one
    given as a model input cannot be honoured and must not be silently dropped."""
    with keras_side():
        x, m = keras.Input((5, 3)), keras.Input((5,), dtype="bool", name="m")
        model = keras.Model([x, m], keras.layers.LSTM(4, name="lstm")(x, mask=m))
    message = (
        "node 'lstm': a `mask` tensor ('m') is passed to this layer; kspec computes masks "
        "itself (Masking, Embedding(mask_zero=True)) and takes none as input"
    )
    with pytest.raises(KerasImportError, match=re.escape(message)):
        import_keras(model)
