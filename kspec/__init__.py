"""kspec: declarative model specs compiled to pure JAX functions.

The public API is resolved lazily, so `import kspec.schemas` (editors, linters, JSON Schema
tooling) never pays for - or requires - JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kspec.errors import CheckpointError as CheckpointError
from kspec.errors import Diagnostic as Diagnostic
from kspec.errors import KspecDeprecationWarning as KspecDeprecationWarning
from kspec.errors import Location as Location
from kspec.errors import ShapeError as ShapeError
from kspec.errors import SpecError as SpecError

__version__ = "0.1.0"

_LAZY = {
    "validate": "kspec.runtime.api",
    "load": "kspec.runtime.api",
    "Model": "kspec.runtime.model",
}

if TYPE_CHECKING:
    from kspec.runtime.api import load as load
    from kspec.runtime.api import validate as validate
    from kspec.runtime.model import Model as Model


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kspec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
