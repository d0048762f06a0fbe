"""Which tensors, and which options, one Keras layer call passes: a node's kspec `inputs`
(a list, or a mapping by call-argument name) and the call options kspec holds as fields.

Keras 3 records each call's positional and keyword arguments (`functional.py`
`serialize_node`); Keras 1/2 positional tensors only, tf.keras other tensors in `kwargs`.
"""

from __future__ import annotations

from typing import Any

from kspec.spec.keras import ops
from kspec.spec.keras.nodes import Call, Ref

OP_MODULES = ("keras.src.ops", "keras.ops")
DROPPED_KWARGS = {"mask": "kspec passes masks itself", "training": "kspec's `training` flag"}
CALL_FIELDS = ("use_causal_mask", "return_attention_scores")
"""Keras call options that kspec's layers (the attention layers) hold as fields: a node is
one call."""


def is_op(item: Any) -> bool:
    """A Keras 3 op recorded as a layer (`x + 3.0` -> `Add`): its `module` says so; Keras 3's
    legacy `.h5` writes no `module`, but an op's config is only its `name` (a layer's has
    `trainable` and `dtype`)."""
    if not isinstance(item, dict):
        return False
    module, conf = item.get("module"), item.get("config")
    if isinstance(module, str):
        return module.startswith(OP_MODULES)
    return (
        item.get("class_name") in ops.OP_CLASSES
        and isinstance(conf, dict)
        and set(conf) == {"name"}
        and any(isinstance(node, dict) for node in item.get("inbound_nodes") or [])
    )


def inputs_of(
    call: Call, kind: str, item: dict[str, Any], arguments: tuple[str, ...]
) -> list[Ref] | dict[str, Ref]:
    """The tensors a node takes: all of an op's; a layer's positional ones, as a list, or, when
    tensors are also passed by keyword (Keras 3 `kwargs`: `mha(q, v, key=k)`), as a mapping by
    the kspec layer's call-argument names (`arguments`), positional ones in their order.
    Keyword tensors kspec's layer does not take are refused by name."""
    if kind in ("TFOpLambda", "SlicingOpLambda") or is_op(item):
        return list(dict.fromkeys(call.tensors()))
    positional = Call(call.args, {}).tensors()
    keywords = {k: v for k, v in call.kwargs.items() if k not in DROPPED_KWARGS}
    named = {k: v for k, v in keywords.items() if Call((v,), {}).tensors()}
    if not named:
        return positional
    unknown = [k for k in named if k not in arguments or not isinstance(named[k], Ref)]
    if unknown or len(positional) > len(arguments):
        keys = ", ".join(f"`{k}`" for k in unknown or named)
        takes = f"takes {', '.join(arguments)}" if arguments else "takes no keyword tensors"
        raise ValueError(f"tensors passed as keyword arguments ({keys}): kspec's {kind} {takes}")
    mapping = dict(zip(arguments, positional, strict=False))
    clash = [k for k in named if k in mapping]
    if clash:
        raise ValueError(f"call argument `{clash[0]}` given both by position and by keyword")
    return {**mapping, **named}
