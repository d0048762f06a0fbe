"""Optimizer steps, losses and metrics against Keras 3 itself (same inputs, several steps)."""

from __future__ import annotations

import keras
import numpy as np
import optax
import pytest
from keras.src.losses.losses import LossFunctionWrapper

from kspec.runtime.training.losses import get_loss, reduce_loss
from kspec.runtime.training.metrics import get_metric
from kspec.runtime.training.optimizers import RULES, get_optimizer, keras_optimizer

RNG = np.random.default_rng(0)
W0 = RNG.normal(size=(3, 4)).astype("float32")
GRADS = [RNG.normal(size=(3, 4)).astype("float32") * s for s in (1.0, 0.1, 3.0, 0.5)]
EXTRAS = [{}, {"weight_decay": 0.1, "clipnorm": 0.5}, {"clipvalue": 0.2}, {"global_clipnorm": 1.0}]


def keras_class(name: str) -> type:
    """Keras' optimizer class for a kspec name (`keras.optimizers.get` lacks `lamb`)."""
    return next(c for n, c in vars(keras.optimizers).items() if n.lower() == name)


def _keras_run(name: str, options: dict) -> np.ndarray:
    optimizer = keras_class(name)(**options)
    variable = keras.Variable(W0)
    optimizer.build([variable])
    for g in GRADS:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    return np.asarray(variable.value)


def _kspec_run(optimizer: optax.GradientTransformation) -> np.ndarray:
    params = {"w": W0}
    state = optimizer.init(params)
    for g in GRADS:
        updates, state = optimizer.update({"w": g}, state, params)
        params = optax.apply_updates(params, updates)
    return np.asarray(params["w"])


CASES = [(n, e) for n in sorted(RULES) for e in EXTRAS[:2]] + [("adam", e) for e in EXTRAS[2:]]


@pytest.mark.parametrize(
    ("name", "extra"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_optimizer_steps_match_keras(name: str, extra: dict) -> None:
    options = {"learning_rate": 0.05, **extra}
    if name == "sgd":
        options |= {"momentum": 0.9, "nesterov": True}
    if name == "rmsprop":
        options |= {"momentum": 0.5, "centered": True}
    expected = _keras_run(name, options)
    assert np.abs(expected - W0).max() > 1e-4  # the steps moved the weights
    np.testing.assert_allclose(_kspec_run(keras_optimizer(name, **options)), expected, atol=2e-6)


VARIANTS = [
    ("sgd", {}),
    ("adam", {"amsgrad": True}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.5}),
]


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=[f"{n}-{o}" for n, o in VARIANTS])
def test_optional_slots_match_keras(name: str, options: dict) -> None:
    """Slots exist only for the options that use them (no momentum buffer for plain sgd, no
    AMSGrad maximum without amsgrad); each combination still steps exactly as Keras."""
    options = {"learning_rate": 0.05, **options}
    optimizer = keras_optimizer(name, **options)
    expected = _keras_run(name, options)
    np.testing.assert_allclose(_kspec_run(optimizer), expected, atol=2e-6)
    slots = optimizer.init({"w": W0}).inner_state.slots
    keras_slots = len(_keras_slots(name, options))
    assert len(slots) == keras_slots


def _keras_slots(name: str, options: dict) -> list:
    optimizer = keras.optimizers.get({"class_name": name, "config": options})
    optimizer.build([keras.Variable(W0)])
    return [v for v in optimizer.variables if tuple(v.shape) == W0.shape]


def test_optimizer_identifiers() -> None:
    expected = _keras_run("adam", {"learning_rate": 0.01})
    for identifier in (
        {"type": "adam", "learning_rate": 0.01},
        keras_optimizer("Adam", learning_rate=0.01),
    ):
        np.testing.assert_allclose(_kspec_run(get_optimizer(identifier)), expected, atol=1e-6)
    assert _kspec_run(get_optimizer(optax.sgd(0.1)))[0, 0] != W0[0, 0]
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamm'\. Expected one of: sgd, adam"):
        get_optimizer("adamm")
    with pytest.raises(ValueError, match="optimizer 'sgd' has no parameter rho"):
        get_optimizer({"type": "sgd", "rho": 0.9})
    with pytest.raises(ValueError, match="give only one of clipnorm, clipvalue"):
        keras_optimizer("sgd", clipnorm=1.0, clipvalue=1.0)


