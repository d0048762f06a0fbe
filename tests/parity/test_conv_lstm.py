"""ConvLSTM2D against Keras 3 (weights copied with set_weights): both data formats, the
output flags, go_backwards, padding, strides, dilation; masks refused; the stateful carry."""

from __future__ import annotations

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.errors import SpecError
from tests.parity.harness import ATOL, RTOL, keras_side, randomize_weights

# (data_format, return_sequences, return_state, go_backwards, padding, strides)
GRID = [
    ("channels_last", 0, 0, 0, "valid", 1),
    ("channels_last", 1, 1, 1, "same", 1),
    ("channels_last", 1, 0, 0, "same", 2),
    ("channels_last", 0, 1, 1, "valid", 2),
    ("channels_first", 0, 1, 0, "same", 1),
    ("channels_first", 1, 0, 1, "valid", 2),
    ("channels_first", 1, 1, 0, "same", 2),
]
STEPS, ROWS, COLS, CHANNELS = 4, 7, 6, 3


def _input(data_format: str, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((3, STEPS, ROWS, COLS, CHANNELS))
    x = x.astype(np.float32)
    return np.moveaxis(x, -1, 2) if data_format == "channels_first" else x


def _spec(params: dict, shape: tuple[int, ...], **model: object) -> dict:
    return {
        "kspec": 1,
        "inputs": {"x": {"shape": list(shape)}},
        "layers": [{"type": "ConvLSTM2D", "name": "rnn", **params}],
        **model,
    }


def _compare(params: dict, x: np.ndarray, **model: object) -> kspec.Model:
    with keras_side():
        layer = keras.layers.ConvLSTM2D(**params)
        layer.build((None, *x.shape[1:]))
        randomize_weights(layer, seed=5)
        expected = layer(x)
        expected = [
            np.asarray(e) for e in (expected if isinstance(expected, list | tuple) else [expected])
        ]
        weights = layer.get_weights()
    model_ = kspec.load(_spec(params, x.shape[1:], **model))
    assert [w.shape for w in model_.get_weights()] == [w.shape for w in weights]
    model_.set_weights(weights)
    actual = model_.apply(model_.variables, x)
    actual = actual if isinstance(actual, list) else [actual]
    assert [a.shape for a in actual] == [e.shape for e in expected]
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(np.asarray(a), e, rtol=RTOL, atol=ATOL)
    return model_


@pytest.mark.parametrize("flags", GRID, ids=lambda f: "{}-rs{}-st{}-gb{}-{}-s{}".format(*f))
def test_parity_grid(flags: tuple) -> None:
    keras.utils.set_random_seed(0)
    fmt, seqs, state, backwards, padding, strides = flags
    params = {
        "filters": 2,
        "kernel_size": 3,
        "padding": padding,
        "strides": strides,
        "data_format": fmt,
        "return_sequences": bool(seqs),
        "return_state": bool(state),
        "go_backwards": bool(backwards),
    }
    _compare(params, _input(fmt))


@pytest.mark.parametrize(
    "params",
    [
        {"kernel_size": (3, 2), "dilation_rate": 2, "padding": "same", "use_bias": False},
        {
            "kernel_size": 2,
            "activation": "relu",
            "recurrent_activation": "hard_sigmoid",
            "unit_forget_bias": False,
            "unroll": True,
            "return_sequences": True,
        },
    ],
)
def test_parity_options(params: dict) -> None:
    keras.utils.set_random_seed(1)
    _compare({"filters": 3, **params}, _input("channels_last", 1))


def test_model_data_format_is_the_default() -> None:
    keras.utils.set_random_seed(2)
    params = {"filters": 2, "kernel_size": 2, "return_sequences": True}
    x = _input("channels_first", 2)
    with keras_side():
        layer = keras.layers.ConvLSTM2D(data_format="channels_first", **params)
        layer.build((None, *x.shape[1:]))
        randomize_weights(layer)
        expected = np.asarray(layer(x))
        weights = layer.get_weights()
    model = kspec.load(_spec(params, x.shape[1:], data_format="channels_first"))
    model.set_weights(weights)
    np.testing.assert_allclose(model.apply(model.variables, x), expected, rtol=RTOL, atol=ATOL)


def test_a_masked_input_is_an_error() -> None:
    """Keras' ConvLSTM2D fails on a mask (its cell cannot broadcast one), so kspec refuses it
    at compile time."""
    spec = _spec({"filters": 2, "kernel_size": 3}, (STEPS, ROWS, COLS, CHANNELS))
    spec["layers"].insert(0, {"type": "Masking"})
    with pytest.raises(SpecError, match="mask"):
        kspec.load(spec)


def test_stateful_halves_equal_the_whole() -> None:
    def spec(stateful: bool, steps: int) -> dict:
        return {
            "kspec": 1,
            "inputs": {"x": {"shape": [steps, 5, 5, 2], "batch_size": 2}},
            "layers": [
                {
                    "type": "ConvLSTM2D",
                    "filters": 3,
                    "kernel_size": 3,
                    "padding": "same",
                    "stateful": stateful,
                    "return_sequences": True,
                }
            ],
        }

    x = np.random.default_rng(4).standard_normal((2, 6, 5, 5, 2)).astype(np.float32)
    whole, half = kspec.load(spec(False, 6)), kspec.load(spec(True, 3))
    half.set_weights(whole.get_weights())
    expected = np.asarray(whole.apply(whole.variables, x))
    first, aux = half.apply(half.variables, x[:, :3], return_aux=True)
    second, _ = half.apply({**half.variables, "state": aux.state}, x[:, 3:], return_aux=True)
    actual = np.concatenate([first, second], axis=1)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_dropout_in_training_is_deterministic_per_rng() -> None:
    model = kspec.load(
        _spec(
            {"filters": 2, "kernel_size": 3, "dropout": 0.5, "recurrent_dropout": 0.5},
            (STEPS, ROWS, COLS, CHANNELS),
        )
    )
    x = _input("channels_last")
    run = lambda k: np.asarray(model.apply(model.variables, x, training=True, rng=k))  # noqa: E731
    np.testing.assert_array_equal(run(jax.random.PRNGKey(0)), run(jax.random.PRNGKey(0)))
    assert not np.array_equal(run(jax.random.PRNGKey(0)), run(jax.random.PRNGKey(1)))
    assert not np.array_equal(run(jax.random.PRNGKey(0)), model.apply(model.variables, x))
