"""`kspec.from_keras` and `kspec import`: a Keras model (file or in memory) -> a kspec `Model`
with its weights, and a model directory with `import-report.txt`.

The config is translated by `kspec.spec.keras` (data to data); this module reads the weights
from the source, places them (`locate`, `assign`) and writes the directory atomically, so a
failed import leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from kspec.compiler import CompiledModel
from kspec.errors import KerasImportError, KspecDeprecationWarning
from kspec.runtime.functional import compile_source
from kspec.runtime.keras_io import locate
from kspec.runtime.keras_io.archive import read_archive
from kspec.runtime.keras_io.assign import AssignLog, Locate, assemble
from kspec.runtime.keras_io.h5read import ByteBudget, legacy_weights, open_h5, text_attr
from kspec.runtime.keras_io.sources import KerasSource, classify
from kspec.runtime.model import Model
from kspec.schemas.registry import call_arguments_of, keras1_renames, known_type_names
from kspec.spec.keras import translate

REPORT = "import-report.txt"


@dataclass
class Imported:
    """A model imported from Keras, and what the report says about how."""

    model: Model
    source: KerasSource
    fresh: bool
    translation: list[str] = field(default_factory=list)
    weights: AssignLog = field(default_factory=AssignLog)
    keras_version: str = "?"

    def report(self) -> str:
        lines = [
            "kspec import report",
            f"source: {self.source.label} ({self.source.kind}; "
            f"saved by Keras {self.keras_version})",
            f"model: {self.model.name} ({len(self.model.layer_names)} layers, "
            f"{self.model.count_params():,} weights' values)",
            "",
            "[translation]",
            *(self.translation or ["spec given by the caller; no Keras config translated"]),
            "",
            "[weights]",
        ]
        if self.fresh:
            lines.append("freshly initialized (seed 0): a JSON architecture holds no weights")
        else:
            lines.append(f"matching: {self.weights.matching}")
            lines += [f"{n} <- {k} ({c} arrays)" for n, k, c in self.weights.layers]
            lines.append("conversions:" if self.weights.conversions else "conversions: none")
            lines += [f"  {node}: {note}" for node, note in self.weights.conversions]
        return "\n".join(lines) + "\n"


def from_keras(
    src: Any,
    *,
    custom_objects: Mapping[str, Any] | None = None,
    functions: Mapping[str, Any] | None = None,
    spec: Any = None,
) -> Model:
    """A kspec `Model` from a Keras model: a `.keras` archive, a legacy `.h5` (with its
    `model_config`, or weights only given `spec`), a JSON architecture (fresh weights) or an
    in-memory `keras.Model`. Raises `KerasImportError` for anything it cannot import
    faithfully. `custom_objects` maps Keras class names to registered kspec layer types;
    `functions` gives Lambda layers their Python functions."""
    return import_keras(src, custom_objects=custom_objects, functions=functions, spec=spec).model


def import_keras(
    src: Any,
    *,
    custom_objects: Mapping[str, Any] | None = None,
    functions: Mapping[str, Any] | None = None,
    spec: Any = None,
) -> Imported:
    source = classify(src)
    if source.kind == "keras":
        return _from_archive(source, spec, custom_objects, functions)
    if source.kind == "h5":
        return _from_h5(source, spec, custom_objects, functions)
    if source.kind == "live":
        return _from_live(source, spec, custom_objects, functions)
    compiled, _, notes = _compiled(source.config, source.label, spec, custom_objects, functions)
    model = Model(compiled)
    model.init(0)
    return Imported(model, source, True, notes, keras_version=_json_version(source.config))


def _from_archive(source: KerasSource, spec: Any, custom: Any, functions: Any) -> Imported:
    assert source.path is not None
    archive = read_archive(source.path)
    compiled, names, notes = _compiled(archive.config, source.label, spec, custom, functions)
    budget = _budget(compiled, source.label)
    log = AssignLog()
    with open_h5(archive.weights(budget.limit), f"{source.label}: model.weights.h5") as file:
        finder = locate.object_paths(
            file, archive.config, archive.keras_version, names, source.label, budget, log
        )
        model = _model(compiled, finder, source.label, log)
    return Imported(model, source, False, notes, log, archive.keras_version)


def _from_h5(source: KerasSource, spec: Any, custom: Any, functions: Any) -> Imported:
    assert source.path is not None
    with open_h5(source.path, source.label) as file:
        config_text = text_attr(file, "model_config")
        if config_text is None and spec is None:
            raise KerasImportError(
                f"{source.label}: a weights-only HDF5 file (no model_config); give the "
                "architecture: `kspec import FILE --spec model.yaml` or "
                "`from_keras(FILE, spec=...)`"
            )
        config = _json_text(config_text, source.label) if config_text is not None else None
        compiled, names, notes = _compiled(config, source.label, spec, custom, functions)
        weights = legacy_weights(file, source.label)
        budget, log = _budget(compiled, source.label), AssignLog()
        finder = locate.legacy(weights, compiled, names, source.label, budget, log)
        model = _model(compiled, finder, source.label, log)
    return Imported(model, source, False, notes, log, weights.keras_version)


def _from_live(source: KerasSource, spec: Any, custom: Any, functions: Any) -> Imported:
    config = json.loads(source.model.to_json())
    compiled, names, notes = _compiled(config, source.label, spec, custom, functions)
    log = AssignLog()
    model = _model(compiled, locate.live(source.model, names, log), source.label, log)
    version = str(config.get("keras_version", "3"))
    return Imported(model, source, False, notes, log, version)


def _compiled(
    config: Any, label: str, spec: Any, custom: Any, functions: Any
) -> tuple[CompiledModel, dict[str, str] | None, list[str]]:
    """The compiled kspec model, each node's Keras layer name, and the translation report."""
    if spec is not None:
        return compile_source(spec, functions), None, []
    translation = translate(
        config,
        source=label,
        custom_objects=custom,
        functions=list(functions or ()),
        known_types=known_type_names(),
        renames=keras1_renames,
        call_arguments=call_arguments_of,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = compile_source(translation.tree, functions)
    for warning in caught:  # what is left to say about Keras 1 forms goes into the report
        if issubclass(warning.category, KspecDeprecationWarning):
            translation.report.add("note", None, str(warning.message))
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    names = {node: facts.keras_name for node, facts in translation.layers.items()}
    return compiled, names, str(translation.report).splitlines()


def _budget(compiled: CompiledModel, label: str) -> ByteBudget:
    abstract = jax.eval_shape(compiled.init, jax.random.PRNGKey(0))
    need = sum(int(np.prod(a.shape)) * a.dtype.itemsize for a in jax.tree.leaves(abstract))
    return ByteBudget(need, label)


def _model(compiled: CompiledModel, finder: Locate, label: str, log: AssignLog) -> Model:
    model = Model(compiled)
    model.variables = assemble(compiled, finder, label, log)
    return model


def _json_text(text: str, label: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise KerasImportError(f"{label}: model_config is not valid JSON ({exc})") from None


def _json_version(config: Any) -> str:
    return str(config.get("keras_version", "?")) if isinstance(config, dict) else "1 (bare list)"


def write_directory(imported: Imported, out: Path) -> Path:
    """The model directory (`runtime/model_dir.py`) plus `import-report.txt`, written to a
    staging sibling and renamed into place: a failure leaves `out` as it was."""
    out = out.absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise KerasImportError(f"{out}: already exists and is not empty; choose a new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.import-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        imported.model.save(staging)  # a model directory (docs/model-directory.md)
        (staging / REPORT).write_text(imported.report())
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out
