"""Nested models (`type: Model` nodes): Keras 3 files keep each sub-layer's weights in place;
Keras 2 files list a nested model's trainable weights first, then the non-trainable ones
(keras 2.2.4 `Network.weights`; `convert_nested_model` in `engine/saving.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from kspec.runtime.keras_io.importer import import_keras
from tests.importer.legacy_files import randn, write_weights
from tests.parity.harness import keras_side

SPEC = """
kspec: 1
name: outer
inputs: {x: {shape: [3]}}
layers:
  - {type: Dense, name: head, units: 4}
  - type: Model
    name: block
    spec:
      name: block
      inputs: {h: {shape: [4]}}
      layers:
        - {type: Dense, name: inner, units: 4}
        - {type: BatchNormalization, name: norm}
        - {type: Dense, name: inner_2, units: 2}
"""


def keras_model() -> Any:
    block = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(4, name="inner"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.Dense(2, name="inner_2"),
        ],
        name="block",
    )
    inp = keras.Input((3,))
    model = keras.Model(inp, block(keras.layers.Dense(4, name="head")(inp)))
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 2, w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.mark.parametrize("form", ["m.keras", "m.h5", "live"])
def test_nested_keras3(tmp_path: Path, form: str) -> None:
    with keras_side():
        model = keras_model()
        if form != "live":
            model.save(tmp_path / form)
        x = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
        expected = model.predict(x, verbose=0)
    imported = import_keras(model if form == "live" else tmp_path / form, spec=SPEC).model
    np.testing.assert_allclose(imported.predict(x), expected, rtol=1e-4, atol=1e-5)
    for mine, theirs in zip(imported.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_nested_keras2_trainable_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    head = [randn(rng, 3, 4), randn(rng, 4)]
    inner, gamma_beta = [randn(rng, 4, 4), randn(rng, 4)], [randn(rng, 4), randn(rng, 4)]
    stats = [randn(rng, 4), rng.uniform(0.5, 2, 4).astype(np.float32)]
    inner_2 = [randn(rng, 4, 2), randn(rng, 2)]
    saved = [*inner, *gamma_beta, *inner_2, *stats]  # Keras 2: trainable, then the rest
    names = [
        "inner/kernel:0",
        "inner/bias:0",
        "norm/gamma:0",
        "norm/beta:0",
        "inner_2/kernel:0",
        "inner_2/bias:0",
        "norm/moving_mean:0",
        "norm/moving_variance:0",
    ]
    layers = [
        ("head", [("head/kernel:0", head[0]), ("head/bias:0", head[1])]),
        ("block", list(zip(names, saved, strict=True))),
    ]
    file = write_weights(tmp_path / "w.h5", layers, "2.2.4", "tensorflow")
    model = import_keras(file, spec=SPEC).model
    expected = [*head, *inner, *gamma_beta, *stats, *inner_2]  # Keras 3's per-layer order
    for mine, theirs in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)
