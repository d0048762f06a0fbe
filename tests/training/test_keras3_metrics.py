"""Keras 3's metric classes beyond accuracy (counts, rates at a constraint, F-scores, the
IoU family, R², RMSE, correlations, exact-match Accuracy) against Keras itself: the result
after `update_state` over three batches, with and without sample weights, given by class
name and options as in a spec."""

from __future__ import annotations

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.runtime.training.metrics import get_metric

RNG = np.random.default_rng(2)
N = 30
PROBS = RNG.random((N, 4)).astype("float32")
BINARY = (RNG.random((N, 4)) > 0.5).astype("float32")
ONE_HOT = np.eye(4, dtype="float32")[RNG.integers(0, 4, N)]
LABELS = RNG.integers(0, 4, (N,))
CLASSES = RNG.integers(0, 4, N)
GUESSES = RNG.integers(0, 4, (N, 1)).astype("float32")
REG_TRUE = RNG.normal(size=(N, 3)).astype("float32")
REG_PRED = (REG_TRUE + RNG.normal(size=(N, 3)) * 0.5).astype("float32")
WEIGHTS = RNG.random(N).astype("float32")
COUNTS = RNG.integers(0, 3, N).astype("float32")  # Keras' IoU casts weights to int

CASES = [
    ("Accuracy", {}, LABELS[:, None].astype("float32"), GUESSES, WEIGHTS),
    ("TruePositives", {}, BINARY, PROBS, WEIGHTS),
    ("FalsePositives", {"thresholds": 0.3}, BINARY, PROBS, WEIGHTS),
    ("TrueNegatives", {}, BINARY, PROBS, WEIGHTS),
    ("FalseNegatives", {}, BINARY, PROBS, WEIGHTS),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, BINARY, PROBS, WEIGHTS),
    (
        "SpecificityAtSensitivity",
        {"sensitivity": 0.6, "num_thresholds": 50},
        BINARY,
        PROBS,
        WEIGHTS,
    ),
    ("PrecisionAtRecall", {"recall": 0.7, "class_id": 2}, BINARY, PROBS, WEIGHTS),
    ("RecallAtPrecision", {"precision": 0.4}, BINARY, PROBS, WEIGHTS),
    ("F1Score", {"average": "macro"}, ONE_HOT, PROBS, WEIGHTS),
    ("F1Score", {"average": "micro", "threshold": 0.5}, BINARY, PROBS, WEIGHTS),
    ("FBetaScore", {"average": "weighted", "beta": 2.0}, ONE_HOT, PROBS, WEIGHTS),
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, LABELS, CLASSES, COUNTS),
    ("MeanIoU", {"num_classes": 4}, LABELS, CLASSES, COUNTS),
    (
        "MeanIoU",
        {"num_classes": 4, "ignore_class": 1, "sparse_y_pred": False},
        LABELS,
        PROBS,
        COUNTS,
    ),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [1, 3]}, ONE_HOT, PROBS, COUNTS),
    ("OneHotMeanIoU", {"num_classes": 4}, ONE_HOT, PROBS, COUNTS),
    ("BinaryIoU", {}, BINARY[:, 0], PROBS[:, 0], COUNTS),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, BINARY[:, 1], PROBS[:, 1], COUNTS),
    ("R2Score", {}, REG_TRUE, REG_PRED, WEIGHTS),
    (
        "R2Score",
        {"class_aggregation": "variance_weighted_average", "num_regressors": 2},
        REG_TRUE,
        REG_PRED,
        WEIGHTS,
    ),
    ("RootMeanSquaredError", {}, REG_TRUE, REG_PRED, WEIGHTS),
    ("LogCoshError", {}, REG_TRUE, REG_PRED, WEIGHTS),
    ("PearsonCorrelation", {}, REG_TRUE, REG_PRED, WEIGHTS),
    ("ConcordanceCorrelation", {}, REG_TRUE, REG_PRED, WEIGHTS),
    ("AUC", {"curve": "PR"}, BINARY, PROBS, WEIGHTS),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    ("name", "options", "y_true", "y_pred", "weights"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_metric_matches_keras_over_batches(
    name: str,
    options: dict,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    weights: np.ndarray,
    weighted: bool,
) -> None:
    reference = getattr(keras.metrics, name)(**options)
    metric = get_metric({"type": name, **options} if options else name, y_true.shape, y_pred.shape)
    state = metric.init()
    for part in (slice(0, 10), slice(10, 22), slice(22, N)):
        w = weights[part] if weighted else None
        reference.update_state(y_true[part], y_pred[part], sample_weight=w)
        state = metric.update(state, y_true[part], y_pred[part], w)
    np.testing.assert_allclose(metric.result(state), reference.result(), rtol=1e-6, atol=1e-7)


SPEC = (
    "kspec: 1\ninputs: {x: [3]}\nlayers: [{type: Dense, units: 4, activation: softmax}]\n"
    "compile:\n  optimizer: adam\n  loss: categorical_crossentropy\n  metrics: %s\n"
)


def test_spec_metrics_with_options_are_checked_one_error_each() -> None:
    with pytest.raises(kspec.SpecError) as error:
        kspec.validate(
            SPEC % "[F1Score, {type: MeanIoU}, {type: IoU, num_classes: 3, "
            "target_class_ids: [0], beta: 2.0}, MeanIoU]"
        )
    messages = [str(d) for d in error.value.diagnostics]
    assert messages == [
        "<string>:7:13: error: `compile.metrics`: metric 'F1Score' needs average (micro, macro "
        "or weighted: Keras' default, None, gives one value per class, and kspec logs "
        "scalars): write {type: F1Score, average: ...}",
        "<string>:7:22: error: metric 'mean_iou' needs num_classes",
        "<string>:7:39: error: metric 'iou' has no option beta; it takes num_classes, "
        "target_class_ids, ignore_class, sparse_y_true, sparse_y_pred, axis, name",
        "<string>:7:102: error: `compile.metrics`: metric 'MeanIoU' needs num_classes: write "
        "{type: MeanIoU, num_classes: ...}",
    ]


def test_fit_logs_configured_metrics_as_keras() -> None:
    """Metrics with options run inside the jitted train step; the History matches Keras'."""
    x = RNG.normal(size=(24, 3)).astype("float32")
    y = np.eye(4, dtype="float32")[RNG.integers(0, 4, 24)]
    model = kspec.load(
        SPEC % "[{type: F1Score, average: macro, name: f1}, "
        "{type: OneHotMeanIoU, num_classes: 4, name: miou}, R2Score]"
    )
    reference = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])
    model.set_weights(reference.get_weights())
    reference.compile(
        optimizer="adam",
        loss="categorical_crossentropy",
        metrics=[
            keras.metrics.F1Score(average="macro", name="f1"),
            keras.metrics.OneHotMeanIoU(num_classes=4, name="miou"),
            keras.metrics.R2Score(),
        ],
    )
    with jax.numpy_rank_promotion("allow"):  # Keras itself relies on rank promotion
        want = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    got = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    for key in ("f1", "miou", "R2Score"):
        np.testing.assert_allclose(
            got[key], want[key if key != "R2Score" else "r2_score"], rtol=1e-5
        )
