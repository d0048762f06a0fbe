"""Outcomes of the other ways of feeding `fit`: Python iterators cut by `steps_per_epoch` and
`validation_steps`, the Keras 1 sample counts (`nb_val_samples`, `val_samples`), and
`LambdaCallback`'s hooks. Each is checked against the same run on plain arrays (whose parity
with Keras' own `fit` tests/training/test_fit.py shows), so a count that is ignored or off by
one batch changes a number."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning
from kspec.runtime.training.callbacks import History, LambdaCallback

RNG = np.random.default_rng(0)
X = RNG.normal(size=(45, 4)).astype("float32")
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 45)]
SPEC = {
    "kspec": 1,
    "inputs": {"x": [4]},
    "layers": [
        {"type": "Dense", "units": 8, "activation": "relu"},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}


def _model() -> kspec.Model:
    model = kspec.load(SPEC)
    model.init(0)
    model.compile({"type": "sgd", "learning_rate": 0.3}, "categorical_crossentropy")
    return model


def _fit_arrays(model: kspec.Model, epochs: int) -> History:
    """The array run the iterator runs below must equal: 0:30 in order, validated on 30:40."""
    return model.fit(
        X[:30],
        Y[:30],
        batch_size=10,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        validation_data=(X[30:40], Y[30:40]),
        validation_batch_size=5,
    )


def _cycle(start: int, stop: int, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of `size` over samples `start:stop`, round and round (a Keras 1 generator)."""
    starts = itertools.cycle(range(start, stop, size))
    return ((X[s : s + size], Y[s : s + size]) for s in starts)


def test_iterator_epochs_end_after_steps_per_epoch_and_validation_steps() -> None:
    """3 steps of 10 are samples 0:30; 2 validation steps of 5 are 30:40 out of a generator
    that would go on to 40:45, so a missed or an extra step changes loss or val_loss."""
    arrays = _model()
    expected = _fit_arrays(arrays, epochs=2)
    model = _model()
    got = model.fit(
        _cycle(0, 30, 10),
        steps_per_epoch=3,
        epochs=2,
        verbose=0,
        validation_data=_cycle(30, 40, 5),
        validation_steps=2,
    )
    assert got.history.keys() == expected.history.keys() == {"loss", "val_loss"}
    for name in ("loss", "val_loss"):
        np.testing.assert_allclose(got.history[name], expected.history[name], rtol=1e-6)
    for ours, theirs in zip(model.get_weights(), arrays.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    three_steps = _model().fit(
        _cycle(0, 30, 10),
        steps_per_epoch=3,
        epochs=1,
        verbose=0,
        validation_data=_cycle(30, 45, 5),
        validation_steps=3,
    )
    assert three_steps.history["val_loss"] != pytest.approx(expected.history["val_loss"][0])


def test_an_endless_iterator_without_steps_is_refused() -> None:
    with pytest.raises(ValueError, match="a generator has no end: give `steps_per_epoch`"):
        _model().fit(_cycle(0, 30, 10), epochs=1, verbose=0)


def test_keras1_nb_val_samples_counts_samples_not_batches() -> None:
    """`nb_val_samples=10` over batches of 5 is two batches (30:40), not ten; read as a step
    count it would go round the three-batch cycle 30:45 and average other samples."""
    expected = _fit_arrays(_model(), epochs=1)
    model = _model()
    with pytest.warns(KspecDeprecationWarning) as caught:
        got = model.fit_generator(
            _cycle(0, 30, 10),
            steps_per_epoch=3,
            epochs=1,
            verbose=0,
            validation_data=_cycle(30, 45, 5),
            nb_val_samples=10,
        )
    assert [str(w.message) for w in caught] == [
        "`nb_val_samples` is a Keras 1 name; use `validation_steps` instead (it counts "
        "batches, not samples)"
    ]
    np.testing.assert_allclose(got.history["loss"], expected.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(got.history["val_loss"], expected.history["val_loss"], rtol=1e-6)


def test_keras1_val_samples_of_evaluate_generator() -> None:
    model = _model()
    want = model.evaluate(X[30:40], Y[30:40], batch_size=5)
    with pytest.warns(KspecDeprecationWarning) as caught:
        got = model.evaluate_generator(_cycle(30, 45, 5), val_samples=10)
    assert [str(w.message) for w in caught] == [
        "`val_samples` is a Keras 1 name; use `steps` instead (it counts batches, not samples)"
    ]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got != pytest.approx(model.evaluate(X[30:45], Y[30:45], batch_size=5))


def test_lambda_callback_hooks_get_keras_arguments() -> None:
    """Every hook runs when Keras runs it, with the epoch or batch index and the logs: the
    batch logs carry the running loss even at verbose=0 (a callback that asks for them)."""
    calls: list[tuple[str, object]] = []
    batch_losses: list[float] = []
    epoch_losses: list[float] = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: batch_losses.append(logs["loss"]),
        on_epoch_end=lambda epoch, logs: epoch_losses.append(logs["loss"]),
        on_train_end=lambda logs: calls.append(("train_end", logs)),
    )
    history = _model().fit(
        X[:30], Y[:30], batch_size=10, epochs=2, shuffle=False, verbose=0, callbacks=[callback]
    )
    epoch = [("batch_begin", 0), ("batch_begin", 1), ("batch_begin", 2)]
    assert calls == [
        ("train_begin", {}),
        ("epoch_begin", 0),
        *epoch,
        ("epoch_begin", 1),
        *epoch,
        ("train_end", {}),
    ]
    assert epoch_losses == history.history["loss"]
    assert len(batch_losses) == 6
    assert batch_losses[2] == pytest.approx(epoch_losses[0]) and batch_losses[5] == pytest.approx(
        epoch_losses[1]
    )  # the running mean at an epoch's last batch is the epoch's loss


def test_lambda_callback_refuses_an_unknown_hook() -> None:
    with pytest.raises(ValueError, match=r"^unknown callback hook 'on_epoch_ends'$"):
        LambdaCallback(on_epoch_ends=print)
