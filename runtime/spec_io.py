"""A model's spec as data, JSON or YAML, and back (`get_config` / `from_config`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from kspec.runtime.functional import compile_source
from kspec.schemas import ModelSpec
from kspec.schemas.canonical import to_data, to_json, to_yaml


class SpecIOMixin:
    """Keras' config methods on `Model` (which provides `spec` and `Model(compiled)`)."""

    spec: ModelSpec

    def get_config(self) -> dict[str, Any]:
        """The canonical spec as plain data (`kspec.Model.from_config` reads it back)."""
        return to_data(self.spec)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], functions: Mapping[str, Any] | None = None
    ) -> Self:
        """A model from spec data (`get_config()`); data only, nothing in it runs code."""
        return cls(compile_source(dict(config), functions))  # type: ignore[call-arg]

    def to_json(self, indent: int | None = 2) -> str:
        """The canonical spec as JSON (`kspec.model_from_json` reads it back)."""
        return to_json(self.spec, indent)

    def to_yaml(self) -> str:
        """The canonical spec as YAML, a file `kspec validate` accepts."""
        return to_yaml(self.spec)
