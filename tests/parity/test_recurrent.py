"""SimpleRNN, LSTM and GRU against Keras 3 (weights copied with set_weights), plus the
behaviour Keras cannot be compared on directly: dropout in training, stateful calls, names."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning, SpecError
from tests.parity.harness import ATOL, RTOL, keras_side, randomize_weights

L = keras.layers
CELLS = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False})]
# (return_sequences, return_state, go_backwards, masked): the full product
GRID = list(itertools.product((0, 1), repeat=4))


def padded_batch(steps: int = 6, features: int = 3) -> np.ndarray:
    """Sequences whose masks differ per sample: right padding of different lengths, a
    padded first step, and one sample without padding."""
    x = np.random.default_rng(0).standard_normal((4, steps, features)).astype(np.float32)
    x[0, 4:] = 0.0
    x[1, 2:] = 0.0
    x[2, 0] = 0.0
    return x


def _compare(spec: dict, layer: Any, inputs: list[np.ndarray], masked: bool) -> kspec.Model:
    """Call the Keras layer on `inputs`, copy its weights into `spec`, compare every output."""
    with keras_side():
        x, *states = inputs
        mask = np.any(x != 0.0, axis=-1) if masked else None
        layer(x, mask=mask, initial_state=states or None)  # builds it
        randomize_weights(layer)
        expected = layer(x, mask=mask, initial_state=states or None)
        expected = [
            np.asarray(e) for e in (expected if isinstance(expected, list | tuple) else [expected])
        ]
        weights = layer.get_weights()
    model = kspec.load(spec)
    model.set_weights(weights)
    actual = model.apply(model.variables, *inputs)
    actual = actual if isinstance(actual, list) else [actual]
    assert [a.shape for a in actual] == [e.shape for e in expected]
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(np.asarray(a), e, rtol=RTOL, atol=ATOL)
    return model


def _rnn_spec(type_name: str, params: dict, masked: bool, steps: int = 6) -> dict:
    layers = [{"type": "Masking"}] if masked else []
    return {
        "kspec": 1,
        "inputs": {"x": {"shape": [steps, 3]}},
        "layers": [*layers, {"type": type_name, "name": "rnn", **params}],
    }


@pytest.mark.parametrize(("type_name", "extra"), CELLS, ids=lambda v: str(v))
@pytest.mark.parametrize("flags", GRID, ids=lambda f: "rs{}-st{}-gb{}-mask{}".format(*f))
def test_parity_grid(type_name: str, extra: dict, flags: tuple[int, ...]) -> None:
    keras.utils.set_random_seed(0)
    seqs, state, backwards, masked = (bool(f) for f in flags)
    params = {"units": 4, "return_sequences": seqs, "return_state": state}
    params |= {"go_backwards": backwards, **extra}
    with keras_side():
        layer = getattr(L, type_name)(**params)
    _compare(_rnn_spec(type_name, params, masked), layer, [padded_batch()], masked)


@pytest.mark.parametrize(
    ("type_name", "params"),
    [
        ("SimpleRNN", {"activation": "relu", "use_bias": False, "unroll": True}),
        ("LSTM", {"unit_forget_bias": False, "recurrent_activation": "hard_sigmoid"}),
        ("LSTM", {"unroll": True, "return_sequences": True, "go_backwards": True}),
        ("GRU", {"reset_after": False, "use_bias": False, "activation": "softsign"}),
        ("GRU", {"unroll": True, "return_sequences": True}),
    ],
)
def test_parity_options(type_name: str, params: dict) -> None:
    keras.utils.set_random_seed(1)
    params = {"units": 3, **params}
    with keras_side():
        layer = getattr(L, type_name)(**params)
        layer.build((None, 6, 3))
        if layer.cell.use_bias:  # non-zero biases, so the bias wiring is checked too
            bias = layer.cell.bias
            bias.assign(np.random.default_rng(2).standard_normal(bias.shape).astype("float32"))
    _compare(_rnn_spec(type_name, params, True), layer, [padded_batch()], True)


@pytest.mark.parametrize(("type_name", "count"), [("LSTM", 2), ("GRU", 1)])
def test_initial_state_inputs(type_name: str, count: int) -> None:
    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(3)
    states = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(count)]
    names = [f"s{i}" for i in range(count)]
    spec = {
        "kspec": 1,
        "inputs": {"x": {"shape": [6, 3]}, **{n: {"shape": [3]} for n in names}},
        "layers": [
            {"type": "Masking", "inputs": ["x"]},
            {"type": type_name, "name": "rnn", "units": 3, "return_state": True,
             "inputs": ["masking", *names]},
        ],
    }  # fmt: skip
    with keras_side():
        layer = getattr(L, type_name)(3, return_state=True)
    _compare(spec, layer, [padded_batch(), *states], True)


def test_lstm_unit_forget_bias_initialises_the_forget_gate_to_one() -> None:
    model = kspec.load(_rnn_spec("LSTM", {"units": 2, "bias_initializer": "zeros"}, False))
    np.testing.assert_array_equal(model.get_weights()[2], [0, 0, 1, 1, 0, 0, 0, 0])
    gru = kspec.load(_rnn_spec("GRU", {"units": 2}, False))
    assert [w.shape for w in gru.get_weights()] == [(3, 6), (2, 6), (2, 6)]


# Dropout --------------------------------------------------------------------------------------


def _identity_rnn(params: dict, steps: int = 5) -> tuple[kspec.Model, Any]:
    """A linear SimpleRNN with identity kernels: h_t = x_t * m_x + h_{t-1} * m_h."""
    spec = {
        "kspec": 1,
        "inputs": {"x": {"shape": [steps, 64]}},
        "layers": [{"type": "SimpleRNN", "units": 64, "activation": "linear",
                    "return_sequences": True, "use_bias": False, **params}],
    }  # fmt: skip
    model = kspec.load(spec)
    recurrent = np.eye(64) if params.get("recurrent_dropout") else np.zeros((64, 64))
    model.set_weights([np.eye(64), recurrent])

    def run(key: jax.Array | None, training: bool = True) -> np.ndarray:
        x = jnp.ones((32, steps, 64))
        return np.asarray(model.apply(model.variables, x, training=training, rng=key))

    return model, run


def test_input_dropout_is_one_scaled_mask_fixed_across_time() -> None:
    _, run = _identity_rnn({"dropout": 0.25})
    out = run(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1], out.shape))  # fixed in time
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out[:, 0] == 0).mean() - 0.25) < 0.03
    np.testing.assert_array_equal(run(jax.random.PRNGKey(0)), out)  # deterministic
    assert not np.array_equal(run(jax.random.PRNGKey(1)), out)
    np.testing.assert_array_equal(run(None, training=False), np.ones_like(out))  # inference


def test_recurrent_dropout_is_one_scaled_mask_fixed_across_time() -> None:
    _, run = _identity_rnn({"recurrent_dropout": 0.5})
    out = run(jax.random.PRNGKey(0))
    kept = out[:, 1] - out[:, 0]  # h_2 - h_1 = h_1 * m_h = m_h
    assert set(np.unique(kept)) == {0.0, 2.0}
    np.testing.assert_allclose(out[:, 2] - out[:, 1], kept**2)  # the same mask again
    assert abs((kept == 0).mean() - 0.5) < 0.03


def test_seed_picks_another_mask_from_the_same_rng() -> None:
    """`seed` is folded into the node's dropout rng: the same seed gives the same mask, and
    another seed, or none, another one."""
    key = jax.random.PRNGKey(0)
    seeded = {seed: _identity_rnn({"dropout": 0.5, "seed": seed})[1](key) for seed in (3, 4)}
    np.testing.assert_array_equal(_identity_rnn({"dropout": 0.5, "seed": 3})[1](key), seeded[3])
    unseeded = _identity_rnn({"dropout": 0.5})[1](key)
    assert not np.array_equal(seeded[3], seeded[4])
    assert not np.array_equal(seeded[3], unseeded)


def test_dropout_in_training_needs_an_rng() -> None:
    model, _ = _identity_rnn({"dropout": 0.1})
    with pytest.raises(ValueError, match="SimpleRNN in training mode needs an rng"):
        model.apply(model.variables, np.ones((2, 5, 64), np.float32), training=True)


# Stateful -------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", ["LSTM", "GRU"])
def test_stateful_halves_equal_the_whole_and_reset_states(type_name: str) -> None:
    def spec(stateful: bool, steps: int) -> dict:
        return {
            "kspec": 1,
            "inputs": {"x": {"shape": [steps, 3], "batch_size": 4}},
            "layers": [{"type": type_name, "units": 5, "stateful": stateful,
                        "return_sequences": True}],
        }  # fmt: skip

    x = padded_batch(steps=8)
    whole = kspec.load(spec(False, 8))
    half = kspec.load(spec(True, 4))
    half.set_weights(whole.get_weights())
    assert half.count_params() == whole.count_params()  # carried states are not weights
    expected = np.asarray(whole.apply(whole.variables, x))
    first, aux = half.apply(half.variables, x[:, :4], return_aux=True)
    carried = {**half.variables, "state": aux.state}
    second, aux = half.apply(carried, x[:, 4:], return_aux=True)
    actual = np.concatenate([first, second], axis=1)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
    reset = half.reset_states({**half.variables, "state": aux.state})
    assert all(not np.any(v) for v in jax.tree.leaves(reset["state"]))
    np.testing.assert_allclose(half.apply(reset, x[:, :4]), first, rtol=RTOL, atol=ATOL)


def test_stateful_needs_a_fixed_batch_size() -> None:
    text = """kspec: 1
