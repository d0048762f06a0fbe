"""AUC of the PR curve, weighted_metrics and train_on_batch's per-batch logs, against Keras 3."""

from __future__ import annotations

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.runtime.training.metrics import get_metric

RNG = np.random.default_rng(3)
Y_BIN = RNG.integers(0, 2, size=(40, 3)).astype("float32")
P_BIN = np.clip(Y_BIN * 0.3 + RNG.uniform(0, 0.7, size=(40, 3)), 0, 1).astype("float32")
WEIGHTS = RNG.uniform(0, 2, size=(40,)).astype("float32")


@pytest.mark.parametrize("curve", ["PR", "ROC"])
@pytest.mark.parametrize("num_thresholds", [200, 7])
def test_auc_curves_match_keras_over_batches(curve: str, num_thresholds: int) -> None:
    for weights in (None, WEIGHTS):
        reference = keras.metrics.AUC(num_thresholds=num_thresholds, curve=curve)
        metric = get_metric(
            {"type": "auc", "curve": curve, "num_thresholds": num_thresholds}, (3,), (3,)
        )
        state = metric.init()
        for part in (slice(0, 16), slice(16, 40)):
            w = None if weights is None else weights[part]
            reference.update_state(Y_BIN[part], P_BIN[part], sample_weight=w)
            state = metric.update(state, Y_BIN[part], P_BIN[part], w)
        np.testing.assert_allclose(
            float(metric.result(state)), float(reference.result()), rtol=1e-5, atol=1e-6
        )


def test_auc_options_are_checked() -> None:
    with pytest.raises(ValueError, match="AUC curve must be one of ROC, PR"):
        get_metric({"type": "auc", "curve": "PRGAIN"}, (1,), (1,))
    with pytest.raises(
        ValueError, match=r"^metric .auc. has no option thresholds; it takes curve, "
    ):
        get_metric({"type": "auc", "thresholds": [0.5]}, (1,), (1,))


X = RNG.normal(size=(50, 4)).astype("float32")
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 50)]
SPEC = {
    "kspec": 1,
    "inputs": {"x": [4]},
    "layers": [
        {"type": "Dense", "units": 8, "activation": "relu"},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}


def _pair(seed: int = 0) -> tuple[kspec.Model, keras.Model]:
    model = kspec.load(SPEC)
    model.init(seed)
    reference = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    reference.set_weights(model.get_weights())
    return model, reference


@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_weighted_metrics_match_keras(weighting: str) -> None:
    """Same names in both lists: Keras logs the weighted one as `weighted_<name>`."""
    model, reference = _pair()
    settings = {
        "optimizer": "sgd",
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy", "mae"],
        "weighted_metrics": ["accuracy", "mse"],
    }
    reference.compile(**settings)
    model.compile(**settings)
    weights = (
        {"sample_weight": np.resize(WEIGHTS, 50)}
        if weighting == "sample_weight"
        else {"class_weight": {0: 0.5, 1: 2.0, 2: 1.0}}
    )
    options = {"batch_size": 16, "epochs": 2, "shuffle": False, "verbose": 0, **weights}
    with jax.numpy_rank_promotion("allow"):
        expected = reference.fit(X, Y, validation_data=(X[:20], Y[:20]), **options).history
    got = model.fit(X, Y, validation_data=(X[:20], Y[:20]), **options).history
    assert sorted(got) == sorted(expected)
    assert "weighted_accuracy" in got and "val_weighted_accuracy" in got
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_weighted_metrics_from_the_spec_and_pr_auc() -> None:
    spec = {
        **SPEC,
        "compile": {
            "optimizer": "sgd",
            "loss": "categorical_crossentropy",
            "weighted_metrics": [{"type": "auc", "curve": "PR", "name": "pr_auc"}],
        },
    }
    model = kspec.load(spec)
    model.init(0)
    _, reference = _pair()
    reference.compile(
        "sgd",
        "categorical_crossentropy",
        weighted_metrics=[keras.metrics.AUC(curve="PR", name="pr_auc")],
    )
    with jax.numpy_rank_promotion("allow"):
        expected = reference.evaluate(X, Y, sample_weight=np.resize(WEIGHTS, 50), verbose=0)
    got = model.evaluate(X, Y, sample_weight=np.resize(WEIGHTS, 50))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_train_on_batch_returns_each_batchs_values_as_keras_3() -> None:
    """Keras 3 resets the metrics before every train_on_batch / test_on_batch: the values are
    that batch's, not running means over the calls."""
    model, reference = _pair(2)
    settings = {"optimizer": "adam", "loss": "categorical_crossentropy", "metrics": ["accuracy"]}
    reference.compile(**settings)
    model.compile(**settings)
    for part in (slice(0, 20), slice(20, 50), slice(0, 20)):
        with jax.numpy_rank_promotion("allow"):
            expected = reference.train_on_batch(X[part], Y[part], return_dict=True)
            expected_test = reference.test_on_batch(X[part], Y[part], return_dict=True)
        got = model.train_on_batch(X[part], Y[part], return_dict=True)
        got_test = model.test_on_batch(X[part], Y[part], return_dict=True)
        assert sorted(got) == sorted(expected) == ["accuracy", "loss"]
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)
            np.testing.assert_allclose(got_test[key], expected_test[key], rtol=1e-5, err_msg=key)
    with jax.numpy_rank_promotion("allow"):
        expected_list = reference.test_on_batch(X, Y)  # [loss, accuracy], as `compile` lists them
    np.testing.assert_allclose(model.test_on_batch(X, Y), expected_list, rtol=1e-5)


def test_sample_weight_and_class_weight_together_are_refused() -> None:
    model, _ = _pair()
    model.compile("sgd", "categorical_crossentropy")
    x = np.ones((4, 4), np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    with pytest.raises(
        ValueError, match=r"^error: give `sample_weight` or `class_weight`, not both"
    ):
        model.fit(x, y, sample_weight=np.ones(4), class_weight={0: 1.0, 1: 2.0, 2: 1.0}, verbose=0)
