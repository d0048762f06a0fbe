"""kspec: declarative model specs compiled to pure JAX functions.

The public API is resolved lazily, so `import kspec.schemas` (editors, linters, JSON Schema
tooling) never pays for - or requires - JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kspec.errors import CheckpointError as CheckpointError
from kspec.errors import DataError as DataError
from kspec.errors import Diagnostic as Diagnostic
from kspec.errors import ExportError as ExportError
from kspec.errors import KerasImportError as KerasImportError
from kspec.errors import KspecDeprecationWarning as KspecDeprecationWarning
from kspec.errors import LimitError as LimitError
from kspec.errors import Location as Location
from kspec.errors import PluginWarning as PluginWarning
from kspec.errors import ShapeError as ShapeError
from kspec.errors import SpecError as SpecError

__version__ = "0.1.0"

_LAZY = {
    "validate": "kspec.runtime.checking",
    "load": "kspec.runtime.api",
    "load_model": "kspec.runtime.model_dir",
    "from_keras": "kspec.runtime.keras_io.importer",
    "Model": "kspec.runtime.model",
    "Sequential": "kspec.runtime.sequential",
    "Input": "kspec.runtime.builder",
    "Tensor": "kspec.runtime.builder",
    "model_from_config": "kspec.runtime.config",
    "model_from_json": "kspec.runtime.config",
    "model_from_yaml": "kspec.runtime.config",
    "load_checkpoint": "kspec.runtime.config",
    "layers": "kspec.layers",
    "callbacks": "kspec.callbacks",
    "register_layer": "kspec.runtime.plugins",
    "unregister_layer": "kspec.runtime.plugins",
    "LayerSpec": "kspec.schemas.base",
    "Lowering": "kspec.compiler.lowering",
    "export": "kspec.runtime.export",
    "LoweringOptions": "kspec.compiler.options",
}

if TYPE_CHECKING:
    from kspec import callbacks as callbacks
    from kspec import layers as layers
    from kspec.compiler.lowering import Lowering as Lowering
    from kspec.compiler.options import LoweringOptions as LoweringOptions
    from kspec.runtime.api import load as load
    from kspec.runtime.builder import Input as Input
    from kspec.runtime.builder import Tensor as Tensor
    from kspec.runtime.checking import validate as validate
    from kspec.runtime.config import load_checkpoint as load_checkpoint
    from kspec.runtime.config import model_from_config as model_from_config
    from kspec.runtime.config import model_from_json as model_from_json
    from kspec.runtime.config import model_from_yaml as model_from_yaml
    from kspec.runtime.export import export as export
    from kspec.runtime.keras_io.importer import from_keras as from_keras
    from kspec.runtime.model import Model as Model
    from kspec.runtime.model_dir import load_model as load_model
    from kspec.runtime.plugins import register_layer as register_layer
    from kspec.runtime.plugins import unregister_layer as unregister_layer
    from kspec.runtime.sequential import Sequential as Sequential
    from kspec.schemas.base import LayerSpec as LayerSpec


def __getattr__(name: str) -> Any:
    if name in ("layers", "callbacks"):  # submodules, imported on first use
        return importlib.import_module(f"kspec.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kspec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
