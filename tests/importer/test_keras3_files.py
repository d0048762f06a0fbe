"""Keras 3 models imported from `.keras`, Keras 3's legacy `.h5` and in memory: weights placed
by object path / layer name, `predict` and `get_weights` equal to Keras's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from kspec.runtime.keras_io.importer import import_keras
from tests.parity.harness import keras_side

SPEC = """
kspec: 1
name: mixed
inputs: {x: {shape: [5, 3]}}
layers:
  - {type: Bidirectional, name: zeta, layer: {type: LSTM, units: 4, return_sequences: true}}
  - {type: TimeDistributed, name: td, layer: {type: Dense, units: 2}}
  - {type: BatchNormalization, name: alpha}
  - {type: Dense, name: second, units: 3, inputs: [alpha]}
  - {type: Dense, name: first, units: 3, inputs: [alpha]}
  - {type: Add, name: add, inputs: [second, first]}
  - {type: Flatten, name: flat}
"""


def keras_model() -> Any:
    """User names chosen so that name order and object-path order disagree."""
    inp = keras.Input((5, 3))
    x = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True), name="zeta")(inp)
    x = keras.layers.TimeDistributed(keras.layers.Dense(2), name="td")(x)
    x = keras.layers.BatchNormalization(name="alpha")(x)
    a = keras.layers.Dense(3, name="second")(x)
    b = keras.layers.Dense(3, name="first")(x)
    out = keras.layers.Flatten(name="flat")(keras.layers.Add(name="add")([a, b]))
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    model.set_weights(
        [
            rng.uniform(0.5, 2, w.shape).astype("float32")
            if "variance" in v.path
            else rng.normal(size=w.shape).astype("float32")
            for v, w in zip(model.weights, model.get_weights(), strict=True)
        ]
    )
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    with keras_side():
        model = keras_model()
        folder = tmp_path_factory.mktemp("k3")
        model.save(folder / "m.keras")
        model.save(folder / "m.h5")
    return model, folder


@pytest.mark.parametrize("form", ["m.keras", "m.h5", "live"])
def test_import_matches_keras(saved: tuple[Any, Path], form: str) -> None:
    model, folder = saved
    src = model if form == "live" else folder / form
    imported = import_keras(src, spec=SPEC).model
    x = np.random.default_rng(1).normal(size=(4, 5, 3)).astype("float32")
    with keras_side():
        expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(imported.predict(x), expected, rtol=1e-4, atol=1e-5)
    for mine, theirs in zip(imported.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_keras_archive_matches_by_object_path(saved: tuple[Any, Path]) -> None:
    """`second` is saved at layers/dense, `first` at layers/dense_1: by position in the
    config, whatever the names say."""
    _, folder = saved
    imported = import_keras(folder / "m.keras", spec=SPEC)
    report = imported.report()
    assert "second <- second (2 arrays)" in report
    assert "matching: Keras 3 object paths" in report
