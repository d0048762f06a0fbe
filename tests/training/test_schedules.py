"""Learning-rate schedules against Keras 3's schedule objects, and declared in a spec."""

from __future__ import annotations

from pathlib import Path

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.runtime.training.optimizers import keras_optimizer
from kspec.runtime.training.schedules import get_schedule

STEPS = [0, 1, 7, 99, 100, 101, 250, 999, 1000, 1001, 2500, 10_000]
CASES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.9}),
    (
        "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5, "staircase": True},
    ),
    ("PiecewiseConstantDecay", {"boundaries": [100, 1000], "values": [1.0, 0.5, 0.1]}),
    ("PiecewiseConstantDecay", {"boundaries": [250], "values": [0.3, 0.03]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 1000}),
    (
        "PolynomialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 300, "power": 2.0, "cycle": True},
    ),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5}),
    (
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5, "staircase": True},
    ),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 1000}),
    (
        "CosineDecay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 900,
            "alpha": 0.1,
            "warmup_target": 0.1,
            "warmup_steps": 100,
        },
    ),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 100}),
    (
        "CosineDecayRestarts",
        {
            "initial_learning_rate": 0.1,
            "first_decay_steps": 100,
            "t_mul": 1.0,
            "m_mul": 0.5,
            "alpha": 0.2,
        },
    ),
]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


@pytest.mark.parametrize(
    ("name", "options"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_schedules_match_keras(name: str, options: dict) -> None:
    """Both jitted, as they run in a train step (XLA turns `/ constant` into `* 1/constant`)."""
    reference = jax.jit(getattr(keras.optimizers.schedules, name)(**options).__call__)
    schedule = jax.jit(get_schedule({"schedule": _snake(name), **options}))
    expected = [float(reference(np.int32(step))) for step in STEPS]
    got = [float(schedule(np.int32(step))) for step in STEPS]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)


def test_schedule_specs_are_checked() -> None:
    with pytest.raises(ValueError, match="values needs one entry more than boundaries"):
        get_schedule({"schedule": "piecewise_constant_decay", "boundaries": [1], "values": [1.0]})
    with pytest.raises(ValueError, match="decay_steps"):
        get_schedule({"schedule": "exponential_decay", "initial_learning_rate": 0.1})


X = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
Y = np.eye(3, dtype="float32")[np.random.default_rng(1).integers(0, 3, 40)]
DECAY = {"initial_learning_rate": 0.05, "decay_steps": 2, "decay_rate": 0.5, "staircase": True}


def test_fit_with_a_spec_declared_schedule_matches_keras() -> None:
    spec = {
        "kspec": 1,
        "inputs": {"x": [4]},
        "layers": [
            {"type": "Dense", "units": 8, "activation": "tanh"},
            {"type": "Dense", "units": 3, "activation": "softmax"},
        ],
        "compile": {
            "optimizer": {
                "type": "adam",
                "learning_rate": {"schedule": "exponential_decay", **DECAY},
            },
            "loss": "categorical_crossentropy",
        },
    }
    model = kspec.load(spec)
    model.init(0)
    reference = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="tanh"),
        keras.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    reference.set_weights(model.get_weights())
    schedule = keras.optimizers.schedules.ExponentialDecay(**DECAY)
    reference.compile(keras.optimizers.Adam(schedule), "categorical_crossentropy")
    with jax.numpy_rank_promotion("allow"):
        expected = reference.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    got = model.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(got.history["loss"], expected.history["loss"], rtol=1e-5)
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_python_optimizer_takes_a_schedule_mapping() -> None:
    optimizer = keras_optimizer(
        "sgd", learning_rate={"schedule": "inverse_time_decay", **{**DECAY, "decay_rate": 1.0}}
    )
    state = optimizer.init({"w": np.zeros(2, np.float32)})
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(0.05)


def test_callbacks_cannot_set_a_scheduled_learning_rate() -> None:
    model = kspec.load(
        {"kspec": 1, "inputs": {"x": [4]}, "layers": [{"type": "Dense", "units": 3}]}
    )
    model.init(0)
    model.compile(
        {"type": "sgd", "learning_rate": {"schedule": "exponential_decay", **DECAY}}, "mse"
    )
    callback = kspec.callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2)
    with pytest.raises(
        ValueError, match=r"^the learning rate follows a schedule, so it cannot be set"
    ):
        model.fit(X, np.zeros((len(X), 3), np.float32), epochs=1, verbose=0, callbacks=[callback])


def test_compile_section_mistakes_are_reported_once_at_their_place(tmp_path: Path) -> None:
    """A wrong value inside a mapping is reported there only, not also as "not a number" or
    "unknown optimizer" by the union's other branch."""
    path = tmp_path / "model.yaml"
    path.write_text(
        "kspec: 1\n"
        "inputs: {x: [4]}\n"
        "layers: [{type: Dense, units: 3}]\n"
        "compile:\n"
        "  optimizer: {type: adam, learning_rate: {schedule: cosine_decay, decay_steps: 0}}\n"
        "  loss: mse\n"
        "  metrics: [mae, {type: auc, curve: ROCC}]\n"
    )
    with pytest.raises(kspec.SpecError) as caught:
        kspec.load(path)
    lines = [line.split(": error: ", 1)[1] for line in str(caught.value).splitlines()]
    assert lines == [
        "missing required parameter `compile.optimizer.learning_rate.initial_learning_rate`",
        "`compile.optimizer.learning_rate.decay_steps` should be greater than 0. "
        "Received: compile.optimizer.learning_rate.decay_steps=0",
        "`compile.metrics.1.curve` should be 'ROC' or 'PR'. "
        "Received: compile.metrics.1.curve='ROCC'",
    ]
