"""The Keras front end: a Keras model config (1.x, 2.x / tf.keras, 3.x) -> a kspec spec tree.

Data to data: no JAX, no Keras, nothing from the config ever runs. `translate` returns the
tree (ready for `kspec.schemas` validation), the report of what was mapped, converted, dropped
and refused (`import-report.txt`), and each node's Keras facts for the weight loader. Every
refusal in the model is collected and raised together as one `KerasImportError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from kspec.errors import Diagnostic, KerasImportError
from kspec.spec.json_reader import read_json
from kspec.spec.keras.layers import Context, Renames
from kspec.spec.keras.models import MODEL_CLASSES, LayerFacts, Walker
from kspec.spec.keras.report import ImportReport
from kspec.spec.source_map import SourceMap

__all__ = ["ImportReport", "KerasImportError", "LayerFacts", "Translation", "translate"]


@dataclass(frozen=True)
class Translation:
    """A translated Keras model."""

    tree: dict[str, Any]
    """The kspec spec as a plain tree (what `kspec.spec` readers produce)."""
    report: ImportReport
    """Every layer mapped, key dropped, conversion applied; `str(report)` is the file."""
    layers: Mapping[str, LayerFacts]
    """kspec node name -> the Keras layer it came from (top-level nodes; nested in `nested`)."""


def translate(
    config: dict[str, Any] | list[Any] | str,
    *,
    source: str = "<keras config>",
    custom_objects: Mapping[str, Any] | None = None,
    functions: Collection[str] = (),
    known_types: Callable[[str], bool] | Collection[str] | None = None,
    renames: Renames | None = None,
    call_arguments: Callable[[str], tuple[str, ...]] | None = None,
) -> Translation:
    """Translate a Keras model config: `model.to_json()` text or its parsed value (a dict, or
    Keras 1's bare list), an `.h5`'s `model_config`, a `.keras`'s `config.json`.

    Args:
      custom_objects: Keras class name -> the kspec layer type (its name, or its registered
        schema class) that stands for it, e.g. `{"LayerScale": MyLayerScale}`.
      functions: names (Lambda layer names, or named functions) the caller will give as
        Python functions (`functions={name: fn}` at load), so those Lambdas are kept.
      known_types: the kspec layer types that exist (a predicate or a collection); when
        given, Keras classes outside it are refused together, with how to provide a plugin.
      renames: replaces Keras 1 parameter and type names by the schemas' modern ones
        (`kspec.schemas.registry.keras1_renames`), each listed in the report; without it the
        tree keeps Keras 1 names, which the schemas accept with a deprecation warning each.
    """
    data, source_map = _parse(config, source)
    top = _unwrap(data, source_map)
    version, backend = _str_or_none(data, "keras_version"), _str_or_none(data, "backend")
    report = ImportReport(source, version, backend)
    known = (
        known_types if known_types is None or callable(known_types) else known_types.__contains__
    )
    customs = {k: v if isinstance(v, str) else getattr(v, "__name__", str(v))
               for k, v in (custom_objects or {}).items()}  # fmt: skip
    generation = _generation(data, version)
    ctx = Context(generation, report, customs, frozenset(functions), known, renames, call_arguments)
    walker = Walker(ctx, source_map, version, backend)
    tree, facts = walker.model(*top)
    _refuse_unknown(ctx, walker)
    if walker.refusals:
        raise KerasImportError(walker.refusals)
    return Translation({"kspec": 1, **tree}, report, facts)


def _predicate(known: Callable[[str], bool] | Collection[str]) -> Callable[[str], bool]:
    return known if callable(known) else frozenset(known).__contains__


def _parse(config: Any, source: str) -> tuple[Any, SourceMap]:
    if isinstance(config, str):
        return read_json(config, source)
    if isinstance(config, dict | list):  # parsed already: no lines to point at
        return json.loads(json.dumps(config)), SourceMap("<dict>")
    raise KerasImportError(
        f"{source}: expected a Keras model config (JSON text, a dict or a list). "
        f"Received: {type(config).__name__}"
    )


def _unwrap(data: Any, source_map: SourceMap) -> tuple[str, Any, tuple[Any, ...]]:
    """(model class, its config, the config's path) of the top-level model."""
    if isinstance(data, list):
        return "Sequential", data, ()
    kind = data.get("class_name") if isinstance(data, dict) else None
    if kind not in MODEL_CLASSES:
        found = f"class_name {kind!r}" if kind else type(data).__name__
        raise KerasImportError(
            Diagnostic(
                f"not a Keras model config: expected a Sequential, Functional or Model. "
                f"Received: {found}",
                source_map.locate(()),
            )
        )
    return str(kind), data.get("config"), ("config",)


def _str_or_none(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _generation(data: Any, version: str | None) -> int:
    """The Keras major version: from `keras_version`, else from the layout (Keras 1: a bare
    list or `[name, node, tensor]` nodes; Keras 3: `module` keys)."""
    if version and version.split(".")[0].isdigit():
        return int(version.split(".")[0])
    if isinstance(data, list):
        return 1
    text = json.dumps(data)
    if '"module"' in text or "__keras_tensor__" in text:
        return 3
    return 2


def _refuse_unknown(ctx: Context, walker: Walker) -> None:
    if not ctx.unknown:
        return
    classes = sorted({kind for kind, _ in ctx.unknown})
    layers = ", ".join(f"'{name}' ({kind})" for kind, name in ctx.unknown)
    example = ", ".join(f'"{kind}": My{kind}' for kind in classes)
    walker.refusals.insert(
        0,
        Diagnostic(
            f"unknown Keras layer types {', '.join(classes)} (layers {layers}); kspec has no "
            f"built-in layer of these names. Register a kspec layer for each "
            f"(`kspec.register_layer`, see docs/composition.md) and map it at import: "
            f"`custom_objects={{{example}}}`"
        ),
    )
    ctx.report.add("refused", None, f"unknown Keras layer types: {', '.join(classes)}")
