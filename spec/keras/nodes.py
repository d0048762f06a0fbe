"""One call of a Keras layer (an inbound node), read from any generation's layout.

- Keras 1 (`keras/engine/topology.py` 1.x `Container.get_config`): a node is a list of
  `[layer_name, node_index, tensor_index]`.
- Keras 2 (keras 2.2.4 `engine/network.py` `get_config`; tf.keras `Node.serialize`): a list of
  `[layer_name, node_index, tensor_index, kwargs]`; tf.keras writes other tensors inside
  `kwargs` as `[layer_name, node_index, tensor_index]` and constants in the first argument as
  `["_CONSTANT_VALUE", -1, value, kwargs]`.
- Keras 3 (`keras/src/models/functional.py` `serialize_node` / `functional_from_config`):
  `{"args": [...], "kwargs": {...}}`, tensors as `{"class_name": "__keras_tensor__", "config":
  {"keras_history": [layer_name, node_index, tensor_index]}}`, slices as `__slice__`.

All become a `Call`: its positional arguments and keyword arguments as trees whose tensor
leaves are `Ref`s and whose other leaves are constants (`Slice` for a slice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONSTANT_VALUE = "_CONSTANT_VALUE"


@dataclass(frozen=True)
class Ref:
    """A tensor: output `tensor` of call `node` of the Keras layer `layer`."""

    layer: str
    node: int
    tensor: int


@dataclass(frozen=True)
class Slice:
    """`start:stop:step` of a `__slice__` (Keras 3) or a `slice_spec` dict (tf.keras)."""

    start: Any
    stop: Any
    step: Any


@dataclass(frozen=True)
class Call:
    """One application of a layer: positional and keyword arguments (tensors as `Ref`s)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def tensors(self) -> list[Ref]:
        """Every tensor argument, positional ones first, in order."""
        return _refs(list(self.args)) + _refs(list(self.kwargs.values()))


def _refs(tree: Any) -> list[Ref]:
    if isinstance(tree, Ref):
        return [tree]
    if isinstance(tree, list | tuple):
        return [r for item in tree for r in _refs(item)]
    if isinstance(tree, dict):
        return [r for item in tree.values() for r in _refs(item)]
    return []


def read_call(node: Any) -> Call:
    """The `Call` of one inbound node; `ValueError` (with what was found) if it is none of the
    three layouts."""
    if isinstance(node, dict) and "args" in node:
        args = node["args"]
        if not isinstance(args, list):
            raise ValueError(f"`args` must be a list. Received: {type(args).__name__}")
        kwargs = node.get("kwargs") or {}
        return Call(tuple(_keras3_value(a) for a in args), _keras3_value(kwargs))
    if isinstance(node, list) and node and all(_is_legacy_tensor(t) for t in node):
        return _legacy_call(node)
    raise ValueError(f"unreadable inbound node {_short(node)}")


def _keras3_value(value: Any) -> Any:
    if isinstance(value, dict):
        kind, config = value.get("class_name"), value.get("config")
        if kind == "__keras_tensor__" and isinstance(config, dict):
            history = config.get("keras_history")
            if _is_history(history):
                return Ref(history[0], history[1], history[2])
            raise ValueError(f"bad keras_history {_short(history)}")
        if kind == "__slice__" and isinstance(config, dict):
            return Slice(config.get("start"), config.get("stop"), config.get("step"))
        if kind == "__tensor__" or kind == "__numpy__":
            return value.get("config", {}).get("value")
        return {k: _keras3_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keras3_value(v) for v in value]
    return value


def _is_history(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(i, int) and not isinstance(i, bool) for i in value[1:])
    )


def _is_legacy_tensor(value: Any) -> bool:
    if not (isinstance(value, list) and len(value) in (3, 4)):
        return False
    head_ok = _is_history(value[:3]) or (value[0] == CONSTANT_VALUE and value[1] == -1)
    return head_ok and (len(value) == 3 or isinstance(value[3], dict))


def _legacy_call(node: list[Any]) -> Call:
    """Keras 1/2: each entry is one tensor of the first argument; tf.keras repeats the call's
    other arguments (`kwargs`) on every entry."""
    first: list[Any] = []
    kwargs: dict[str, Any] = {}
    for entry in node:
        if entry[0] == CONSTANT_VALUE:
            first.append(_legacy_value(entry[2]))
        else:
            first.append(Ref(entry[0], entry[1], entry[2]))
        if len(entry) == 4:
            kwargs = {k: _legacy_value(v) for k, v in entry[3].items()}
    args = (first[0],) if len(first) == 1 else (first,)
    return Call(args, kwargs)


def _legacy_value(value: Any) -> Any:
    if _is_history(value):
        return Ref(value[0], value[1], value[2])
    if isinstance(value, dict) and set(value) == {"start", "stop", "step"}:
        return Slice(value["start"], value["stop"], value["step"])
    if isinstance(value, list):
        return [_legacy_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _legacy_value(v) for k, v in value.items()}
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
