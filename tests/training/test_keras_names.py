"""Keras habits (issue 13, item 6): every loss, metric and optimizer Keras 3 lists is
accepted by its function name and its class name with Keras' numbers, or refused with a
clear error naming what kspec has; `compile(jit_compile=, steps_per_execution=)` (grouped
steps at Keras' callback indices); `predict(verbose=)`."""

from __future__ import annotations

import inspect
import pathlib
from typing import Any

import keras
import numpy as np
import pytest

import kspec
from kspec.runtime.training.losses import canonical_loss_name, get_loss
from kspec.runtime.training.losses_special import SPECIAL_LOSSES
from kspec.runtime.training.metrics import METRIC_NAMES, get_metric
from kspec.runtime.training.optimizers import RULES, keras_optimizer
from kspec.schemas.compile_names import LOSSES as LOSS_NAMES
from kspec.schemas.compile_names import METRIC_NAMES as SCHEMA_METRIC_NAMES
from kspec.schemas.compile_names import options_needed, refusal
from kspec.spec.names import snake_case
from tests.parity.harness import keras_side

RNG = np.random.default_rng(3)
Y_TRUE = RNG.random((6, 4)).astype("float32")
Y_PRED = RNG.random((6, 4)).astype("float32") * 0.9 + 0.05


def public_classes(module: object, base: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if inspect.isclass(value) and issubclass(value, base) and value is not base
    )


KERAS_LOSS_CLASSES = public_classes(keras.losses, keras.losses.Loss)
KERAS_OPTIMIZER_CLASSES = public_classes(keras.optimizers, keras.optimizers.Optimizer)
KERAS_METRIC_CLASSES = public_classes(keras.metrics, keras.metrics.Metric)


def test_schema_and_runtime_know_the_same_metrics() -> None:
    assert set(METRIC_NAMES) == set(SCHEMA_METRIC_NAMES)


@pytest.mark.parametrize("name", KERAS_LOSS_CLASSES)
def test_every_keras_loss_class_is_keras_or_a_clear_refusal(name: str) -> None:
    function = snake_case(name) if name != "CTC" else "ctc"
    assert canonical_loss_name(name) == canonical_loss_name(function)
    if function in SPECIAL_LOSSES:  # batch-level and sequence losses: test_keras3_losses.py
        return
    reference = getattr(keras.losses, name)(reduction=None)
    labels = Y_TRUE.argmax(-1) if function.startswith("sparse") else Y_TRUE
    want = np.asarray(reference(labels, Y_PRED))
    got = np.asarray(get_loss(name)(labels, Y_PRED))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", KERAS_OPTIMIZER_CLASSES)
def test_every_keras_optimizer_class_is_known_or_a_clear_refusal(name: str) -> None:
    if name.lower() not in RULES:  # each refusal says why (no plain "unknown")
        with pytest.raises(ValueError, match=rf"^'{name}' is not available in kspec: \S"):
            keras_optimizer(name)
        return
    keras_optimizer(name)  # same rule as the lower-case name (parity: test_optimizers_losses)
    spec = kspec.validate(
        "kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Dense, units: 1}]\n"
        f"compile: {{optimizer: {name}, loss: MeanSquaredError}}\n"
    )
    assert spec.compile is not None
    assert spec.compile.optimizer == name.lower()
    assert spec.compile.loss == "mean_squared_error"


