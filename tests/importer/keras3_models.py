"""Shared helpers for the config-import tests: Keras 3 models with randomised weights, and
the translate -> load -> copy weights -> compare loop."""

from __future__ import annotations

import json
from typing import Any

import keras
import numpy as np

from kspec.schemas.registry import known_type_names
from kspec.spec.keras import Translation, translate
from tests.parity.harness import assert_parity, keras_side


def randomise(model: keras.Model, seed: int = 0) -> keras.Model:
    """Every weight (biases and BatchNorm statistics too) drawn at random, so a weight put in
    the wrong place cannot go unnoticed."""
    rng = np.random.default_rng(seed)
    with keras_side():
        drawn = [rng.normal(0, 0.5, v.shape) for v in model.weights]
        # variances must stay positive
        pairs = zip(model.weights, drawn, strict=True)
        model.set_weights([np.abs(d) + 0.5 if "variance" in v.path else d for v, d in pairs])
    return model


def translated(model: keras.Model, **options: Any) -> Translation:
    """The translation of `model.to_json()`, as an importer gets it (known types checked)."""
    return translate(model.to_json(), known_types=known_type_names(), **options)


def assert_import_parity(model: keras.Model, inputs: Any, **options: Any) -> Translation:
    """Translate Keras 3's own `to_json()`, load it, give it Keras's (random) weights and
    compare `predict`."""
    translation = translated(randomise(model), **options)
    json.dumps(translation.tree)  # plain data
    assert_parity(translation.tree, model, inputs)
    return translation
