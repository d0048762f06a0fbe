"""Models from their config: spec data, JSON or YAML text (kspec spec format), or a checkpoint
directory alone. Data only: nothing read here runs code (`Lambda` functions are passed in)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kspec.runtime.checkpoint import read_metadata
from kspec.runtime.functional import compile_source
from kspec.runtime.model import Model
from kspec.runtime.plugins import require_custom_types

Functions = Mapping[str, Any]


def model_from_config(config: Mapping[str, Any], functions: Functions | None = None) -> Model:
    """A model from `model.get_config()` data."""
    return Model(compile_source(dict(config), functions))


def model_from_json(text: str, functions: Functions | None = None) -> Model:
    """A model from `model.to_json()` text."""
    return Model(compile_source(text, functions))


def model_from_yaml(text: str, functions: Functions | None = None) -> Model:
    """A model from `model.to_yaml()` text (safe YAML: no tags, no code)."""
    return Model(compile_source(text, functions))


def load_checkpoint(directory: str | os.PathLike[str], functions: Functions | None = None) -> Model:
    """The model a checkpoint was saved from, rebuilt from its `kspec.json` alone (verified:
    `read_metadata`), with the saved weights loaded."""
    metadata = read_metadata(directory)
    spec_data = metadata["spec"]
    require_custom_types(metadata.get("custom_layers") or {}, f"{directory}: the checkpoint")
    model = model_from_config(spec_data, functions)
    model.load_weights(directory)
    return model
