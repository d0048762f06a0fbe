"""Keras 1's MaxoutDense and Highway against NumPy references of keras 1.2
`keras/layers/core.py` (Keras 2 dropped both, so Keras cannot run them here):

    MaxoutDense.call: output = K.max(K.dot(x, self.W) + self.b, axis=1)
    Highway.call:     transform_weight = sigmoid(K.dot(x, self.W_carry) + self.b_carry)
                      output = activation(K.dot(x, self.W) + self.b) * transform_weight
                               + (1 - transform_weight) * x
"""

from __future__ import annotations

import numpy as np
import pytest

import kspec
from tests.parity.harness import ATOL, RTOL, random_input, sequential_spec


def _maxout_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    # K.dot of (batch, in) with (nb_feature, in, out) contracts `in`: (batch, nb_feature, out)
    out = np.tensordot(x, w, axes=[[1], [1]])
    if b is not None:
        out = out + b[None]
    return out.max(axis=1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _highway_reference(x, w, w_carry, b, b_carry, act) -> np.ndarray:
    t = _sigmoid(x @ w_carry + (b_carry if b_carry is not None else 0.0))
    y = act(x @ w + (b if b is not None else 0.0))
    return y * t + (1.0 - t) * x


def _random(shapes: list[tuple[int, ...]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, 0.7, s).astype(np.float32) for s in shapes]


@pytest.mark.parametrize("use_bias", [True, False])
def test_maxout_dense_matches_keras1(use_bias: bool) -> None:
    layer = {"type": "MaxoutDense", "units": 3, "nb_feature": 5, "use_bias": use_bias}
    model = kspec.load(sequential_spec([layer], (4,)))
    shapes = [(5, 4, 3)] + ([(5, 3)] if use_bias else [])
    assert [w.shape for w in model.get_weights()] == shapes
    weights = _random(shapes)
    model.set_weights(weights)
    x = random_input((4,))
    expected = _maxout_reference(x, weights[0], weights[1] if use_bias else None)
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("activation", "numpy_act"), [(None, lambda z: z), ("tanh", np.tanh)])
def test_highway_matches_keras1(activation: str | None, numpy_act) -> None:
    layer = {"type": "Highway", "activation": activation}
    model = kspec.load(sequential_spec([layer], (6,)))
    # keras 1.2 creation order: W, W_carry, b, b_carry
    assert model.get_layer("highway").weight_names() == [
        "kernel", "carry_kernel", "bias", "carry_bias"
    ]  # fmt: skip
    weights = _random([(6, 6), (6, 6), (6,), (6,)], seed=1)
    model.set_weights(weights)
    x = random_input((6,))
    expected = _highway_reference(x, *weights, numpy_act)
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)


def test_highway_carry_bias_starts_at_transform_bias() -> None:
    model = kspec.load(sequential_spec([{"type": "Highway", "transform_bias": -1.5}], (3,)))
    model.init(0)
    np.testing.assert_array_equal(model.get_weights()[3], np.full(3, -1.5, np.float32))
    np.testing.assert_array_equal(model.get_weights()[2], np.zeros(3, np.float32))


def test_keras1_parameter_names_are_aliases() -> None:
    spec = sequential_spec(
        [{"type": "MaxoutDense", "output_dim": 2, "nb_feature": 3, "init": "he_normal",
          "W_regularizer": {"l2": 0.01}, "bias": False}],
        (4,),
    )  # fmt: skip
    with pytest.warns(kspec.KspecDeprecationWarning) as caught:
        layer = kspec.validate(spec).layers[0]
    messages = [str(w.message) for w in caught]
    assert (
        "node 'maxout_dense': MaxoutDense: `output_dim` is a Keras 1 name; use `units` instead"
        in messages
    )
    assert (layer.units, layer.use_bias, layer.kernel_initializer.type) == (2, False, "HeNormal")


def test_legacy_hard_sigmoid_is_keras2s() -> None:
    spec = sequential_spec([{"type": "Activation", "activation": "legacy_hard_sigmoid"}], (7,))
    x = np.array([[-4.0, -2.5, -1.0, 0.0, 1.0, 2.5, 4.0]], np.float32)
    expected = np.clip(0.2 * x + 0.5, 0.0, 1.0)
    np.testing.assert_allclose(kspec.load(spec).predict(x), expected, rtol=RTOL, atol=ATOL)
