"""Keras docs' "shared vision model" (examples/shared_vision.yaml): one CNN sub-model applied to
two images. One set of vision weights, the same order as Keras, the same outputs."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

import kspec
from tests.parity.harness import keras_side, random_input, randomize_weights

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "shared_vision.yaml"


def _keras_model() -> keras.Model:
    """The Keras docs' code, verbatim but for names."""
    digit_input = keras.Input(shape=(27, 27, 1))
    x = keras.layers.Conv2D(64, (3, 3))(digit_input)
    x = keras.layers.Conv2D(64, (3, 3))(x)
    x = keras.layers.MaxPooling2D((2, 2))(x)
    out = keras.layers.Flatten()(x)
    vision_model = keras.Model(digit_input, out)
    digit_a = keras.Input(shape=(27, 27, 1))
    digit_b = keras.Input(shape=(27, 27, 1))
    out_a = vision_model(digit_a)
    out_b = vision_model(digit_b)
    concatenated = keras.layers.concatenate([out_a, out_b])
    out = keras.layers.Dense(1, activation="sigmoid")(concatenated)
    return keras.Model([digit_a, digit_b], out)


def test_shared_vision_matches_keras_with_one_set_of_vision_weights() -> None:
    keras.utils.set_random_seed(0)
    with keras_side():
        reference = randomize_weights(_keras_model())
        weights = reference.get_weights()
    model = kspec.load(EXAMPLE)
    ours = model.get_weights()
    assert [w.shape for w in ours] == [w.shape for w in weights]
    assert len(ours) == 6  # two convolutions (kernel, bias) once, then the head
    assert model.get_layer("vision").weight_names() == [
        "conv2d/kernel", "conv2d/bias", "conv2d_1/kernel", "conv2d_1/bias",
    ]  # fmt: skip
    model.set_weights(weights)
    a, b = (random_input((27, 27, 1), seed, batch=4) for seed in (1, 2))
    with keras_side():
        expected = reference.predict([a, b], verbose=0)
    actual = model.predict([a, b])
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-7)
    # the nested model on its own: kspec's view of it against Keras' vision_model
    vision = model.get_layer("vision")
    (keras_vision,) = [layer for layer in reference.layers if isinstance(layer, keras.Model)]
    with keras_side():
        expected_features = keras_vision.predict(b, verbose=0)
    np.testing.assert_allclose(vision.predict(b), expected_features, rtol=1e-5, atol=1e-6)
