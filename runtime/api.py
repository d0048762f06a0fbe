"""The public entry points: `kspec.validate` and `kspec.load`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kspec.compiler import CompiledModel, LoweringOptions, compile_model
from kspec.runtime.model import Model
from kspec.runtime.plugins import load_plugins
from kspec.schemas import ModelSpec, validate_document
from kspec.spec import Document, SourceMap, load_document
from kspec.spec.document import Source

Functions = Mapping[str, Callable[..., Any]]


def check(
    source: Source | ModelSpec,
    functions: Functions | None = None,
    allow_outside_includes: bool | None = None,
    lowering: LoweringOptions | None = None,
) -> CompiledModel:
    """Load, validate and shape-check a spec without allocating weights."""
    load_plugins()
    if isinstance(source, ModelSpec):
        document = Document(source.model_dump(), SourceMap("<ModelSpec>"))
    else:
        document = load_document(source, allow_outside_includes=allow_outside_includes)
    spec = validate_document(document)
    return compile_model(spec, document.source_map, functions, lowering)


def validate(
    source: Source | ModelSpec,
    *,
    functions: Functions | None = None,
    allow_outside_includes: bool | None = None,
) -> ModelSpec:
    """Validate a spec (path, YAML/JSON text or dict): schemas, graph and shapes.

    Returns the canonical `ModelSpec` (defaults filled, every node named, includes inlined)
    or raises one `kspec.SpecError` listing every problem at its `file:line:col`.
    """
    return check(source, functions, allow_outside_includes).spec


def load(
    source: Source | ModelSpec,
    *,
    functions: Functions | None = None,
    allow_outside_includes: bool | None = None,
    lowering: LoweringOptions | None = None,
) -> Model:
    """Validate and compile a spec into a `Model` (weights are created by `Model.init`).

    `functions` registers Python callables that `Lambda` nodes name with `function:`; a spec
    can never run code on its own. `include:`d files must lie inside the including file's
    directory unless `allow_outside_includes=True`. `lowering` forces the form of the
    per-backend lowering choices (`kspec.LoweringOptions`, docs/performance.md); by default
    each is decided from the backend and the static shapes.
    """
    return Model(check(source, functions, allow_outside_includes, lowering))
