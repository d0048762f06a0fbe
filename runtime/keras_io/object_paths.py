"""Where Keras 3 keeps each layer's variables in a `.weights.h5` (also `model.weights.h5`
inside a `.keras` archive), and in which order they make up `layer.weights`.

Keras 3 `saving/saving_lib.py` (`_save_container`) names the objects of a container by their
class name in snake_case, made unique in container order (`dense`, `dense_1`), never by the
user's layer name; a layer's own variables are `<path>/vars/0..n` and its sub-layers are
groups named after the attribute holding them. `layer.weights` lists the layer's own
variables, then each tracked sub-layer's in the order it was assigned, which the file does not
record: the table below gives it for Keras' composite layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h5py

from kspec.errors import KerasImportError
from kspec.runtime.keras_io.h5read import member
from kspec.spec.names import snake_case

RECURRENT = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "RNN")
MODELS = ("Functional", "Sequential", "Model")
SUBLAYERS = {
    "MultiHeadAttention": ("query_dense", "key_dense", "value_dense", "output_dense"),
    "GroupQueryAttention": ("_query_dense", "_key_dense", "_value_dense", "_output_dense"),
}
"""Attention layers' projections, by the attribute names their objects are saved under, in
`layer.weights` order (Keras 3 `MultiHeadAttention.build`, `GroupedQueryAttention.build`)."""
PYTHON_CLASS = {"GroupQueryAttention": "GroupedQueryAttention"}
"""Config `class_name`s whose Python class (which names the object path) is spelt otherwise."""


@dataclass(frozen=True)
class KerasObject:
    """One serialized Keras layer: its class, its config (inner `config` dict) and path."""

    class_name: str
    config: Mapping[str, Any]
    path: str


def children(obj: KerasObject) -> list[KerasObject]:
    """The sub-layers of `obj` whose variables follow its own, in `layer.weights` order."""
    config = obj.config
    if obj.class_name == "Bidirectional":
        forward = _serialized(config.get("layer"))
        backward = _serialized(config.get("backward_layer")) or forward
        return [
            KerasObject(forward[0], forward[1], f"{obj.path}/forward_layer"),
            KerasObject(backward[0], backward[1], f"{obj.path}/backward_layer"),
        ]
    if obj.class_name in SUBLAYERS:
        return [
            KerasObject("EinsumDense", {}, f"{obj.path}/{a}") for a in SUBLAYERS[obj.class_name]
        ]
    if obj.class_name in RECURRENT:
        return [KerasObject(f"{obj.class_name}Cell", {}, f"{obj.path}/cell")]
    if "layer" in config and _serialized(config.get("layer")):
        inner = _serialized(config["layer"])
        return [KerasObject(inner[0], inner[1], f"{obj.path}/layer")]
    if obj.class_name in MODELS or isinstance(config.get("layers"), list):
        return container(config.get("layers") or [], f"{obj.path}/layers")
    return []


def container(layers: list[Any], path: str) -> list[KerasObject]:
    """The objects of a model's `layers` list, named as `_save_container` names them."""
    used: dict[str, int] = {}
    objects = []
    for entry in layers:
        serialized = _serialized(entry)
        if serialized is None:
            continue
        class_name, config = serialized
        name = snake_case(PYTHON_CLASS.get(class_name, class_name))
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        objects.append(KerasObject(class_name, config, f"{path}/{name}".lstrip("/")))
    return objects


def top_level_paths(model_config: Mapping[str, Any]) -> dict[str, KerasObject]:
    """Each top-level layer of a Keras model config, by its Keras layer name."""
    inner = model_config.get("config") if isinstance(model_config, Mapping) else None
    layers = inner.get("layers") if isinstance(inner, Mapping) else None
    if not isinstance(layers, list):
        return {}
    objects = container(layers, "layers")
    names = [_layer_name(entry) for entry in layers if _serialized(entry) is not None]
    return dict(zip(names, objects, strict=True))


def object_arrays(file: h5py.Group, obj: KerasObject, label: str) -> list[tuple[str, Any]]:
    """`(path, dataset)` of every variable of `obj` and its sub-layers, in `weights` order.
    An object with no group in the file (a layer without variables) has none."""
    group = member(file, obj.path, label, missing_ok=True)
    if group is None:
        return []
    found: list[tuple[str, Any]] = []
    own = member(group, "vars", label, missing_ok=True) if isinstance(group, h5py.Group) else None
    if own is not None:
        if not isinstance(own, h5py.Group):
            raise KerasImportError(f"{label}: {obj.path}/vars is not a group")
        for index in range(len(own)):
            key = str(index)
            if key not in own:
                raise KerasImportError(
                    f"{label}: {obj.path}/vars has {len(own)} entries but no '{key}'"
                )
            found.append((f"{obj.path}/vars/{key}", member(own, key, label)))
    for child in children(obj):
        found.extend(object_arrays(file, child, label))
    return found


def _serialized(entry: Any) -> tuple[str, Mapping[str, Any]] | None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("class_name"), str):
        return None
    config = entry.get("config")
    return entry["class_name"], config if isinstance(config, Mapping) else {}


def _layer_name(entry: Mapping[str, Any]) -> str:
    config = entry.get("config")
    name = config.get("name") if isinstance(config, Mapping) else None
    return str(name if name is not None else entry.get("name"))
