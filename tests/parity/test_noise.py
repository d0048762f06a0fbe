"""Noise layers: identity at inference (exact, and Keras agrees), training statistics over a
large sample, noise driven by the apply rng (same rng same noise, other rng other noise)."""

from __future__ import annotations

import math
from typing import Any

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning
from tests.parity.harness import keras_sequential, keras_side, random_input, sequential_spec

L = keras.layers

LAYERS = [
    (
        "gaussian_noise",
        {"type": "GaussianNoise", "stddev": 0.5},
        lambda: L.GaussianNoise(0.5),
        (40,),
    ),
    (
        "gaussian_dropout",
        {"type": "GaussianDropout", "rate": 0.3},
        lambda: L.GaussianDropout(0.3),
        (40,),
    ),
    ("alpha_dropout", {"type": "AlphaDropout", "rate": 0.2}, lambda: L.AlphaDropout(0.2), (40,)),
    (
        "spatial1d",
        {"type": "SpatialDropout1D", "rate": 0.5},
        lambda: L.SpatialDropout1D(0.5),
        (10, 8),
    ),
    (
        "spatial2d",
        {"type": "SpatialDropout2D", "rate": 0.5},
        lambda: L.SpatialDropout2D(0.5),
        (5, 5, 8),
    ),
    (
        "spatial2d_cf",
        {"type": "SpatialDropout2D", "rate": 0.5, "data_format": "channels_first"},
        lambda: L.SpatialDropout2D(0.5, data_format="channels_first"),
        (8, 5, 5),
    ),
    (
        "spatial3d",
        {"type": "SpatialDropout3D", "rate": 0.5},
        lambda: L.SpatialDropout3D(0.5),
        (3, 3, 3, 8),
    ),
]
IDS = [entry[0] for entry in LAYERS]


def _model(layer: dict[str, Any], shape: tuple[int, ...]) -> kspec.Model:
    return kspec.load(sequential_spec([layer], shape))


def _train(model: kspec.Model, x: np.ndarray, seed: int) -> np.ndarray:
    return np.asarray(model.apply(model.variables, x, training=True, rng=jax.random.PRNGKey(seed)))


@pytest.mark.parametrize(("layer", "keras_layer", "shape"), [e[1:] for e in LAYERS], ids=IDS)
def test_identity_at_inference_and_rng_driven_in_training(layer, keras_layer, shape) -> None:  # type: ignore[no-untyped-def]
    x = random_input(shape, batch=20)
    model = _model(layer, shape)
    np.testing.assert_array_equal(model.predict(x), x)
    np.testing.assert_array_equal(np.asarray(model.apply(model.variables, x)), x)
    with keras_side():
        np.testing.assert_array_equal(
            keras_sequential([keras_layer()], shape).predict(x, verbose=0), x
        )
    a, b, c = _train(model, x, 1), _train(model, x, 1), _train(model, x, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, x)
    with pytest.raises(ValueError, match="needs an rng"):
        model.apply(model.variables, x, training=True)


def test_seed_changes_the_noise() -> None:
    x = random_input((30,), batch=10)
    plain = _train(_model({"type": "GaussianNoise", "stddev": 0.1}, (30,)), x, 0)
    seeded = _train(_model({"type": "GaussianNoise", "stddev": 0.1, "seed": 7}, (30,)), x, 0)
    assert not np.array_equal(plain, seeded)


N = (400, 500)  # 200,000 draws: a 6-sigma band on mean and variance is a few percent wide


def _band(n: int, var: float, sigmas: float = 6.0) -> float:
    return sigmas * math.sqrt(var / n)


@pytest.mark.parametrize("stddev", [0.1, 0.8])
def test_gaussian_noise_statistics(stddev: float) -> None:
    x = random_input(N[1:], batch=N[0])
    noise = _train(_model({"type": "GaussianNoise", "stddev": stddev}, N[1:]), x, 3) - x
    assert abs(noise.mean()) < _band(noise.size, stddev**2)
    assert abs(noise.var() - stddev**2) < _band(noise.size, 2 * stddev**4)


