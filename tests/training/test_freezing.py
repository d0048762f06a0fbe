"""Freezing as in Keras 3: `layer.trainable = False`, `model.trainable = False` and
`trainable: false` in a spec exclude weights from gradients and optimizer slots, count as
non-trainable, read back, and round-trip through the config. The transfer-learning recipe
(load a base, freeze it, fit a head) is checked against Keras 3 with the same random weights:
a BatchNormalization inside a frozen base runs in inference mode and keeps its statistics."""

from __future__ import annotations

from pathlib import Path

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec import layers as L

jax.config.update("jax_default_matmul_precision", "highest")

BASE = """\
kspec: 1
name: base
inputs: {x: [4]}
layers:
  - {type: Dense, name: d1, units: 5, activation: relu}
  - {type: BatchNormalization, name: bn}
"""


def randomized(model: kspec.Model, seed: int) -> list[np.ndarray]:
    """Random values for every weight (biases, BN statistics too; variances positive)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=w.shape).astype("float32") for w in model.get_weights()]
    names = [w.path for w in model.weights]
    return [
        np.abs(w) + 0.5 if name.endswith("moving_variance") else w
        for name, w in zip(names, weights, strict=True)
    ]


def ours_with_head(base: kspec.Model) -> kspec.Model:
    x = kspec.Input(shape=[4], name="x")
    return kspec.Model(x, L.Dense(2, name="head")(base(x)))


def keras_with_head() -> keras.Model:
    inp = keras.Input((4,))
    hidden = keras.layers.Dense(5, activation="relu", name="d1")(inp)
    base = keras.Model(inp, keras.layers.BatchNormalization(name="bn")(hidden), name="base")
    x = keras.Input((4,))
    return keras.Model(x, keras.layers.Dense(2, name="head")(base(x)))


def test_weight_lists_match_keras_when_the_base_is_frozen() -> None:
    ours, theirs = ours_with_head(kspec.load(BASE)), keras_with_head()
    ours.init(0)
    for frozen in (False, True):
        ours.get_layer("base").trainable = not frozen
        theirs.get_layer("base").trainable = not frozen
        for attr in ("weights", "trainable_weights", "non_trainable_weights"):
            got = [(w.name, w.shape) for w in getattr(ours, attr)]
            want = [(w.name, tuple(w.shape)) for w in getattr(theirs, attr)]
            assert got == want, (attr, frozen)
        assert ours.get_layer("base").trainable is not frozen
        assert [len(ours.get_layer(n).trainable_weights) for n in ("base", "head")] == [
            len(theirs.get_layer(n).trainable_weights) for n in ("base", "head")
        ]


def test_transfer_learning_matches_keras_and_keeps_the_base(tmp_path: Path) -> None:
    """Load a saved base, freeze it, train a head: one SGD-with-momentum step per batch,
    three batches, against Keras 3 from the same random weights."""
    base = kspec.load(BASE)
    base.set_weights(randomized(base, 1))
    base.save(tmp_path / "base")
    loaded = kspec.load_model(tmp_path / "base")
    loaded.trainable = False
    ours = ours_with_head(loaded)
    theirs = keras_with_head()
    theirs.get_layer("base").trainable = False
    start = randomized(ours, 2)
    start[: len(base.get_weights())] = loaded.get_weights()
    ours.set_weights(start)
    theirs.set_weights(start)
    theirs.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    ours.compile(optimizer={"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}, loss="mse")
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.normal(size=(16, 4)).astype("float32")
        y = rng.normal(size=(16, 2)).astype("float32")
        with jax.numpy_rank_promotion("allow"):  # Keras itself relies on rank promotion
            want = theirs.train_on_batch(x, y)
        np.testing.assert_allclose(ours.train_on_batch(x, y), want, rtol=1e-5)
    after = ours.get_weights()
    for got, want in zip(after, theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    frozen = len(base.get_weights())
    for got, saved in zip(after[:frozen], loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(got, saved)  # bit-identical, BN statistics included
    assert not np.array_equal(after[frozen], start[frozen])  # the head did train
    slots = jax.tree_util.tree_leaves_with_path(ours.optimizer_state)
    paths = [jax.tree_util.keystr(path) for path, _ in slots]
    assert any("'head'" in p for p in paths)
    assert not any("'base'" in p for p in paths)  # no optimizer slots for frozen weights


def test_a_frozen_layer_in_a_flat_model_and_the_summary(capsys: pytest.CaptureFixture) -> None:
    model = kspec.load(BASE)
    model.set_weights(randomized(model, 4))
    model.get_layer("d1").trainable = False
    assert [w.path for w in model.trainable_weights] == ["bn/gamma", "bn/beta"]
    keras_model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5), keras.layers.BatchNormalization()]
    )
    keras_model.layers[0].trainable = False
    trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in keras_model.non_trainable_weights)
    model.summary()
    text = capsys.readouterr().out
    assert f"Trainable params: {trainable}\n" in text
    assert f"Non-trainable params: {non_trainable}\n" in text
    before = model.get_weights()
    model.compile("sgd", "mse")
    x = np.random.default_rng(5).normal(size=(8, 4)).astype("float32")
    model.fit(x, np.ones((8, 5), "float32"), epochs=2, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert not np.array_equal(after[2], before[2])  # bn/gamma trained


def test_trainable_round_trips_through_config_and_spec() -> None:
    model = kspec.load(BASE.replace("units: 5,", "units: 5, trainable: false,"))
    assert model.get_layer("d1").trainable is False
    model.init(0)
    model.get_layer("bn").trainable = False
    assert model.trainable is False and model.trainable_weights == []
    config = model.get_config()
    assert [layer["trainable"] for layer in config["layers"]] == [False, False]
    again = kspec.Model.from_config(config)
    assert [again.get_layer(n).trainable for n in ("d1", "bn")] == [False, False]
    assert kspec.load(model.to_yaml()).get_config() == config
    model.trainable = True
    trainable = ["d1/kernel", "d1/bias", "bn/gamma", "bn/beta"]
    assert [w.path for w in model.trainable_weights] == trainable


def test_a_frozen_sequential_layer_stays_frozen_after_add() -> None:
    model = kspec.Sequential([L.Dense(3, input_shape=(4,), name="a"), L.Dense(2, name="b")])
    model.init(0)
    model.layers[0].trainable = False
    kept = model.get_weights()
    model.add(L.Dense(1, name="c"))
    assert [w.path for w in model.trainable_weights] == ["b/kernel", "b/bias", "c/kernel", "c/bias"]
    for got, want in zip(model.get_weights(), kept, strict=False):
        np.testing.assert_array_equal(got, want)