inputs: {x: {shape: [5, 3]}}
layers:
  - {type: LSTM, units: 2, stateful: true}
"""
    with pytest.raises(SpecError) as info:
        kspec.load(text)
    assert str(info.value) == (
        "<string>:4:5: error: node 'lstm': stateful=True needs a fixed batch size: give the "
        "model input a `batch_size`. Received: shape=(None, 5, 3)"
    )


# Regularizers, constraints, Keras 1 names --------------------------------------------------------


def test_recurrent_regularizer_and_constraint_act_on_the_recurrent_kernel() -> None:
    rules = {"recurrent_regularizer": {"l2": 0.1}, "recurrent_constraint": "non_neg"}
    spec = _rnn_spec("GRU", {"units": 2, **rules}, False)
    model = kspec.load(spec)
    recurrent = np.array([[1.0, -2, 0, 0, 0, 3], [0, 0, 0, 0, 0, 0]], np.float32)
    kernel, bias = (np.zeros(w.shape, np.float32) for w in model.get_weights()[::2])
    model.set_weights([kernel, recurrent, bias])
    _, aux = model.apply(model.variables, padded_batch(), return_aux=True)
    assert float(aux.loss) == pytest.approx(0.1 * 14.0)
    constrained = model.compiled.constrain(model.variables["params"])
    assert float(constrained["rnn"]["recurrent_kernel"].min()) == 0.0


def test_keras1_names() -> None:
    old = {
        "type": "LSTM", "output_dim": 3, "init": "zeros", "inner_init": "ones",
        "inner_activation": "hard_sigmoid", "forget_bias_init": "zero", "W_regularizer": "l1",
        "U_regularizer": "l2", "b_regularizer": "l1", "dropout_W": 0.1, "dropout_U": 0.2,
        "consume_less": "gpu",
    }  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = kspec.load(_rnn_spec("LSTM", {}, False) | {"layers": [old]})
    assert sum(w.category is KspecDeprecationWarning for w in caught) == 11
    layer = model.spec.layers[0]
    assert (layer.units, layer.recurrent_activation, layer.unit_forget_bias) == (
        3, "hard_sigmoid", False,
    )  # fmt: skip
    assert (layer.kernel_initializer.type, layer.recurrent_initializer.type) == ("Zeros", "Ones")
    assert (layer.dropout, layer.recurrent_dropout, layer.implementation) == (0.1, 0.2, 2)
    assert layer.recurrent_regularizer.type == "L2"
