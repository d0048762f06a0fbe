"""Stage 2 entry point: `validate_document(Document) -> ModelSpec`, or one `SpecError` that
lists every mistake at its `file:line:col`."""

from __future__ import annotations

import difflib
import re
import warnings
from typing import Any

from pydantic import ValidationError

from kspec.errors import Diagnostic, KspecDeprecationWarning, Location, SpecError
from kspec.schemas.base import LayerSpec, rename_legacy_keys
from kspec.schemas.canonicalize import canonicalize, inherited_policy, name_nodes
from kspec.schemas.compile_names import canonical_compile, compile_problems, refusal
from kspec.schemas.custom import plugins_note
from kspec.schemas.fields import snake_case
from kspec.schemas.graph import GraphProblem, raw_naming_problems
from kspec.schemas.integers import out_of_range_integers
from kspec.schemas.model import GraphSpec, ModelSpec
from kspec.schemas.nodes import SharedNode, node_kind
from kspec.schemas.registry import TYPE_ALIASES, TYPE_SYNONYMS, known_type_names, layer_class
from kspec.spec import Document, SourceMap
from kspec.spec.source_map import Path


def validate_document(document: Document) -> ModelSpec:
    """Validate a loaded spec: schemas, then graph. Returns the canonical `ModelSpec` (see
    `schemas/canonicalize.py`: names, inputs, outputs, order and defaults filled in)."""
    out_of_range = out_of_range_integers(document.data, document.source_map)
    if out_of_range:
        raise SpecError(out_of_range)
    spec, diagnostics = _validate_graph(document.data, document.source_map, ModelSpec)
    if diagnostics:
        raise SpecError(in_file_order(diagnostics))
    assert isinstance(spec, ModelSpec)
    return spec