YT_CLASSES = RNG.integers(0, 4, size=(6,))
Y_ONEHOT = np.eye(4, dtype="float32")[YT_CLASSES]
LOGITS = RNG.normal(size=(6, 4)).astype("float32")
PROBS = np.asarray(keras.ops.softmax(LOGITS))
Y_BIN = RNG.integers(0, 2, size=(6, 3)).astype("float32")
P_BIN = 1 / (1 + np.exp(-RNG.normal(size=(6, 3)).astype("float32")))
REG_T, REG_P = (
    RNG.uniform(0.1, 2, (6, 3)).astype("float32"),
    RNG.uniform(0.1, 2, (6, 3)).astype("float32"),
)
WEIGHTS = RNG.uniform(0, 2, size=(6,)).astype("float32")
LOSS_CASES = [
    ("categorical_crossentropy", {}, Y_ONEHOT, PROBS),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, Y_ONEHOT, LOGITS),
    ("sparse_categorical_crossentropy", {}, YT_CLASSES, PROBS),
    ("sparse_categorical_crossentropy", {"from_logits": True}, YT_CLASSES[:, None], LOGITS),
    ("binary_crossentropy", {}, Y_BIN, P_BIN),
    ("binary_crossentropy", {"from_logits": True}, Y_BIN, LOGITS[:, :3]),
    *[
        (n, {}, REG_T, REG_P)
        for n in (
            "mse",
            "mae",
            "mape",
            "msle",
            "huber",
            "log_cosh",
            "kl_divergence",
            "poisson",
            "cosine_similarity",
        )
    ],
    ("hinge", {}, Y_BIN, LOGITS[:, :3]),
    ("squared_hinge", {}, Y_BIN, LOGITS[:, :3]),
    ("categorical_hinge", {}, Y_ONEHOT, LOGITS),
]


@pytest.mark.parametrize(
    ("name", "options", "y_true", "y_pred"),
    LOSS_CASES,
    ids=[f"{c[0]}{'+' if c[1] else ''}" for c in LOSS_CASES],
)
def test_losses_match_keras(name: str, options: dict, y_true, y_pred) -> None:
    keras_loss = LossFunctionWrapper(keras.losses.get(name), **options)
    fn = get_loss({"type": name, **options} if options else name)
    for weights in (None, WEIGHTS):
        expected = float(keras_loss(y_true, y_pred, sample_weight=weights))
        got = float(reduce_loss(fn(y_true, y_pred), weights))
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


METRIC_CASES = [
    ("accuracy", YT_CLASSES, PROBS),
    ("accuracy", Y_ONEHOT, PROBS),
    ("accuracy", Y_BIN[:, :1], P_BIN[:, :1]),
    ("top_k_categorical_accuracy", Y_ONEHOT, PROBS),
    ("sparse_top_k_categorical_accuracy", YT_CLASSES, PROBS),
    ("precision", Y_BIN, P_BIN),
    ("recall", Y_BIN, P_BIN),
    ("auc", Y_BIN, P_BIN),
    ("mae", REG_T, REG_P),
    ("mse", REG_T, REG_P),
    ("binary_crossentropy", Y_BIN, P_BIN),
]


def _keras_metric(name: str, y_true, y_pred):
    from keras.src.trainers.compile_utils import get_metric as keras_get_metric

    return keras_get_metric(name, y_true, y_pred)


@pytest.mark.parametrize(
    ("name", "y_true", "y_pred"),
    METRIC_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(METRIC_CASES)],
)
def test_metrics_match_keras_over_two_batches(name: str, y_true, y_pred) -> None:
    for weights in (None, WEIGHTS):
        reference = _keras_metric(name, y_true, y_pred)
        metric = get_metric(name, y_true.shape, y_pred.shape)
        state = metric.init()
        for part in (slice(0, 4), slice(4, 6)):
            w = None if weights is None else weights[part]
            reference.update_state(y_true[part], y_pred[part], sample_weight=w)
            state = metric.update(state, y_true[part], y_pred[part], w)
        np.testing.assert_allclose(
            float(metric.result(state)), float(reference.result()), rtol=1e-5, atol=1e-6
        )


def test_unknown_loss_and_metric() -> None:
    with pytest.raises(ValueError, match=r"unknown loss 'msee'\. Expected one of: "):
        get_loss("msee")
    with pytest.raises(ValueError, match="unknown metric 'accuracyy'"):
        get_metric("accuracyy", (2,), (2,))
    with pytest.raises(ValueError, match="loss 'mean_squared_error' has no option from_logits"):
        get_loss({"type": "mse", "from_logits": True})
