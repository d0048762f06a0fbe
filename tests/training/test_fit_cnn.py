"""A small CNN (Conv2D + BatchNormalization + Dense) trained by kspec's fit and Keras 3's fit
from the same weights and data order: the same per-epoch losses and BatchNorm moving stats."""

from __future__ import annotations

import jax
import keras
import numpy as np
import pytest

import kspec

pytestmark = pytest.mark.slow  # subprocesses or whole training runs: `make test` only

RNG = np.random.default_rng(1)
X = RNG.normal(size=(40, 6, 6, 2)).astype("float32")
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 40)]
CNN = {
    "kspec": 1,
    "inputs": {"x": [6, 6, 2]},
    "layers": [
        {
            "type": "Conv2D",
            "filters": 4,
            "kernel_size": 3,
            "kernel_regularizer": {"l2": {"l2": 0.01}},
        },
        {"type": "BatchNormalization", "momentum": 0.9},
        {"type": "Activation", "activation": "relu"},
        {"type": "Flatten"},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}


def _keras_cnn() -> keras.Model:
    return keras.Sequential([
        keras.Input((6, 6, 2)),
        keras.layers.Conv2D(4, 3, kernel_regularizer=keras.regularizers.L2(0.01)),
        keras.layers.BatchNormalization(momentum=0.9),
        keras.layers.Activation("relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ({"type": "sgd", "learning_rate": 0.05, "momentum": 0.9}, "sgd_momentum"),
        ({"type": "adam", "learning_rate": 0.01}, "adam"),
    ],
    ids=["sgd", "adam"],
)
def test_cnn_fit_with_batchnorm_matches_keras(ours: dict, theirs: str) -> None:
    # Keras takes the convolution's weight gradient from XLA; so does kspec here. The CPU
    # default (im2col, equal to 1e-5 in tests/compiler/test_lowering_choices.py) sums in
    # another order, which Adam's normalised steps amplify past rtol 1e-5 over four epochs.
    model = kspec.load(CNN, lowering=kspec.LoweringOptions(conv_weight_grad="xla"))
    model.init(0)
    reference = _keras_cnn()
    reference.set_weights(model.get_weights())
    optimizer = (
        keras.optimizers.SGD(0.05, momentum=0.9)
        if theirs == "sgd_momentum"
        else keras.optimizers.Adam(0.01)
    )
    reference.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    model.compile(optimizer=ours, loss="categorical_crossentropy", metrics=["accuracy"])
    options = {"batch_size": 16, "epochs": 4, "shuffle": False, "verbose": 0}  # last batch: 8
    with jax.numpy_rank_promotion("allow"):  # Keras itself relies on rank promotion
        expected = reference.fit(X, Y, validation_data=(X[:10], Y[:10]), **options).history
    got = model.fit(X, Y, validation_data=(X[:10], Y[:10]), **options).history
    assert sorted(got) == sorted(expected)
    assert expected["loss"][-1] < expected["loss"][0]
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    bn = next(
        layer for layer in reference.layers if isinstance(layer, keras.layers.BatchNormalization)
    )
    moving = model.variables["state"]["batch_normalization"]
    np.testing.assert_allclose(moving["moving_mean"], bn.moving_mean.numpy(), atol=1e-5)
    np.testing.assert_allclose(moving["moving_variance"], bn.moving_variance.numpy(), atol=1e-5)
    assert not np.allclose(bn.moving_variance.numpy(), 1.0)  # the stats did move
    for mine, keras_weight in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(mine, keras_weight, atol=1e-5)