@pytest.mark.parametrize("name", KERAS_METRIC_CLASSES)
def test_every_keras_metric_class_is_keras_or_a_clear_refusal(name: str) -> None:
    """Each class works by name with Keras' numbers, needs its options (a mapping; parity in
    test_keras3_metrics.py), or is refused saying why; none is merely unknown."""
    if refusal(name):
        with pytest.raises(ValueError, match=rf"^'{name}' is not available in kspec: \S"):
            get_metric(name, Y_TRUE.shape, Y_PRED.shape)
        return
    if options_needed(name):
        with pytest.raises(ValueError, match=rf"^metric '{name}' needs \w+"):
            get_metric(name, Y_TRUE.shape, Y_PRED.shape)
        return
    reference = getattr(keras.metrics, name)()
    function = snake_case(name)
    labels = Y_TRUE.argmax(-1)[:, None] if "sparse" in function else (Y_TRUE > 0.5) * 1.0
    if name == "Accuracy":
        labels = np.round(Y_PRED[:, :1] * 2) / 2
    reference.update_state(labels, Y_PRED)
    metric = get_metric(name, labels.shape, Y_PRED.shape)
    state = metric.update(metric.init(), labels, Y_PRED, None)
    np.testing.assert_allclose(metric.result(state), reference.result(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("module", [keras.losses, keras.metrics], ids=["losses", "metrics"])
def test_every_keras_function_name_is_known(module: object) -> None:
    """`keras.losses.dice`, `keras.metrics.pearson_correlation` ...: each public function
    is a loss or metric name here."""
    functions = [
        name
        for name, value in vars(module).items()
        if inspect.isfunction(value) and name not in ("get", "serialize", "deserialize")
    ]
    assert len(functions) > 20
    missing = [n for n in functions if n not in SCHEMA_METRIC_NAMES and n not in LOSS_NAMES]
    assert missing == []


def test_compile_accepts_keras_execution_options_or_says_why_not() -> None:
    model = kspec.load("kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Dense, units: 1}]\n")
    model.compile("Adam", "MeanSquaredError", jit_compile=True, steps_per_execution=1)
    model.compile("adam", "mse", jit_compile="auto")
    with pytest.raises(ValueError, match=r"jit_compile must be True or 'auto'"):
        model.compile("adam", "mse", jit_compile=False)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(
            ValueError,
            match=rf"steps_per_execution must be a positive integer \(the train steps per "
            rf"execution\)\. Received: steps_per_execution={bad!r}$",
        ):
            model.compile("adam", "mse", steps_per_execution=bad)


def test_steps_per_execution_groups_steps_as_keras_does() -> None:
    """7 batches, 3 steps per execution: Keras 3 calls the batch hooks once per execution at
    (begin_step, end_step) = (0, 2), (3, 5), (6, 8) -- 8 although the epoch has 7 batches --
    and trains exactly as one step per execution does."""
    x = RNG.normal(size=(28, 3)).astype("float32")
    y = RNG.normal(size=(28, 2)).astype("float32")
    spec = "kspec: 1\ninputs: {x: [3]}\nlayers: [{type: Dense, units: 2}]\n"

    def recorder(module: Any, calls: list[tuple[str, int]]) -> Any:
        return module.LambdaCallback(
            on_train_batch_begin=lambda batch, logs: calls.append(("begin", batch)),
            on_train_batch_end=lambda batch, logs: calls.append(("end", batch)),
        )

    keras_calls: list[tuple[str, int]] = []
    fit = {"batch_size": 4, "epochs": 2, "shuffle": False, "verbose": 0}
    with keras_side():
        reference = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        start = reference.get_weights()
        reference.compile("sgd", "mse", steps_per_execution=3)
        reference.fit(x, y, callbacks=[recorder(keras.callbacks, keras_calls)], **fit)
    runs = []
    for size in (3, 1):
        model, calls = kspec.load(spec), []
        model.set_weights(start)
        model.compile("sgd", "mse", steps_per_execution=size)
        model.fit(x, y, callbacks=[recorder(kspec.callbacks, calls)], **fit)
        runs.append((model.get_weights(), calls))
    (grouped, grouped_calls), (single, single_calls) = runs
    executions = [("begin", 0), ("end", 2), ("begin", 3), ("end", 5), ("begin", 6), ("end", 8)]
    assert grouped_calls == keras_calls == executions * 2
    assert single_calls == [(hook, i) for i in range(7) for hook in ("begin", "end")] * 2
    for ours, one_step, theirs in zip(grouped, single, reference.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, one_step)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_predict_verbose_prints_as_keras(capsys: pytest.CaptureFixture[str]) -> None:
    model = kspec.load("kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Dense, units: 1}]\n")
    x = np.zeros((5, 2), np.float32)
    model.predict(x, batch_size=2, verbose=0)
    assert capsys.readouterr().out == ""
    model.predict(x, batch_size=2, verbose=2)
    assert capsys.readouterr().out.startswith("3/3 - ")
    with pytest.raises(ValueError, match=r"verbose must be 0, 1, 2 or 'auto'"):
        model.predict(x, verbose=5)


def test_validate_says_why_a_keras_name_is_refused() -> None:
    with pytest.raises(kspec.SpecError) as error:
        kspec.validate(
            "kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Dense, units: 1}]\n"
            "compile: {optimizer: LossScaleOptimizer, loss: mse, metrics: [Mean]}\n"
        )
    messages = [str(d) for d in error.value.diagnostics]
    assert len(messages) == 2
    assert messages[0].endswith(
        ":4:22: error: `compile.optimizer`: 'LossScaleOptimizer' is not available in kspec: "
        "kspec scales the loss itself: a mixed_float16 model trains behind Keras' dynamic loss "
        "scale, `compile(auto_scale_loss=False)` turns it off (docs/precision.md)"
    )
    assert messages[1].endswith(
        "`compile.metrics`: 'Mean' is not available in kspec: Keras' Mean averages the values "
        "passed to it, not (y_true, y_pred); name a loss or metric function instead, or pass a "
        "callable in Python"
    )


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_verbose_takes_keras_values_everywhere(method: str) -> None:
    model = kspec.load("kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Dense, units: 1}]\n")
    model.compile("adam", "mse")
    x, y = np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32)
    args = (x,) if method == "predict" else (x, y)
    getattr(model, method)(*args, verbose="auto")
    with pytest.raises(ValueError, match=r"^verbose must be 0, 1, 2 or 'auto'\. Received: "):
        getattr(model, method)(*args, verbose=3)


@pytest.mark.parametrize("name", ["x.h5", "x.keras", "x.HDF5"])
def test_save_weights_never_makes_a_directory_named_like_a_file(
    name: str, tmp_path: pathlib.Path
) -> None:
    """Keras' `.weights.h5` is written as Keras' file (tests/importer/test_export_keras.py);
    other file-like names are refused, not turned into a checkpoint directory."""
    model = kspec.load("kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Dense, units: 1}]\n")
    with pytest.raises(ValueError, match=r"a Keras weights file ends in '\.weights\.h5'"):
        model.save_weights(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
