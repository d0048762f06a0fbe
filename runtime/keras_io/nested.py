"""A nested model's arrays from a legacy HDF5 file, split per inner layer and converted as
each inner layer's own (keras 2.2.4 `engine/saving.py`, `convert_nested_model` inside
`preprocess_weights_for_loading`).

A legacy file lists a nested model's weights as one layer's: every trainable weight first,
then every non-trainable one (keras 2.2.4 `Network.weights`; Keras 3 `legacy_h5_format` writes
the same). Keras 2 split them by the *new* model's per-layer counts, which cannot work where a
Keras 1 layer saved more arrays than its Keras 2 form (LSTM 12 -> 3, GRU 9 -> 3); the saved
weight names say which layer each array belongs to (Keras 2 `inner/kernel:0`, Keras 1
`inner_W`), so they are used when every name names exactly one inner layer, and Keras 2's
counts otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kspec.compiler import CompiledModel
from kspec.errors import KerasImportError
from kspec.runtime.keras_io.convert import Source, convert

Shapes = list[tuple[int, ...]]


@dataclass(frozen=True)
class Leaf:
    """An inner layer with weights, at any depth: its path below the nested node (`block/
    lstm`), its node name (the Keras layer name), spec and weight groups in Keras order."""

    path: str
    name: str
    spec: Any
    groups: list[str]


@dataclass
class NestedResult:
    arrays: list[np.ndarray]
    notes: list[tuple[str, str]]
    """(inner layer path, conversion note) for the import report."""


def leaves(sub: CompiledModel, prefix: str = "") -> list[Leaf]:
    """The weighted layers of `sub`, nested models expanded, in Keras 3's weights order."""
    found: list[Leaf] = []
    for layer in sub.layer_order():
        if layer in sub.submodels:
            found += leaves(sub.submodels[layer], f"{prefix}{layer}/")
        elif names := sub.weight_names(layer):
            spec = sub.graph.layer_nodes()[layer][0].spec
            found.append(Leaf(prefix + layer, layer, spec, [group for group, _ in names]))
    return found


def convert_nested(
    sub: CompiledModel,
    arrays: list[np.ndarray],
    weight_names: Sequence[str],
    source: Source,
    targets: Shapes,
    where: str,
) -> NestedResult:
    """The nested node's arrays in Keras 3's per-layer order, each inner layer's converted
    (nothing is converted for a file Keras 3 saved)."""
    found = leaves(sub)
    pieces = _by_name(found, weight_names, arrays) or _by_count(found, arrays, where)
    result = NestedResult([], [])
    start = 0
    for leaf, piece in zip(found, pieces, strict=True):
        leaf_targets = targets[start : start + len(leaf.groups)]
        start += len(leaf.groups)
        if source.keras3:
            result.arrays += piece
            continue
        try:
            converted = convert(leaf.spec, piece, source, leaf_targets)
        except KerasImportError as exc:
            raise KerasImportError(f"{where}: inner layer '{leaf.path}': {exc}") from None
        have = [tuple(a.shape) for a in converted.arrays]
        if have != [tuple(t) for t in leaf_targets]:
            raise KerasImportError(
                f"{where}: inner layer '{leaf.path}' expects weights {leaf_targets}, the file "
                f"has {have}"
            )
        result.arrays += converted.arrays
        result.notes += [(leaf.path, note) for note in converted.notes]
    return result


def _by_name(
    found: list[Leaf], weight_names: Sequence[str], arrays: list[np.ndarray]
) -> list[list[np.ndarray]] | None:
    """Each leaf's arrays, in the file's order, told apart by the weight names; None when a
    name names no inner layer (or leaf names repeat, or the names are missing)."""
    names = [leaf.name for leaf in found]
    if len(set(names)) != len(names) or len(weight_names) != len(arrays):
        return None
    pieces: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for weight, array in zip(weight_names, arrays, strict=True):
        owner = _owner(weight, names)
        if owner is None:
            return None
        pieces[owner].append(array)
    return [pieces[name] for name in names]


def _owner(weight: str, names: list[str]) -> str | None:
    """The inner layer a saved weight name belongs to: the last path segment naming one
    (`block/inner/kernel:0`), or for Keras 1's `<layer>_<W>` names the longest layer name
    followed by `_`."""
    segments = weight.split("/")
    if len(segments) > 1:
        named = [s for s in segments[:-1] if s in names]
        return named[-1] if named else None
    prefixed = [name for name in names if weight.startswith(f"{name}_")]
    return max(prefixed, key=len) if prefixed else None


def _by_count(found: list[Leaf], arrays: list[np.ndarray], where: str) -> list[list[Any]]:
    """Keras 2's split: the trainable arrays go to the leaves by their trainable counts, in
    layer order, then the non-trainable ones likewise; each leaf's back in its own order."""
    want = sum(len(leaf.groups) for leaf in found)
    if len(arrays) != want:
        raise KerasImportError(f"{where}: expects {want} weights, the file has {len(arrays)}")
    trainable = sum(group == "params" for leaf in found for group in leaf.groups)
    sections = {True: iter(arrays[:trainable]), False: iter(arrays[trainable:])}
    return [[next(sections[group == "params"]) for group in leaf.groups] for leaf in found]
