"""Saved Keras weights into a kspec variables tree, layer by layer, checked and converted.

`assemble` is the one place that decides whether a file's arrays fit a kspec model: every
weighted kspec layer must receive exactly the arrays its spec expects (after the Keras 2
conversions), in Keras order, with exact shapes; any mismatch is a `KerasImportError` naming
the file, the kspec node and the Keras layer. The variables are built from abstract shapes,
so no random initialization runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from kspec.compiler import CompiledModel, Variables
from kspec.errors import KerasImportError
from kspec.runtime.keras_io.convert import Source, convert
from kspec.runtime.keras_io.nested import convert_nested


@dataclass(frozen=True)
class Found:
    """The saved arrays of one Keras layer: where they are (for messages) and their values,
    read on demand (`read(i)`), so a wrong count or shape is refused before reading."""

    keras_name: str
    where: str
    shapes: list[tuple[int, ...]]
    read: Callable[[int], np.ndarray]
    source: Source
    trainable_first: bool = False
    """Legacy HDF5 (every Keras version) lists a nested model's trainable weights first,
    then its non-trainable ones (`layer.trainable_weights + layer.non_trainable_weights`)."""
    names: tuple[str, ...] = ()
    """The saved weight names (legacy HDF5 `weight_names`), which tell a nested model's
    inner layers apart."""


@dataclass
class AssignLog:
    """What the import report says about weights: per node, the Keras layer it came from and
    the conversions applied."""

    matching: str = ""
    layers: list[tuple[str, str, int]] = field(default_factory=list)
    conversions: list[tuple[str, str]] = field(default_factory=list)


Locate = Callable[[str], Found | None]
"""The saved arrays for a kspec layer (node name), or None when the file has none."""


def assemble(compiled: CompiledModel, locate: Locate, label: str, log: AssignLog) -> Variables:
    """Every weighted layer's arrays from `locate`, converted and checked, as variables."""
    abstract = jax.eval_shape(compiled.init, jax.random.PRNGKey(0))
    variables: dict[str, dict[str, dict[str, Any]]] = {"params": {}, "state": {}}
    missing = []
    for layer in compiled.layer_order():
        names = compiled.weight_names(layer)
        if not names:
            continue
        targets = [abstract[group][layer][name] for group, name in names]
        found = locate(layer)
        if found is None:
            missing.append(layer)
            continue
        arrays = _converted(compiled, layer, found, [tuple(t.shape) for t in targets], label, log)
        for (group, name), target, array in zip(names, targets, arrays, strict=True):
            variables[group].setdefault(layer, {})[name] = np.asarray(array, dtype=target.dtype)
        log.layers.append((layer, found.keras_name, len(arrays)))
    if missing:
        raise KerasImportError(
            f"{label}: no saved weights for layer(s) {', '.join(missing)}; the file does not "
            "hold this model's weights"
        )
    return {group: tree for group, tree in variables.items()}


def _converted(
    compiled: CompiledModel,
    layer: str,
    found: Found,
    targets: list[tuple[int, ...]],
    label: str,
    log: AssignLog,
) -> list[np.ndarray]:
    where = f"{label}: layer '{layer}' (Keras layer '{found.keras_name}', {found.where})"
    spec = compiled.graph.layer_nodes()[layer][0].spec
    nested = layer in compiled.submodels
    if (found.source.keras3 or nested) and not found.trainable_first:
        _check(where, found.shapes, targets)  # nothing to convert: refuse before reading
    arrays = [found.read(i) for i in range(len(found.shapes))]
    if nested and found.trainable_first:  # legacy HDF5: split per inner layer, converted
        done = convert_nested(
            compiled.submodels[layer], arrays, found.names, found.source, targets, where
        )
        _check(where, [a.shape for a in done.arrays], targets)
        log.conversions.extend((f"{layer}/{path}", note) for path, note in done.notes)
        return done.arrays
    if nested:
        _check(where, [a.shape for a in arrays], targets)
        return arrays
    if found.source.keras3:
        return arrays
    try:
        result = convert(spec, arrays, found.source, targets)
    except KerasImportError as exc:
        raise KerasImportError(f"{where}: {exc}") from None
    _check(where, [a.shape for a in result.arrays], targets)
    log.conversions.extend((layer, note) for note in result.notes)
    return result.arrays


def _check(where: str, have: Sequence[tuple[int, ...]], want: Sequence[tuple[int, ...]]) -> None:
    have, want = [tuple(s) for s in have], [tuple(s) for s in want]
    if len(have) != len(want):
        raise KerasImportError(
            f"{where}: expects {len(want)} weight(s) {_shapes(want)}, the file has "
            f"{len(have)} {_shapes(have)}"
        )
    wrong = [
        f"#{i} is {h} there, {w} here"
        for i, (h, w) in enumerate(zip(have, want, strict=True))
        if h != w
    ]
    if wrong:
        raise KerasImportError(f"{where}: weight shapes differ: {'; '.join(wrong)}")


def _shapes(shapes: Sequence[tuple[int, ...]]) -> str:
    return "[" + ", ".join(str(s) for s in shapes) + "]"
