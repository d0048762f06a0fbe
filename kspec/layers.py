"""Keras-style layer constructors, one for every registered layer type: `kspec.layers.Dense(32)`.

Generated from the schema registry (no second catalogue): each class validates its parameters
with the layer's schema at construction. Importing this module imports JAX (layers infer shapes
when called); `import kspec` alone does not.
"""

from __future__ import annotations

from typing import Any

from kspec.runtime.builder import Tensor as Tensor
from kspec.runtime.catalogue import Input as Input
from kspec.runtime.catalogue import Layer as Layer
from kspec.runtime.catalogue import deserialize as deserialize
from kspec.runtime.catalogue import layer_classes
from kspec.runtime.catalogue import layer_from_config as layer_from_config
from kspec.runtime.catalogue import serialize as serialize


def __getattr__(name: str) -> Any:
    classes = layer_classes()
    if name in classes:
        return classes[name]
    raise AttributeError(f"module 'kspec.layers' has no layer type {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *layer_classes()])
