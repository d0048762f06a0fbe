"""fit / evaluate / *_on_batch against Keras 3's own fit, from the same weights and data order."""

from __future__ import annotations

import csv
from pathlib import Path

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning
from kspec.runtime.training.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from kspec.runtime.training.checkpoints import ModelCheckpoint, restore_latest

RNG = np.random.default_rng(0)
X = RNG.normal(size=(50, 4)).astype("float32")
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 50)]
MLP = {
    "kspec": 1,
    "inputs": {"x": [4]},
    "layers": [
        {
            "type": "Dense",
            "units": 8,
            "activation": "relu",
            "kernel_regularizer": {"l2": {"l2": 0.01}},
        },
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}


def allow():  # Keras itself relies on rank promotion, which conftest makes an error
    return jax.numpy_rank_promotion("allow")


def _keras_mlp() -> keras.Model:
    return keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01)),
        keras.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip


@pytest.mark.parametrize("optimizer", ["sgd", {"type": "adam", "learning_rate": 0.01}])
def test_fit_matches_keras(optimizer: str | dict) -> None:
    """Per-epoch loss, metrics and validation (last partial batch included) equal Keras'."""
    model = kspec.load(MLP)
    model.init(0)
    reference = _keras_mlp()
    reference.set_weights(model.get_weights())
    keras_opt = optimizer if isinstance(optimizer, str) else keras.optimizers.Adam(0.01)
    reference.compile(
        optimizer=keras_opt, loss="categorical_crossentropy", metrics=["accuracy", "mae"]
    )
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy", "mae"])
    options = {
        "batch_size": 16,
        "epochs": 3,
        "shuffle": False,
        "verbose": 0,
        "validation_split": 0.2,
    }
    with allow():
        expected = reference.fit(X, Y, **options).history
        keras_eval = reference.evaluate(X, Y, batch_size=16, verbose=0)
    got = model.fit(X, Y, **options).history
    assert sorted(got) == sorted(expected)
    assert expected["loss"][0] != expected["loss"][-1]
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(model.evaluate(X, Y, batch_size=16), keras_eval, rtol=1e-5)


