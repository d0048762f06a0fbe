"""`check`: load, validate and shape-check a spec without importing JAX, optax or Orbax.

`kspec validate` and `kspec.validate` run only this: the compiler's graph and shape stages
are JAX-free until an init or apply runs (compiler/deferred.py), and plugins are loaded only
when the spec names a layer type nothing built in or registered provides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kspec.compiler import CompiledModel, LoweringOptions, compile_model
from kspec.runtime.plugins import load_plugins
from kspec.schemas import ModelSpec, validate_document
from kspec.schemas.registry import known_type_names
from kspec.spec import Document, SourceMap, load_document
from kspec.spec.document import Source

Functions = Mapping[str, Callable[..., Any]]


def check(
    source: Source | ModelSpec,
    functions: Functions | None = None,
    allow_outside_includes: bool | None = None,
    lowering: LoweringOptions | None = None,
) -> CompiledModel:
    """Load, validate and shape-check a spec without allocating weights; `lowering` forces
    the form of the per-backend lowering choices (docs/performance.md)."""
    if isinstance(source, ModelSpec):
        document = Document(source.model_dump(), SourceMap("<ModelSpec>"))
    else:
        document = load_document(source, allow_outside_includes=allow_outside_includes)
    if not set(layer_types(document.data)) <= set(known_type_names()):
        load_plugins()  # a type no built-in layer provides: perhaps an installed plugin does
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


def layer_types(data: Any) -> Iterator[str]:
    """Every `type:` a spec's layers name, wrapped layers and sub-models' layers included."""
    if not isinstance(data, Mapping):
        return
    layers = data.get("layers")
    nested = [*(layers if isinstance(layers, list) else []), data.get("layer")]
    for layer in nested:
        if isinstance(layer, Mapping):
            if isinstance(layer.get("type"), str):
                yield layer["type"]
            yield from layer_types(layer)
