"""Finding each kspec layer's saved arrays: in a legacy HDF5 `model_weights` group (by Keras
layer name, or by order as Keras 2's `load_weights_from_hdf5_group` did), at a Keras 3 object
path, or on a live `keras.Model`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h5py

from kspec.compiler import CompiledModel
from kspec.errors import KerasImportError
from kspec.runtime.keras_io.assign import AssignLog, Found, Locate
from kspec.runtime.keras_io.convert import Source
from kspec.runtime.keras_io.h5read import ByteBudget, LegacyWeights, read_array
from kspec.runtime.keras_io.object_paths import object_arrays, top_level_paths

KerasNames = Mapping[str, str]
"""kspec node name -> the Keras layer name it was translated from."""


def _datasets(
    entries: list[tuple[str, Any]],
    keras_name: str,
    where: str,
    source: Source,
    label: str,
    budget: ByteBudget,
    trainable_first: bool = False,
) -> Found:
    for name, dataset in entries:
        if not isinstance(dataset, h5py.Dataset):
            raise KerasImportError(f"{label}: {name} of layer '{keras_name}' is not an array")
    shapes = [tuple(d.shape) for _, d in entries]

    def read(i: int) -> Any:
        return read_array(entries[i][1], f"{keras_name}/{entries[i][0]}", label, budget)

    names = tuple(name for name, _ in entries)
    return Found(keras_name, where, shapes, read, source, trainable_first, names)


def legacy(
    weights: LegacyWeights,
    compiled: CompiledModel,
    keras_names: KerasNames | None,
    label: str,
    budget: ByteBudget,
    log: AssignLog,
) -> Locate:
    """Layers matched by Keras name when every weighted layer's name is in the file (always
    so for a whole-model file); else by order of the weighted layers, as Keras 2 loaded a
    weights file into a model built in code."""
    source = Source(weights.keras_version, weights.backend)
    saved = {name: entries for name, entries in weights.layers.items() if entries}
    weighted = [layer for layer in compiled.layer_order() if compiled.weight_names(layer)]
    names = {layer: (keras_names or {}).get(layer, layer) for layer in weighted}
    if all(names[layer] in saved for layer in weighted):
        log.matching = "legacy HDF5 layer groups matched by Keras layer name"
        unused = sorted(set(saved) - set(names.values()))
    else:
        if len(saved) != len(weighted):
            raise KerasImportError(
                f"{label}: the file holds weights for {len(saved)} layer(s), the model has "
                f"{len(weighted)} layer(s) with weights; the names do not match either "
                f"(file: {', '.join(list(saved)[:8])}{', ...' if len(saved) > 8 else ''})"
            )
        log.matching = "legacy HDF5 layer groups matched by order (names differ), as Keras 2"
        names = dict(zip(weighted, saved, strict=True))
        unused = []
    if unused:
        raise KerasImportError(
            f"{label}: the file has weights for layer(s) {', '.join(unused)} that the model "
            "does not have"
        )

    def locate(layer: str) -> Found | None:
        keras_name = names.get(layer)
        if keras_name is None or keras_name not in saved:
            return None
        where = f"group '{keras_name}'"
        return _datasets(saved[keras_name], keras_name, where, source, label, budget, True)

    return locate


def object_paths(
    file: h5py.File,
    model_config: Mapping[str, Any],
    keras_version: str,
    keras_names: KerasNames | None,
    label: str,
    budget: ByteBudget,
    log: AssignLog,
) -> Locate:
    """Layers of a Keras 3 `.weights.h5` found at the object path their place in the config
    gives, whatever the user called them."""
    log.matching = "Keras 3 object paths (class-name paths in config order, not layer names)"
    paths = top_level_paths(model_config)
    source = Source(keras_version, None)

    def locate(layer: str) -> Found | None:
        keras_name = (keras_names or {}).get(layer, layer)
        obj = paths.get(keras_name)
        if obj is None:
            return None
        entries = object_arrays(file, obj, label)
        return _datasets(entries, keras_name, f"object path '{obj.path}'", source, label, budget)

    return locate


def live(keras_model: Any, keras_names: KerasNames | None, log: AssignLog) -> Locate:
    """Layers of an in-memory Keras model, by name (`get_layer(name).get_weights()`)."""
    log.matching = "in-memory keras.Model layers matched by name"
    source = Source("3", None)
    by_name = {layer.name: layer for layer in keras_model.layers}

    def locate(layer: str) -> Found | None:
        keras_name = (keras_names or {}).get(layer, layer)
        if keras_name not in by_name:
            return None
        arrays = by_name[keras_name].get_weights()
        shapes = [tuple(a.shape) for a in arrays]
        return Found(keras_name, "in memory", shapes, lambda i: arrays[i], source)

    return locate