def test_multi_output_losses_weights_and_metrics_match_keras() -> None:
    spec = {
        "kspec": 1,
        "inputs": {"x": [4]},
        "layers": [
            {"type": "Dense", "units": 6, "activation": "tanh", "name": "trunk"},
            {
                "type": "Dense",
                "units": 3,
                "activation": "softmax",
                "name": "cls",
                "inputs": ["trunk"],
            },
            {"type": "Dense", "units": 1, "name": "reg", "inputs": ["trunk"]},
        ],
        "outputs": ["cls", "reg"],
    }
    model = kspec.load(spec)
    model.init(1)
    inputs = keras.Input((4,), name="x")
    trunk = keras.layers.Dense(6, activation="tanh", name="trunk")(inputs)
    outputs = [
        keras.layers.Dense(3, activation="softmax", name="cls")(trunk),
        keras.layers.Dense(1, name="reg")(trunk),
    ]
    reference = keras.Model(inputs, outputs)
    reference.set_weights(model.get_weights())
    settings = {
        "optimizer": "sgd",
        "loss": {"cls": "categorical_crossentropy", "reg": "mse"},
        "loss_weights": {"cls": 1.0, "reg": 0.5},
        "metrics": {"cls": ["accuracy"], "reg": ["mae"]},
    }
    reference.compile(**settings)
    model.compile(**settings)
    r = Y[:, :1] * 2.0
    weights = RNG.uniform(0.5, 1.5, size=len(X)).astype("float32")
    with allow():
        expected = reference.fit(
            X, [Y, r], batch_size=20, epochs=2, shuffle=False, verbose=0, sample_weight=weights
        ).history
    got = model.fit(
        X,
        {"cls": Y, "reg": r},
        batch_size=20,
        epochs=2,
        shuffle=False,
        verbose=0,
        sample_weight=weights,
    ).history
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_compile_from_spec_section_and_batch_methods() -> None:
    model = kspec.load(
        {
            **MLP,
            "compile": {
                "optimizer": {"type": "sgd", "learning_rate": 0.1},
                "loss": "categorical_crossentropy",
                "metrics": ["accuracy"],
            },
        }
    )
    model.init(0)
    reference = _keras_mlp()
    reference.set_weights(model.get_weights())
    reference.compile(
        optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    with allow():
        expected = [
            reference.test_on_batch(X, Y),
            reference.train_on_batch(X, Y),
            reference.predict_on_batch(X),
        ]
    np.testing.assert_allclose(model.test_on_batch(X, Y), expected[0], rtol=1e-6)
    np.testing.assert_allclose(model.train_on_batch(X, Y), expected[1], rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(X), expected[2], atol=1e-6)
    np.testing.assert_array_equal(model.predict_classes(X), model.predict(X).argmax(-1))
    np.testing.assert_array_equal(model.predict_proba(X), model.predict(X))


def test_frozen_layers_keep_their_weights_and_class_weight_counts() -> None:
    spec = {**MLP, "layers": [{**MLP["layers"][0], "trainable": False}, MLP["layers"][1]]}
    model = kspec.load(spec)
    model.init(0)
    before = model.get_weights()
    model.compile("adam", "categorical_crossentropy")
    model.fit(X, Y, epochs=1, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(after[0], before[0])
    assert np.abs(after[2] - before[2]).max() > 0
    model.init(0)
    model.compile("sgd", "categorical_crossentropy")
    weighted = model.evaluate(X, Y, sample_weight=np.where(Y.argmax(1) == 0, 2.0, 1.0))
    assert model.evaluate(X, Y) != weighted
    model.compile("sgd", "categorical_crossentropy")
    np.testing.assert_allclose(
        model.test_on_batch(X, Y, sample_weight=None), model.evaluate(X, Y, batch_size=50)
    )
    np.testing.assert_allclose(
        model.train_on_batch(X, Y, class_weight={0: 2.0, 1: 1.0, 2: 1.0}), weighted, rtol=1e-6
    )


def _batches(n: int):
    while True:
        for start in range(0, 50, n):
            yield X[start : start + n], Y[start : start + n]


def test_generators_and_keras1_names_match_arrays() -> None:
    model = kspec.load(MLP)
    model.init(0)
    model.compile("sgd", "categorical_crossentropy")
    expected = model.fit(X, Y, batch_size=10, epochs=2, shuffle=False, verbose=0).history["loss"]
    model.init(0)
    model.compile("sgd", "categorical_crossentropy")
    with pytest.warns(KspecDeprecationWarning) as caught:
        got = model.fit_generator(
            _batches(10), samples_per_epoch=50, nb_epoch=2, verbose=0, max_q_size=4
        ).history["loss"]
    assert [str(w.message).split("`")[1] for w in caught] == [
        "nb_epoch", "samples_per_epoch", "max_q_size"]  # fmt: skip
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(
        model.evaluate_generator(_batches(10), steps=5),
        model.evaluate(X, Y, batch_size=10),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        model.predict_generator(_batches(25), steps=2), model.predict(X), atol=1e-6
    )
    with pytest.warns(KspecDeprecationWarning, match="`nb_epoch` is a Keras 1 name; use `epochs`"):
        assert len(model.fit(X, Y, nb_epoch=3, verbose=0).history["loss"]) == 3


def test_callbacks(tmp_path: Path) -> None:
    model = kspec.load(MLP)
    model.init(0)
    model.compile({"type": "sgd", "learning_rate": 0.5}, "categorical_crossentropy")
    seen: list[tuple[int, float]] = []

    class Record(Callback):
        def on_epoch_end(self, epoch: int, logs: dict) -> None:
            seen.append((epoch, logs["learning_rate"]))

    stopper = EarlyStopping(monitor="loss", patience=0, min_delta=10.0, restore_best_weights=True)
    history = model.fit(X, Y, epochs=5, verbose=0, callbacks=[
        LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1)), Record(), stopper,
        CSVLogger(tmp_path / "log.csv")])  # fmt: skip
    assert [e for e, _ in seen] == [0, 1] and np.allclose([lr for _, lr in seen], [0.1, 0.05])
    assert history.epoch == [0, 1] and stopper.stopped_epoch == 1
    with open(tmp_path / "log.csv") as file:
        rows = list(csv.DictReader(file))
    assert [r["epoch"] for r in rows] == ["0", "1"] and set(rows[0]) == {
        "epoch",
        "loss",
        "learning_rate",
    }
    model.compile({"type": "sgd", "learning_rate": 0.5}, "categorical_crossentropy")
    plateau = ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=10.0)
    lrs = model.fit(X, Y, epochs=4, verbose=0, callbacks=[plateau]).history["learning_rate"]
    assert lrs == [0.5, 0.5, 0.25, 0.125]  # Keras logs the rate before reducing it
    model.compile({"type": "sgd", "learning_rate": 1e30}, "categorical_crossentropy")
    nan = model.fit(X * 1e10, Y, batch_size=5, epochs=3, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(nan.epoch) == 1


def test_early_stopping_restores_the_best_epochs_weights() -> None:
    """Two gentle epochs, then a rate that makes the loss climb: EarlyStopping stops after
    `patience` worse epochs and puts back the weights the best epoch ended with."""
    model = kspec.load(MLP)
    model.init(0)
    model.compile({"type": "sgd", "learning_rate": 0.1}, "categorical_crossentropy")
    ended: list[list[np.ndarray]] = []

    class Snapshot(Callback):
        def on_epoch_end(self, epoch: int, logs: dict) -> None:
            ended.append([np.array(w) for w in model.get_weights()])

    stopper = EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    schedule = LearningRateScheduler(lambda epoch, lr: 0.1 if epoch < 2 else 40.0)
    history = model.fit(X, Y, epochs=10, verbose=0, callbacks=[schedule, Snapshot(), stopper])
    losses = history.history["loss"]
    best = int(np.argmin(losses))
    assert best == 1 and len(losses) == 4 and stopper.stopped_epoch == 3, losses
    for restored, expected in zip(model.get_weights(), ended[best], strict=True):
        np.testing.assert_array_equal(restored, expected)
    assert not np.array_equal(model.get_weights()[0], ended[-1][0])


def test_checkpoint_resume_is_exact(tmp_path: Path) -> None:
    spec = {
        **MLP,
        "layers": [MLP["layers"][0], {"type": "Dropout", "rate": 0.3}, MLP["layers"][1]],
        "compile": {"optimizer": "adam", "loss": "categorical_crossentropy"},
    }
    full = kspec.load(spec)
    full.init(0)
    whole = full.fit(
        X, Y, epochs=4, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "a", max_to_keep=2)]
    )
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["2", "3"]
    first = kspec.load(spec)
    first.init(0)
    first.fit(X, Y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "b")])
    resumed = kspec.load(spec)
    resumed.init(7)
    resumed._ready([])
    epoch = restore_latest(resumed, tmp_path / "b")
    assert epoch == 1 and resumed.iterations == 4
    rest = resumed.fit(X, Y, epochs=4, initial_epoch=epoch + 1, verbose=0)
    np.testing.assert_allclose(rest.history["loss"], whole.history["loss"][2:], rtol=1e-6)
    for a, b in zip(full.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_best_only_checkpoint_keeps_the_best(tmp_path: Path) -> None:
    model = kspec.load(MLP)
    model.init(0)
    model.compile({"type": "sgd", "learning_rate": 0.3}, "categorical_crossentropy")
    checkpoint = ModelCheckpoint(tmp_path, monitor="val_loss", save_best_only=True, max_to_keep=1)
    history = model.fit(X, Y, epochs=4, verbose=0, validation_split=0.3, callbacks=[checkpoint])
    best = int(np.argmin(history.history["val_loss"]))
    assert [p.name for p in tmp_path.iterdir() if p.name.isdigit()] == [str(best)]


def test_errors() -> None:
    model = kspec.load(MLP)
    with pytest.raises(RuntimeError, match=r"the model is not compiled: call model\.compile"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match=r"loss names unknown output\(s\) \['out'\]"):
        model.compile("sgd", {"out": "mse"})
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="all arrays need the same number of samples"):
        model.fit(X, Y[:10], verbose=0)


def test_progress_output(capsys: pytest.CaptureFixture[str]) -> None:
    model = kspec.load(MLP)
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2 - ") and "loss: " in lines[1]
    model.fit(X, Y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(X, Y, epochs=1, verbose=1)
    assert "Epoch 1/1" in capsys.readouterr().out