def in_file_order(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics sorted by position (unlocated ones last), as a compiler lists them."""
    return sorted(
        diagnostics,
        key=lambda d: (0, d.location.line, d.location.col) if d.location else (1, 0, 0),
    )


def _validate_graph(
    data: dict[str, Any], source_map: SourceMap, cls: type[GraphSpec]
) -> tuple[GraphSpec | None, list[Diagnostic]]:
    """Validate one graph (a model file, or a sub-model's `spec:` with `source_map` re-rooted
    at it): the spec, or every diagnostic found."""
    data, diagnostics, names, failed = _prepare(data, source_map, cls)
    spec: GraphSpec | None = None
    try:
        spec = cls.model_validate(data)
    except ValidationError as exc:
        diagnostics += [
            d
            for d in _from_pydantic(exc, data, source_map, names, cls)
            if d.node not in failed and not (d.node is None and d.message == _MISSING_VERSION)
        ]
    if diagnostics:  # the graph stage cannot run; its name and input checks still can
        diagnostics += _located(raw_naming_problems(data, names), source_map)
        outputs = data.get("outputs") or names[-1:]
        diagnostics += _located(compile_problems(data.get("compile"), outputs), source_map)
        return None, _without_echoes(diagnostics)
    assert spec is not None
    spec, problems = canonicalize(spec)
    if spec is not None:
        problems += compile_problems(data.get("compile"), list(spec.outputs or []))
    located = _located(problems, source_map)
    return (None, located) if located else (spec, [])


def _located(problems: list[GraphProblem], source_map: SourceMap) -> list[Diagnostic]:
    return [
        Diagnostic(
            p.message, source_map.locate(p.path, key=p.at_key or p.path[-1] == "name"), p.node
        )
        for p in problems
    ]


WRAPPED_FIELDS: tuple[str, ...] = ("layer", "backward_layer")
"""The fields in which a wrapper holds another layer (`TimeDistributed`, `Bidirectional`)."""


def _with_submodels(
    item: dict[str, Any], path: Path, name: str, source_map: SourceMap, policy: Any
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """`item` with every sub-model it is or wraps (`layer: {type: Model, ...}`) validated
    into a canonical graph, and the diagnostics found in them; `policy` is the enclosing
    graph's `dtype_policy` as written."""
    if item.get("type") == "Model":
        return _validate_submodel(item, path, name, source_map, policy)
    diagnostics: list[Diagnostic] = []
    for field in WRAPPED_FIELDS:
        inner = item.get(field)
        if isinstance(inner, dict):
            inner, nested = _with_submodels(
                inner, (*path, field), name, source_map, item.get("dtype", policy)
            )
            item, diagnostics = {**item, field: inner}, diagnostics + nested
    return item, diagnostics


def _validate_submodel(
    item: dict[str, Any], path: Path, name: str, source_map: SourceMap, policy: Any
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """A `{type: Model, spec: {...}}` node with its graph validated first, so its mistakes are
    reported with the sub-model's own node names (`vision/conv2d`) and rules."""
    nested = item.get("spec")
    if not isinstance(nested, dict):
        return item, []  # pydantic reports the wrong kind
    nested = inherited_policy(nested, item, policy)
    spec, diagnostics = _validate_graph(nested, source_map.subtree((*path, "spec")), GraphSpec)
    qualified = [
        Diagnostic(
            d.message,
            d.location or source_map.locate(path),
            f"{name}/{d.node}" if d.node else name,
        )
        for d in diagnostics
    ]
    return ({**item, "spec": spec} if spec is not None else item), qualified


def validate_layer(data: dict[str, Any], location: Location | None = None) -> LayerSpec:
    """Validate one layer's parameters outside a model (the Python builder's check), with the
    same messages as in a spec file. `data["type"]` must be a registered type."""
    cls = layer_class(data["type"])
    assert cls is not None, data["type"]
    node = data.get("name") if isinstance(data.get("name"), str) else snake_case(data["type"])
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        wrapped = {"layers": [data]}
        diagnostics = []
        for error in exc.errors(include_url=False):
            path = ("layers", 0, *_data_path(error["loc"], data))
            message = _message(error, path[2:], wrapped, path, ModelSpec)
            diagnostics.append(Diagnostic(message, location, node))
        raise SpecError(_without_echoes(diagnostics)) from None
    except ValueError as exc:  # a Keras 1 name given together with its new name
        raise SpecError(Diagnostic(str(exc), location, node)) from None


_MISSING_VERSION = "missing required parameter `kspec`"
"""Pydantic's echo of the missing format version, which `_prepare` already reports."""


def _prepare(
    data: dict[str, Any], source_map: SourceMap, cls: type[GraphSpec]
) -> tuple[dict[str, Any], list[Diagnostic], list[str], set[str]]:
    """Resolve Keras 1 type and parameter names (warning at their location), report unknown
    layer types, validate sub-models, and compute node names for messages. Also returns the
    nodes already reported, whose echoes in pydantic's errors are dropped."""
    diagnostics: list[Diagnostic] = []
    if cls is ModelSpec and "kspec" not in data:
        diagnostics.append(
            Diagnostic(
                "missing the format version: add `kspec: 1` at the top", source_map.locate(())
            )
        )
    if cls is ModelSpec and isinstance(data.get("compile"), dict):
        data = {**data, "compile": canonical_compile(data["compile"])}
    layers = data.get("layers")
    if not isinstance(layers, list):
        return data, diagnostics, [], set()
    layers, names = name_nodes(layers)
    data = {**data, "layers": list(layers)}
    failed: set[str] = set()
    for i, item in enumerate(layers):
        if not isinstance(item, dict) or "shares" in item:
            continue
        item = _resolve_nested(item, ("layers", i), names[i], source_map, diagnostics)
        policy = data.get("dtype_policy")
        item, nested = _with_submodels(item, ("layers", i), names[i], source_map, policy)
        diagnostics += nested
        failed |= {names[i]} if nested else set()
        data["layers"][i] = item
    failed |= {d.node for d in diagnostics if d.node}
    return data, diagnostics, names, failed


def _resolve_nested(
    item: dict[str, Any],
    path: Path,
    name: str,
    source_map: SourceMap,
    diagnostics: list[Diagnostic],
) -> dict[str, Any]:
    """`_resolve_layer` for a node and every layer it wraps (`layer:`, `backward_layer:`), so
    a wrapped layer's mistakes read exactly like a top-level one's."""
    item = _resolve_layer(item, path, name, source_map, diagnostics)
    for field in WRAPPED_FIELDS:
        inner = item.get(field)
        if isinstance(inner, dict) and "type" in inner:
            inner = _resolve_nested(inner, (*path, field), name, source_map, diagnostics)
            item = {**item, field: inner}
    return item


def _close_type(type_name: str) -> str | None:
    """The known type a misspelt one means: the same letters in another case (`Gru`), else
    the closest name."""
    known = known_type_names()
    by_case = {n.lower(): n for n in known}
    if type_name.lower() in by_case:
        return by_case[type_name.lower()]
    close = difflib.get_close_matches(type_name, known, n=1)
    return close[0] if close else None


def _resolve_layer(
    item: dict[str, Any],
    path: Path,
    name: str,
    source_map: SourceMap,
    diagnostics: list[Diagnostic],
) -> dict[str, Any]:
    type_name = item.get("type")
    if type_name is None:
        diagnostics.append(
            Diagnostic(
                "missing `type` (e.g. `type: Dense`), or `shares: <node>`",
                source_map.locate(path),
                name,
            )
        )
        return item
    where = source_map.locate(path + ("type",))
    if isinstance(type_name, str) and type_name in TYPE_SYNONYMS:
        item, type_name = {**item, "type": TYPE_SYNONYMS[type_name]}, TYPE_SYNONYMS[type_name]
    if isinstance(type_name, str) and type_name in TYPE_ALIASES:
        new = TYPE_ALIASES[type_name]
        warnings.warn(
            f"{_place(where, name)}: `{type_name}` is a Keras 1 name; use `{new}` instead",
            KspecDeprecationWarning,
            stacklevel=4,
        )
        item, type_name = {**item, "type": new}, new
    cls = layer_class(type_name)
    if cls is None:
        close = _close_type(str(type_name))
        hint = f" (did you mean '{close}'?)" if close else ""
        message = f"unknown layer type '{type_name}'{hint}; {plugins_note()}"
        diagnostics.append(Diagnostic(message, where, name))
        return item
    deprecation = getattr(cls, "deprecation", None)  # a Keras 1 layer kept for old specs
    if deprecation is not None:
        warnings.warn(
            f"{_place(where, name)}: {deprecation(item)}", KspecDeprecationWarning, stacklevel=4
        )
    try:
        return rename_legacy_keys(
            type_name,
            cls.keras1_aliases,
            item,
            lambda key: _place(source_map.locate((*path, key), key=True), name),
            cls.keras1_merges,
        )
    except ValueError as exc:
        diagnostics.append(Diagnostic(str(exc), source_map.locate(path), name))
        return item


def _place(location: Location | None, node: str) -> str:
    """`file:line:col: node 'x'` for a warning, or just `node 'x'` for a spec without a file."""
    return f"{location}: node '{node}'" if location else f"node '{node}'"


def _from_pydantic(
    exc: ValidationError, data: Any, source_map: SourceMap, names: list[str], cls: type[GraphSpec]
) -> list[Diagnostic]:
    diagnostics = []
    for error in exc.errors(include_url=False):
        path = _data_path(_without_layer_tag(error["loc"], data), data)
        node = (
            names[path[1]]
            if len(path) >= 2
            and path[0] == "layers"
            and isinstance(path[1], int)
            and path[1] < len(names)
            else None
        )
        layer_path = path[2:] if node else path
        message = _message(error, layer_path, data, path, cls)
        at_key = error["type"] in ("extra_forbidden",)
        diagnostics.append(Diagnostic(message, source_map.locate(path, key=at_key), node))
    return diagnostics


def _without_layer_tag(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop the union tag pydantic puts after a layer's index (`layers.0.Dense.units`)."""
    if len(loc) > 2 and loc[0] == "layers" and isinstance(loc[1], int):
        layers = data.get("layers") if isinstance(data, dict) else None
        if (
            isinstance(layers, list)
            and loc[1] < len(layers)
            and loc[2] == node_kind(layers[loc[1]])
        ):
            return loc[:2] + loc[3:]
    return loc


def _data_path(loc: tuple[Any, ...], data: Any) -> Path:
    """Pydantic's `loc` without the segments it adds (union tags, validator names)."""
    path: list[str | int] = []
    here = data
    for part in loc:
        in_dict = isinstance(here, dict) and part in here
        in_list = isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here)
        if in_dict or in_list:
            here = here[part]
            path.append(part)
        elif isinstance(here, dict) and _is_field_name(part):
            path.append(part)  # a missing field: report it where its mapping is
            here = None
    return tuple(path)


def _is_field_name(part: Any) -> bool:
    """Field names are snake_case identifiers; union tags (`Dense`) and validator names
    (`function-before[...]`) are not."""
    return isinstance(part, str) and part.isidentifier() and part[0].islower()


def _message(
    error: dict[str, Any], layer_path: Path, data: Any, path: Path, cls: type[GraphSpec]
) -> str:
    kind, text = error["type"], error["msg"]
    key = ".".join(str(p) for p in layer_path) if layer_path else None
    if kind == "missing":
        return f"missing required parameter `{key}`" if key else "missing a required value"
    if kind == "extra_forbidden":
        return f"unknown parameter `{key}`{_field_hint(layer_path, data, path, cls)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return "each layer needs a known `type` (e.g. `type: Dense`) or `shares: <node>`"
    if kind == "literal_error" and (reason := refusal(error["input"])):
        return f"`{key}`: {reason}"
    if kind == "literal_error" and len(error.get("ctx", {}).get("expected", "")) > 80:
        choices = [c.strip(" '") for c in error["ctx"]["expected"].replace(" or ", ",").split(",")]
        close = difflib.get_close_matches(str(error["input"]), choices, n=1)
        if close:  # the near miss says it all; the full list would bury it
            return f"`{key}`: unknown value {error['input']!r} (did you mean {close[0]!r}?)"
        return f"`{key}`: unknown value {error['input']!r}; expected one of: {', '.join(choices)}"
    if text.startswith("Value error, "):
        text = text[len("Value error, ") :]
    elif re.match(r"^(Input|List|Dictionary|String|Value) should", text):
        subject = f"`{key}`" if key else "the value"
        text = subject + text[text.index(" should") :].replace(" after validation", "")
    if "input" in error and kind not in ("value_error", "model_type", "dict_type"):
        shown = error["input"]
        if not isinstance(shown, dict | list) or len(repr(shown)) < 60:
            text += f". Received: {key or 'value'}={shown!r}"
    return text


def _field_hint(layer_path: Path, data: Any, path: Path, cls: type[GraphSpec]) -> str:
    """`did you mean` for a misspelt parameter, looked up in the schema of the layer it is in."""
    prefix = ""
    if not layer_path or len(path) < 2 or path[0] != "layers":
        fields = list(cls.model_fields) if len(path) == 1 else []
    else:
        item = data["layers"][path[1]]
        for field in layer_path[:-1]:  # down into wrapped layers: `layer.unit`
            inner = item.get(field) if field in WRAPPED_FIELDS else None
            item = inner if isinstance(inner, dict) else {}
            prefix += f"{field}."
        found = SharedNode if "shares" in item else layer_class(item.get("type"))
        fields = list(found.model_fields) if found and item else []
    close = difflib.get_close_matches(str(layer_path[-1] if layer_path else path[-1]), fields, n=1)
    return f" (did you mean `{prefix}{close[0]}`?)" if close else ""


def _without_echoes(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Drop repeats, and `missing X` where a misspelt key of the node suggests X (one typo)."""
    suggested = {
        (d.node, d.message.rsplit("`", 2)[-2])
        for d in diagnostics
        if d.message.startswith("unknown parameter") and "did you mean" in d.message
    }
    seen, result = set(), []
    for d in diagnostics:
        missing = d.message.startswith("missing required parameter")
        if missing and (d.node, d.message.split("`")[1]) in suggested:
            continue
        if (d.message, d.location) not in seen:
            seen.add((d.message, d.location))
            result.append(d)
    return result
