"""Loss scaling under `mixed_float16` against Keras 3's `LossScaleOptimizer`: the optimizer
step by step (finite and non-finite gradients, growth), and a whole first epoch of `fit`.

Tolerance of the fit comparison (docs/precision.md): float16 computation on both sides, the
same XLA ops; the first-epoch loss agrees to rtol 1e-3 and the trained weights to 1e-2.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np
import pytest

import kspec
from kspec.runtime.training.loss_scale import current_scale, loss_scale_optimizer
from kspec.runtime.training.optimizers import (
    get_learning_rate,
    keras_optimizer,
    set_learning_rate,
)
from tests.parity.harness import keras_side, sequential_spec


@pytest.fixture
def mixed_float16() -> Iterator[None]:
    keras.config.set_dtype_policy("mixed_float16")
    yield
    keras.config.set_dtype_policy("float32")


def test_optimizer_steps_as_keras_loss_scale_optimizer() -> None:
    """Adam behind a scale of 8 growing every 3 finite steps; steps 2 and 6 carry an inf or a
    nan, so they are skipped and halve the scale. Weights, Adam's state (via the weights
    after later steps) and the scale match Keras after every step."""
    rng = np.random.default_rng(0)
    start = {"w": rng.standard_normal((3, 2)).astype(np.float32)}
    grads = [rng.standard_normal((3, 2)).astype(np.float32) * 8 for _ in range(9)]
    grads[2][0, 1] = np.inf
    grads[6][1, 0] = np.nan
    with keras_side():
        variable = keras.Variable(start["w"])
        theirs = keras.optimizers.LossScaleOptimizer(
            keras.optimizers.Adam(0.1), initial_scale=8.0, dynamic_growth_steps=3
        )
        theirs.build([variable])
    ours = loss_scale_optimizer(keras_optimizer("adam", learning_rate=0.1), 8.0, 3)
    params, state = start, ours.init(start)
    their_weights = [variable.value]
    their_state = [v.value for v in theirs.variables]
    at_scale = [v.path for v in theirs.variables].index(theirs.dynamic_scale.path)
    scales = []
    for g in grads:
        with keras_side():  # the JAX trainer's way: stateless, as inside a jitted step
            their_weights, their_state = theirs.stateless_apply(their_state, [g], their_weights)
        updates, state = ours.update({"w": g}, state, params)
        params = {"w": params["w"] + updates["w"]}
        np.testing.assert_allclose(params["w"], np.asarray(their_weights[0]), rtol=1e-6, atol=1e-6)
        assert float(current_scale(state)) == float(their_state[at_scale])
        scales.append(float(current_scale(state)))
    assert scales == [8.0, 8.0, 4.0, 4.0, 4.0, 8.0, 4.0, 4.0, 4.0]


def test_mixed_float16_fit_matches_keras_first_epoch(mixed_float16: None) -> None:
    """Targets near 600: at the initial scale 2**15 the float16 backward pass overflows, so
    both sides skip steps and halve the scale until the gradients fit, then train."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (600.0 + rng.standard_normal((64, 1))).astype(np.float32)
    with keras_side():
        theirs = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
        )
        theirs.set_weights(
            [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in theirs.weights]
        )
        start = theirs.get_weights()
        theirs.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
        expected = theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        keras_scale = float(theirs.optimizer.dynamic_scale.value)
        keras_weights = theirs.get_weights()
    layers = [{"type": "Dense", "units": 8, "activation": "relu"}, {"type": "Dense", "units": 1}]
    model = kspec.load(sequential_spec(layers, (4,), dtype_policy="mixed_float16"))
    model.init(0)
    model.set_weights(start)
    model.compile(optimizer={"type": "sgd", "learning_rate": 1e-3}, loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert keras_scale < 2.0**15  # steps were skipped
    assert float(current_scale(model.optimizer_state)) == keras_scale
    np.testing.assert_allclose(history.history["loss"][0], expected.history["loss"][0], rtol=1e-3)
    for ours, theirs_w in zip(model.get_weights(), keras_weights, strict=True):
        np.testing.assert_allclose(ours, theirs_w, rtol=1e-2, atol=1e-2)


def test_auto_scale_loss_off_and_other_policies_use_the_plain_optimizer() -> None:
    layers = [{"type": "Dense", "units": 1}]
    for policy, auto, scaled in [
        ("mixed_float16", True, True),
        ("mixed_float16", False, False),
        ("mixed_bfloat16", True, False),
    ]:
        model = kspec.load(sequential_spec(layers, (2,), dtype_policy=policy))
        model.init(0)
        model.compile(optimizer="sgd", loss="mse", auto_scale_loss=auto)
        assert (current_scale(model.optimizer_state) is not None) is scaled
        # callbacks still find the wrapped optimizer's learning rate
        state = set_learning_rate(model.optimizer_state, 0.5)
        assert get_learning_rate(state) == 0.5
