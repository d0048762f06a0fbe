"""Adafactor, Ftrl and Lamb step for step against Keras 3 on weights of rank 1, 2 and 3:
these rules read the weight itself (Adafactor its RMS and, from rank 2, row and column
moments; Ftrl solves the new weight; Lamb its norm), so rank and weight decay matter."""

from __future__ import annotations

import jax
import keras
import numpy as np
import optax
import pytest

import kspec
from kspec.runtime.training.optimizers import keras_optimizer

FTRL_ALL = {
    "l1_regularization_strength": 0.01,
    "l2_regularization_strength": 0.02,
    "l2_shrinkage_regularization_strength": 0.01,
    "beta": 0.1,
    "learning_rate_power": -0.6,
}
CASES = [
    ("Adafactor", {}),
    ("Adafactor", {"weight_decay": 0.1, "clipnorm": 0.5, "clip_threshold": 0.5}),
    ("Adafactor", {"beta_2_decay": -0.5, "epsilon_2": 0.5, "relative_step": False}),
    ("Ftrl", {}),
    ("Ftrl", FTRL_ALL),
    ("Ftrl", {"weight_decay": 0.1, "initial_accumulator_value": 0.5}),
    ("Lamb", {}),
    ("Lamb", {"weight_decay": 0.1, "global_clipnorm": 1.0, "beta_1": 0.5}),
]
SHAPES = [(5,), (3, 4), (2, 3, 4)]


def _steps(shape: tuple[int, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(len(shape))
    w0 = rng.normal(size=shape).astype("float32")
    return w0, [rng.normal(size=shape).astype("float32") * s for s in (1.0, 0.1, 3.0, 0.5, 1.0)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_steps_match_keras(name: str, options: dict, shape: tuple[int, ...]) -> None:
    options = {"learning_rate": 0.05, **options}
    w0, grads = _steps(shape)
    reference = getattr(keras.optimizers, name)(**options)
    variable = keras.Variable(w0)
    reference.build([variable])
    optimizer = keras_optimizer(name, **options)
    params = {"w": w0}
    state = optimizer.init(params)
    for g in grads:
        reference.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
        updates, state = optimizer.update({"w": g}, state, params)
        params = optax.apply_updates(params, updates)
        np.testing.assert_allclose(params["w"], variable.value, rtol=1e-6, atol=1e-7)
    assert np.abs(np.asarray(variable.value) - w0).max() > 1e-3  # the steps moved the weights


def test_adafactor_keeps_factored_moments_only() -> None:
    """A rank-2 weight holds a row and a column moment, not a full one (Keras allocates a
    full `v` it never reads)."""
    state = keras_optimizer("adafactor").init({"w": np.zeros((3, 4), np.float32)})
    shapes = [np.shape(s["w"]) for s in state.inner_state.slots]
    assert shapes == [(3,), (4,), ()]


def test_weight_rules_need_params() -> None:
    optimizer = keras_optimizer("lamb")
    state = optimizer.init({"w": np.ones(3, np.float32)})
    with pytest.raises(ValueError, match=r"this optimizer needs the params passed to `update`"):
        optimizer.update({"w": np.ones(3, np.float32)}, state)


@pytest.mark.parametrize("name", ["Adafactor", "Ftrl", "Lamb"])
def test_fit_with_the_optimizer_matches_keras(name: str) -> None:
    """Inside the jitted train step (a kernel and a bias: rank 2 and rank 1), two epochs."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    reference = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model = kspec.load("kspec: 1\ninputs: {x: [3]}\nlayers: [{type: Dense, units: 2}]\n")
    model.set_weights(reference.get_weights())
    reference.compile(optimizer=getattr(keras.optimizers, name)(learning_rate=0.1), loss="mse")
    model.compile(optimizer={"type": name, "learning_rate": 0.1}, loss="mse")
    with jax.numpy_rank_promotion("allow"):  # Keras itself relies on rank promotion
        reference.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_spec_checks_each_optimizers_parameters() -> None:
    spec = kspec.validate(
        "kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Dense, units: 1}]\ncompile:\n"
        "  optimizer: {type: Ftrl, l1_regularization_strength: 0.01, beta: 0.1}\n  loss: mse\n"
    )
    assert spec.compile is not None
    assert spec.compile.optimizer.type == "ftrl"
    with pytest.raises(kspec.SpecError, match=r"optimizer 'lamb' has no parameter rho; it takes"):
        kspec.validate(
            "kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Dense, units: 1}]\n"
            "compile: {optimizer: {type: Lamb, rho: 0.9}, loss: mse}\n"
        )
