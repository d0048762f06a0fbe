"""Lowerings of custom layer types, registered at run time next to their schemas (see
`schemas/custom.py`). The built-in lowerings (`registry.py`) are a fixed set; lookups
that must also find custom layers go through `registry.registered`."""

from __future__ import annotations

from typing import Any

from kspec.compiler.lowering import Lowering
from kspec.schemas.base import LayerSpec

CUSTOM_LOWERINGS: dict[type[LayerSpec], Lowering[Any]] = {}
"""Lowerings of registered custom layer schemas, keyed by schema class."""
