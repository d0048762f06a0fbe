"""A masked LSTM + SimpleRNN classifier trained by kspec's fit (on CPU its recurrences take
the batched weight gradient, `rnn_weight_grad`) and by Keras 3's fit from the same weights and
data order: the same per-epoch losses and the same trained weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kspec
from tests.parity.harness import keras_side

pytestmark = pytest.mark.slow  # whole training runs: `make test` only

RNG = np.random.default_rng(4)
X = RNG.normal(size=(36, 7, 3)).astype("float32")
X[::3, 5:] = 0.0  # padded ends of different lengths: the mask matters
X[1::3, 3:] = 0.0
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 36)]
SPEC = {
    "kspec": 1,
    "inputs": {"x": [7, 3]},
    "layers": [
        {"type": "Masking"},
        {"type": "LSTM", "units": 5, "return_sequences": True},
        {"type": "SimpleRNN", "units": 4},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}


def _keras_model() -> keras.Model:
    return keras.Sequential([
        keras.Input((7, 3)),
        keras.layers.Masking(),
        keras.layers.LSTM(5, return_sequences=True),
        keras.layers.SimpleRNN(4),
        keras.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip


@pytest.mark.parametrize("form", ["auto", "per_step"])
def test_recurrent_fit_matches_keras(form: str) -> None:
    model = kspec.load(SPEC, lowering=kspec.LoweringOptions(rnn_weight_grad=form))
    model.init(0)
    rng = np.random.default_rng(5)  # non-zero biases, so their gradients are checked too
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5
                       for w in model.get_weights()])  # fmt: skip
    options = {"batch_size": 8, "epochs": 3, "shuffle": False, "verbose": 0}  # last batch: 4
    with keras_side():
        reference = _keras_model()
        reference.set_weights(model.get_weights())
        reference.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
        expected = reference.fit(X, Y, **options).history
    model.compile(optimizer={"type": "sgd", "learning_rate": 0.1}, loss="categorical_crossentropy")
    got = model.fit(X, Y, **options).history
    assert expected["loss"][-1] < expected["loss"][0]
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
