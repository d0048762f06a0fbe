"""Keras 3's newer losses (focal, Dice, Tversky, Circle, CTC, generalized crossentropy)
against Keras itself: the reduced loss of the same inputs, with and without sample weights,
by class name and options as a spec or `compile(loss=...)` gives them."""

from __future__ import annotations

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.runtime.training.losses import get_loss, reduce_loss

RNG = np.random.default_rng(1)
PROBS = RNG.random((6, 4)).astype("float32") * 0.9 + 0.05
BINARY = (RNG.random((6, 4)) > 0.5).astype("float32")
ONE_HOT = np.eye(4, dtype="float32")[RNG.integers(0, 4, 6)]
LABELS = RNG.integers(0, 3, 6)
LOGITS = RNG.normal(size=(6, 4)).astype("float32")
EMBEDDINGS = RNG.normal(size=(6, 5)).astype("float32")
EMBEDDINGS /= np.linalg.norm(EMBEDDINGS, axis=1, keepdims=True)
CTC_LABELS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [1, 1, 1, 2]], "int32")  # 0: padding
CTC_LOGITS = RNG.normal(size=(3, 7, 4)).astype("float32")
WEIGHTS = RNG.random(6).astype("float32")

CASES = [
    ("BinaryFocalCrossentropy", {}, BINARY, PROBS),
    (
        "BinaryFocalCrossentropy",
        {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5, "label_smoothing": 0.1},
        BINARY,
        PROBS,
    ),
    ("BinaryFocalCrossentropy", {"from_logits": True}, BINARY, LOGITS),
    ("CategoricalFocalCrossentropy", {}, ONE_HOT, PROBS),
    (
        "CategoricalFocalCrossentropy",
        {"from_logits": True, "label_smoothing": 0.2, "gamma": 3.0, "alpha": 0.5},
        ONE_HOT,
        LOGITS,
    ),
    ("Dice", {}, BINARY, PROBS),
    ("Dice", {"axis": [1]}, BINARY, PROBS),
    ("Tversky", {}, BINARY, PROBS),
    ("Tversky", {"alpha": 0.3, "beta": 0.7, "axis": [1]}, BINARY, PROBS),
    ("Circle", {}, LABELS, EMBEDDINGS),
    ("Circle", {"gamma": 10.0, "margin": 0.25, "remove_diagonal": False}, LABELS, EMBEDDINGS),
    ("CategoricalGeneralizedCrossEntropy", {}, LABELS, PROBS),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.8}, LABELS, PROBS),
    ("CTC", {}, CTC_LABELS, CTC_LOGITS),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    ("name", "options", "y_true", "y_pred"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_loss_matches_keras(
    name: str, options: dict, y_true: np.ndarray, y_pred: np.ndarray, weighted: bool
) -> None:
    weight = WEIGHTS[: len(y_true)] if weighted else None
    want = getattr(keras.losses, name)(**options)(y_true, y_pred, sample_weight=weight)
    loss = get_loss({"type": name, **options} if options else name)
    got = reduce_loss(loss(y_true, y_pred), weight)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_function_names_are_the_same_losses() -> None:
    for function, cls in [
        ("binary_focal_crossentropy", "BinaryFocalCrossentropy"),
        ("dice", "Dice"),
        ("ctc", "CTC"),
        ("circle", "Circle"),
        ("categorical_generalized_cross_entropy", "CategoricalGeneralizedCrossEntropy"),
    ]:
        assert get_loss(function) is get_loss(cls)


def test_loss_options_are_checked_in_the_spec() -> None:
    spec = kspec.validate(
        "kspec: 1\ninputs: {x: [4]}\nlayers: [{type: Dense, units: 4, activation: sigmoid}]\n"
        "compile: {optimizer: adam, loss: {type: BinaryFocalCrossentropy, gamma: 3.0}}\n"
    )
    assert spec.compile is not None
    assert spec.compile.loss.type == "binary_focal_crossentropy"
    with pytest.raises(kspec.SpecError) as error:
        kspec.validate(
            "kspec: 1\ninputs: {x: [4]}\nlayers: [{type: Dense, units: 4}]\n"
            "compile: {optimizer: adam, loss: {type: Dice, gamma: 3.0}}\n"
        )
    assert "loss 'dice' has no option gamma; it takes axis" in str(error.value)
    with pytest.raises(ValueError, match=r"^loss 'tversky' has no option q; it takes alpha, beta"):
        get_loss({"type": "Tversky", "q": 0.5})


def test_ctc_says_which_shapes_it_needs() -> None:
    with pytest.raises(ValueError, match=r"ctc expects y_true of shape \(batch_size, max_length\)"):
        get_loss("ctc")(CTC_LABELS, CTC_LOGITS[0])


def test_focal_loss_trains_like_keras() -> None:
    """One fit epoch with a focal loss gives Keras' weights (the loss inside the jitted
    train step, gradients included)."""
    x = RNG.normal(size=(16, 3)).astype("float32")
    y = (RNG.random((16, 2)) > 0.5).astype("float32")
    reference = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="sigmoid")])
    model = kspec.load(
        "kspec: 1\ninputs: {x: [3]}\nlayers: [{type: Dense, units: 2, activation: sigmoid}]\n"
    )
    model.set_weights(reference.get_weights())
    for m in (reference, model):
        m.compile(optimizer="SGD", loss="BinaryFocalCrossentropy")
        with jax.numpy_rank_promotion("allow"):  # Keras itself relies on rank promotion
            m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
