"""What a call costs besides its program: the first `train_on_batch` compiles the step and
the optimizer's initial state and nothing else (eager ops compile a program each on first
use), and `predict` does not copy weights that are already where its program reads them,
while still seeing every assignment."""

from __future__ import annotations

import logging
from collections.abc import Callable

import jax
import numpy as np
import pytest

import kspec
from kspec.runtime.training.sharding import data_parallel

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 5)).astype("float32")
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 8)]
SPEC = {
    "kspec": 1,
    "inputs": {"x": [5]},
    "layers": [
        {"type": "Dense", "units": 7, "activation": "relu"},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}
METRICS = ["accuracy", "AUC", {"type": "MeanIoU", "num_classes": 3}, "Precision", "R2Score"]
"""One of each kind of metric state: mean sums, confusion matrices, thresholded counts,
the regression sums."""


def _compiled_programs(caplog: pytest.LogCaptureFixture, run: Callable[[], object]) -> list[str]:
    """The names of the programs `run` compiles, from JAX's compile log."""
    jax.clear_caches()  # eager ops earlier tests compiled would otherwise not show
    with caplog.at_level(logging.WARNING), jax.log_compiles(True):
        run()
    messages = [record.getMessage() for record in caplog.records]
    return [m.split(" ")[1] for m in messages if m.startswith("Compiling ")]


def test_the_first_train_step_compiles_the_step_and_the_optimizer_state_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = kspec.load(SPEC)
    model.init(0)
    model.compile("adam", "categorical_crossentropy", METRICS)
    programs = _compiled_programs(caplog, lambda: model.train_on_batch(X, Y))
    assert len(programs) == 2 and programs[1] == "jit(train)", programs  # [0]: optax's init


def test_weights_init_made_count_as_placed_on_one_device() -> None:
    """On one device an array `init` made (a `SingleDeviceSharding`) is already replicated:
    `replicate` returns the very tree, so `predict` copies nothing."""
    model = kspec.load(SPEC)
    variables = model.init(0)
    assert jax.device_count() == 1
    assert data_parallel().replicate(variables) is variables


def test_predict_sees_new_variables_and_weights_assigned_in_place() -> None:
    model = kspec.load(SPEC)
    model.init(0)
    first = model.predict(X, batch_size=4)
    model.variables = model.init(1)
    second = model.predict(X, batch_size=4)
    np.testing.assert_allclose(second, model.apply(model.variables, X), rtol=1e-6)
    assert not np.allclose(first, second)
    model.variables["params"]["dense_1"]["bias"] = jax.numpy.asarray([50.0, 0.0, 0.0])
    assert np.allclose(model.predict(X, batch_size=4)[:, 0], 1.0)
    assert np.allclose(model.predict_on_batch(X)[:, 0], 1.0)