@pytest.mark.parametrize("rate", [0.2, 0.6])
def test_gaussian_dropout_statistics(rate: float) -> None:
    x = np.ones(N, np.float32)
    y = _train(_model({"type": "GaussianDropout", "rate": rate}, N[1:]), x, 4)
    var = rate / (1 - rate)
    assert abs(y.mean() - 1.0) < _band(y.size, var)
    assert abs(y.var() - var) < _band(y.size, 2 * var**2)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_alpha_dropout_keeps_mean_and_variance(rate: float) -> None:
    """Klambauer et al.: for zero-mean unit-variance inputs, mean 0 and variance 1 survive; a
    dropped entry is exactly `a * alpha' + b`, a kept one `a * x + b` (the Keras formula)."""
    x = random_input(N[1:], batch=N[0])
    y = _train(_model({"type": "AlphaDropout", "rate": rate}, N[1:]), x, 5)
    alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    b = -a * alpha_p * rate
    dropped = np.isclose(y, a * alpha_p + b, rtol=1e-6)
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-6)
    assert abs(dropped.mean() - rate) < _band(y.size, rate * (1 - rate))
    assert abs(y.mean()) < 0.02
    assert abs(y.var() - 1.0) < 0.02


def test_alpha_dropout_at_rate_zero_is_the_identity_even_in_training() -> None:
    """Keras' `AlphaDropout.call` applies noise only `if training and self.rate > 0`: at rate 0
    a training call returns its input and draws nothing (so it needs no rng)."""
    model = _model({"type": "AlphaDropout", "rate": 0.0}, N[1:])
    x = random_input(N[1:], batch=N[0])
    np.testing.assert_array_equal(model.apply(model.variables, x, training=True), x)


def test_alpha_dropout_noise_shape_broadcasts() -> None:
    layer = {"type": "AlphaDropout", "rate": 0.5, "noise_shape": [None, 1, 6]}
    x = random_input((5, 6), batch=8)
    y = _train(_model(layer, (5, 6)), x, 6)
    alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
    a = (0.5 * (1 + 0.5 * alpha_p**2)) ** -0.5
    dropped = np.isclose(y, a * alpha_p - a * alpha_p * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(dropped, dropped[:, :1, :].repeat(5, axis=1))
    assert 0 < dropped.mean() < 1


@pytest.mark.parametrize(
    ("layer", "shape", "channel_axis"),
    [
        ({"type": "SpatialDropout1D", "rate": 0.3}, (6, 50), -1),
        ({"type": "SpatialDropout2D", "rate": 0.5}, (4, 4, 50), -1),
        ({"type": "SpatialDropout2D", "rate": 0.5, "data_format": "channels_first"}, (50, 4, 4), 1),
        ({"type": "SpatialDropout3D", "rate": 0.7}, (2, 3, 2, 50), -1),
    ],
    ids=["1d", "2d", "2d-channels-first", "3d"],
)
def test_spatial_dropout_drops_whole_channels(
    layer: dict[str, Any], shape: tuple[int, ...], channel_axis: int
) -> None:
    rate = layer["rate"]
    x = 1.0 + np.abs(random_input(shape, batch=200))
    y = _train(_model(layer, shape), x, 7)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-6)
    channels = np.moveaxis(kept, channel_axis, 1).reshape(200, y.shape[channel_axis], -1)
    assert (channels.all(axis=-1) | ~channels.any(axis=-1)).all()  # a channel: all or nothing
    dropped = 1 - channels[..., 0].mean()
    assert abs(dropped - rate) < _band(channels[..., 0].size, rate * (1 - rate))


def test_keras1_names() -> None:
    with pytest.warns(KspecDeprecationWarning, match="use `stddev`"):
        _model({"type": "GaussianNoise", "sigma": 0.2}, (3,))
    with (
        pytest.warns(KspecDeprecationWarning, match="use `rate`"),
        pytest.warns(KspecDeprecationWarning, match="use `data_format`"),
    ):
        model = _model({"type": "SpatialDropout2D", "p": 0.5, "dim_ordering": "th"}, (3, 4, 4))
    assert model.compiled.graph.nodes[0].spec.data_format == "channels_first"
