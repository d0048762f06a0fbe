"""kspec -> Keras 3: `.keras` archives that `keras.saving.load_model` opens and
`.weights.h5` files that Keras `load_weights` reads, predicting as kspec does."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import kspec
from kspec.errors import ExportError
from kspec.runtime.keras_io.importer import import_keras
from tests.importer.test_keras3_files import SPEC, keras_model
from tests.parity.harness import keras_side

CNN = """
kspec: 1
name: cnn
inputs: {image: {shape: [8, 8, 3]}}
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
  - {type: BatchNormalization}
  - {type: DepthwiseConv2D, kernel_size: 3, padding: same}
  - {type: MaxPooling2D, pool_size: 2}
  - {type: Conv2D, filters: 5, kernel_size: 1}
  - {type: GlobalAveragePooling2D}
  - {type: Dropout, rate: 0.5}
  - {type: Dense, units: 3, activation: softmax}
"""


def randomised(spec: str, seed: int) -> kspec.Model:
    """A model whose every weight (moving statistics too) is random."""
    model = kspec.load(spec)
    model.init(seed)
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.uniform(0.5, 2.0, w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return model


@pytest.mark.parametrize(("spec", "shape"), [(CNN, (3, 8, 8, 3)), (SPEC, (3, 5, 3))])
def test_keras_file_round_trip(tmp_path: Path, spec: str, shape: tuple[int, ...]) -> None:
    model = randomised(spec, 0)
    model.to_keras_file(tmp_path / "m.keras")
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    with keras_side():
        loaded = keras.saving.load_model(tmp_path / "m.keras")
        theirs = loaded.predict(x, verbose=0)
    np.testing.assert_allclose(theirs, model.predict(x), rtol=1e-4, atol=1e-5)
    for mine, keras_weight in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, keras_weight)
    back = import_keras(tmp_path / "m.keras", spec=model.to_yaml()).model
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


def test_save_weights_h5_loads_in_keras(tmp_path: Path) -> None:
    model = randomised(SPEC, 2)
    model.save_weights(tmp_path / "x.weights.h5")
    assert (tmp_path / "x.weights.h5").is_file()
    x = np.random.default_rng(3).normal(size=(2, 5, 3)).astype(np.float32)
    with keras_side():
        target = keras_model()
        target.load_weights(tmp_path / "x.weights.h5")
        theirs = target.predict(x, verbose=0)
    np.testing.assert_allclose(theirs, model.predict(x), rtol=1e-4, atol=1e-5)


def test_export_refuses_what_keras_cannot_load(tmp_path: Path) -> None:
    spec = """
kspec: 1
name: lc
inputs: {x: {shape: [6, 2]}}
layers: [{type: LocallyConnected1D, filters: 2, kernel_size: 3}]
"""
    model = kspec.load(spec)
    with pytest.raises(ExportError, match="layer 'locally_connected1d' is a LocallyConnected1D"):
        model.to_keras_file(tmp_path / "m.keras")
    assert list(tmp_path.iterdir()) == []
