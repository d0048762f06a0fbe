"""`fit` donates the weights, optimizer state and metric states to its jitted step (no new
buffers per step), on copies it makes when it starts: arrays a caller kept stay valid and keep
their values; `train_on_batch` never donates."""

from __future__ import annotations

import jax
import numpy as np

import kspec
from kspec.runtime.training.callbacks import EarlyStopping

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 4)).astype("float32")
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 24)]
SPEC = {
    "kspec": 1,
    "inputs": {"x": [4]},
    "layers": [
        {"type": "Dense", "units": 6, "activation": "relu"},
        {"type": "BatchNormalization"},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}


def _model() -> kspec.Model:
    model = kspec.load(SPEC)
    model.init(0)
    model.compile({"type": "adam", "learning_rate": 0.01}, "categorical_crossentropy", ["accuracy"])
    return model


def _deleted(tree: object) -> list[bool]:
    return [leaf.is_deleted() for leaf in jax.tree.leaves(tree)]


def test_fit_donates_its_own_copies_and_callers_keep_theirs() -> None:
    model = _model()
    model.train_on_batch(X[:8], Y[:8])  # optimizer state exists before fit
    kept_variables, kept_opt = model.variables, model.optimizer_state
    before = jax.tree.map(np.asarray, kept_variables)
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    assert not any(_deleted(kept_variables)) and not any(_deleted(kept_opt))
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, kept_variables), before)
    # the weights fit ended with are live; the step's own donated inputs were consumed
    assert not any(_deleted(model.variables))
    after = jax.tree.map(np.asarray, model.variables["params"])
    assert not np.array_equal(after["dense"]["kernel"], before["params"]["dense"]["kernel"])


def test_fit_after_fit_and_train_on_batch_continue_from_the_same_state() -> None:
    """Donation changes no value: fit twice equals one fit of both epochs in a second model."""
    once, twice = _model(), _model()
    once.fit(X, Y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    twice.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    twice.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(jax.tree.leaves(once.variables), jax.tree.leaves(twice.variables), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    loss = once.train_on_batch(X[:8], Y[:8])
    assert np.all(np.isfinite(loss)) and not any(_deleted(once.variables))


def test_early_stopping_best_weights_survive_donation() -> None:
    model = _model()
    stop = EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    model.fit(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[stop])
    assert not any(_deleted(model.variables))
    model.predict(X[:2])
