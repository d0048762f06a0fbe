"""Exporting what a flat layer list cannot hold: sub-models (a Sequential and a Functional
inside a Functional), layers called with named tensors (MultiHeadAttention's `key=`,
`attention_mask=`, `use_causal_mask=`) and a Bidirectional with its own `backward_layer`.

Each model is built and saved by Keras 3, imported, written back by kspec; the file must
load in Keras and predict as kspec does, hold Keras's own weights layout (every object path,
dataset and shape of Keras's `model.weights.h5` for the same model) and record each call as
Keras does (`inbound_nodes` args and kwargs), and import back to the same spec and weights.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest

from kspec.runtime.keras_io.importer import import_keras
from tests.parity.harness import keras_side

L = keras.layers


def randomised(model: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 2, w.shape).astype("float32") for w in model.get_weights()])
    return model


def nested() -> tuple[Any, Any]:
    """A Sequential (Dense, BatchNormalization) and a two-branch Functional inside."""
    seq = keras.Sequential(
        [keras.Input((4,)), L.Dense(3, name="d1"), L.BatchNormalization(name="bn")], name="seq"
    )
    h = keras.Input((3,), name="h")
    branches = [L.Dense(2, name="a")(h), L.Dense(2, name="b")(h)]
    fun = keras.Model(h, L.Add(name="sum")(branches), name="fun")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, L.Dense(2, name="out")(fun(seq(x))), name="outer")
    return randomised(model, 0), np.random.default_rng(1).normal(size=(3, 4)).astype("float32")


def attention() -> tuple[Any, Any]:
    q, v = keras.Input((4, 8), name="q"), keras.Input((5, 8), name="v")
    k, m = keras.Input((5, 8), name="k"), keras.Input((4, 5), name="m")
    out = L.MultiHeadAttention(2, 3, name="mha")(q, v, key=k, attention_mask=m)
    out = L.MultiHeadAttention(2, 4, name="causal")(out, out, use_causal_mask=True)
    rng = np.random.default_rng(2)
    mask = (rng.uniform(size=(3, 4, 5)) > 0.4).astype("float32")
    mask[..., 0] = 1
    xs = [rng.normal(size=s).astype("float32") for s in [(3, 4, 8), (3, 5, 8), (3, 5, 8)]]
    return randomised(keras.Model([q, v, k, m], out), 3), [*xs, mask]


def bidirectional() -> tuple[Any, Any]:
    x = keras.Input((5, 3), name="x")
    forward = L.LSTM(4, use_bias=False, return_sequences=True)
    backward = L.GRU(4, return_sequences=True, go_backwards=True)
    y = L.Bidirectional(forward, backward_layer=backward, name="bi")(x)
    model = keras.Model(x, y)
    return randomised(model, 4), np.random.default_rng(5).normal(size=(2, 5, 3)).astype("float32")


def grouped_scores() -> tuple[Any, Any]:
    """GroupQueryAttention (object path `grouped_query_attention`, its Python class) returning
    its attention scores as a second model output."""
    q, v = keras.Input((4, 8), name="q"), keras.Input((5, 8), name="v")
    out, scores = L.GroupQueryAttention(3, 4, 2, name="gqa")(q, v, return_attention_scores=True)
    rng = np.random.default_rng(6)
    xs = [rng.normal(size=s).astype("float32") for s in [(2, 4, 8), (2, 5, 8)]]
    return randomised(keras.Model([q, v], [out, scores]), 7), xs


CASES: dict[str, Callable[[], tuple[Any, Any]]] = {
    "nested": nested,
    "attention": attention,
    "grouped-scores": grouped_scores,
    "bidirectional": bidirectional,
}


def weights_layout(path: Path) -> dict[str, Any]:
    """Every group and dataset of a `.keras` archive's weights file, with dataset shapes."""
    with zipfile.ZipFile(path) as archive:
        file = h5py.File(io.BytesIO(archive.read("model.weights.h5")))
        found: dict[str, Any] = {}
        file.visititems(lambda name, obj: found.__setitem__(name, getattr(obj, "shape", None)))
        return found


def calls(config: dict[str, Any]) -> dict[str, Any]:
    """Each layer's calls (nested models' too), tensors as their `keras_history`, None-valued
    keyword arguments left out (Keras records `mask=None`, which means nothing passed)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return tuple(value["config"]["keras_history"])
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if v is not None}
        return [plain(v) for v in value] if isinstance(value, list) else value

    found: dict[str, Any] = {}
    for layer in config["config"]["layers"]:
        found[layer["config"]["name"]] = plain(layer.get("inbound_nodes", []))
        if isinstance(layer["config"].get("layers"), list):
            found.update(calls(layer))
    return found


def archive_config(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


@pytest.mark.parametrize("case", list(CASES))
def test_composite_export_round_trip(tmp_path: Path, case: str) -> None:
    with keras_side():
        original, x = CASES[case]()
        original.save(tmp_path / "keras.keras")
    imported = import_keras(tmp_path / "keras.keras").model
    imported.to_keras_file(tmp_path / "kspec.keras")
    with keras_side():
        loaded = keras.saving.load_model(tmp_path / "kspec.keras")
        theirs = loaded.predict(x, verbose=0)
    mine = imported.predict(x)
    pairs = zip(theirs, mine, strict=True) if isinstance(theirs, list) else [(theirs, mine)]
    for keras_output, kspec_output in pairs:
        np.testing.assert_allclose(keras_output, kspec_output, rtol=1e-5, atol=1e-6)
    for mine, keras_weight in zip(imported.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, keras_weight)
    assert weights_layout(tmp_path / "kspec.keras") == weights_layout(tmp_path / "keras.keras")
    ours, keras_own = (
        archive_config(tmp_path / "kspec.keras"),
        archive_config(tmp_path / "keras.keras"),
    )
    assert calls(ours) == calls(keras_own)
    back = import_keras(tmp_path / "kspec.keras").model
    assert back.spec == imported.spec
    for mine, again in zip(imported.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, again)
