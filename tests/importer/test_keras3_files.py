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


def test_translated_import_to_directory(tmp_path: Path) -> None:
    """No spec given: the config is translated, the directory loads with kspec.load_model,
    and the JSON architecture alone gives a model of the same size with fresh weights."""
    import kspec
    from kspec.runtime.keras_io.importer import REPORT, write_directory

    with keras_side():
        inp = keras.Input((4,))
        h = keras.layers.BatchNormalization()(keras.layers.Dense(6, activation="relu")(inp))
        model = keras.Model(inp, keras.layers.Add()([keras.layers.Dense(6)(h), h]))
        rng = np.random.default_rng(0)
        model.set_weights([rng.uniform(0.5, 2, w.shape).astype("float32")
                           for w in model.get_weights()])  # fmt: skip
        model.save(tmp_path / "m.keras")
        x = rng.normal(size=(3, 4)).astype("float32")
        expected = model.predict(x, verbose=0)
    out = write_directory(import_keras(tmp_path / "m.keras"), tmp_path / "imported")
    assert "[translation]" in (out / REPORT).read_text()
    restored = kspec.load_model(out)
    np.testing.assert_allclose(restored.predict(x), expected, rtol=1e-4, atol=1e-5)
    assert kspec.from_keras(model.to_json()).count_params() == model.count_params()


def test_existing_directory_refused(saved: tuple[Any, Path], tmp_path: Path) -> None:
    from kspec.errors import KerasImportError
    from kspec.runtime.keras_io.importer import write_directory

    _, folder = saved
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    imported = import_keras(folder / "m.keras", spec=SPEC)
    with pytest.raises(KerasImportError, match="already exists and is not empty"):
        write_directory(imported, tmp_path / "taken")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_legacy_h5_op_with_constant(tmp_path: Path) -> None:
    """Keras 3's `.h5` writes an op node (`x + 3.0`) without `module`; it must not become an
    `Add` layer that drops the constant (MobileNetV3's hard_sigmoid)."""
    with keras_side():
        inp = keras.Input((3,))
        model = keras.Model(inp, keras.layers.Dense(2)(inp) + 3.0)
        model.save(tmp_path / "m.h5")
        x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
        expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(
        import_keras(tmp_path / "m.h5").model.predict(x), expected, rtol=1e-5, atol=1e-6
    )
