"""Shared helpers for the config-import tests: the translate -> load -> copy (randomised)
weights -> compare loop on Keras 3's own `to_json()`."""

from __future__ import annotations

import json
from typing import Any

import keras

from kspec.schemas.registry import known_type_names
from kspec.spec.keras import Translation, translate
from tests.parity.harness import assert_parity


def translated(model: keras.Model, **options: Any) -> Translation:
    """The translation of `model.to_json()`, as an importer gets it (known types checked)."""
    return translate(model.to_json(), known_types=known_type_names(), **options)


def assert_import_parity(model: keras.Model, inputs: Any, **options: Any) -> Translation:
    """Translate Keras 3's own `to_json()`, load it, give it Keras's weights (randomised by
    the harness) and compare `predict`."""
    translation = translated(model, **options)
    json.dumps(translation.tree)  # plain data
    assert_parity(translation.tree, model, inputs)
    return translation
