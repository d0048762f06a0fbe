"""Keras layers that are not one kspec layer with the same parameters: Keras 1's `Merge` and
`TimeDistributedDense`, and `Lambda` (whose Python code kspec never runs).

Each returns the kspec node fields, or raises `Refusal` saying what to do instead.
"""

from __future__ import annotations

from typing import Any

from kspec.spec.keras.layers import Context, Refusal, layer_fields

MERGE_KEYS = ("mode", "concat_axis", "dot_axes")
"""The Keras 1 `Merge` parameters kspec's `Merge` has (`keras/engine/topology.py` 1.x)."""


def merge(config: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Keras 1 `Merge` of tensors: kspec's `Merge` (its modes lower to Add, Concatenate, ...).
    A `mode` given as a Python function (`mode_type: lambda`) is code, refused."""
    name = str(config.get("name"))
    if config.get("mode_type", "raw") != "raw" or not isinstance(config.get("mode"), str):
        raise Refusal(
            "Merge with a Python function as `mode` carries marshalled bytecode, which kspec "
            "never runs; merge with a kspec Lambda `expression` over the inputs instead"
        )
    if config.get("output_shape") is not None:
        ctx.report.add("dropped", name, "`output_shape` (kspec infers it)")
    fields = {k: config[k] for k in MERGE_KEYS if k in config}
    ctx.report.add("converted", name, f"Keras 1 Merge mode '{fields.get('mode', 'sum')}'")
    return {"type": "Merge", **fields}


def time_distributed_dense(config: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Keras 1 `TimeDistributedDense` = `TimeDistributed(Dense)`: the same weights (W, b),
    the same product at every timestep (keras 1.2 `layers/core.py`)."""
    name = str(config.get("name"))
    dense = layer_fields("Dense", {k: v for k, v in config.items() if k != "name"}, ctx)
    ctx.report.add("converted", name, "Keras 1 TimeDistributedDense -> TimeDistributed(Dense)")
    return {"type": "TimeDistributed", "layer": dense}


def lambda_layer(config: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """A Keras `Lambda` runs the caller's function when the caller gave one (`functions=`, by
    the layer's name or the function's); its bytecode is never run."""
    name = str(config.get("name"))
    function = _function_name(config.get("function"), config.get("function_type"))
    chosen = name if name in ctx.functions else function if function in ctx.functions else None
    if chosen is None:
        what = f"the function `{function}`" if function else "marshalled Python bytecode"
        raise Refusal(
            f"Lambda layer carries {what}, which kspec never runs. Either write it as a kspec "
            f"Lambda `expression` (`{{type: Lambda, name: {name}, expression: 'x * 2'}}` in the "
            f"spec), or give the function at import: `functions={{'{name}': fn}}`"
        )
    fields: dict[str, Any] = {"type": "Lambda", "function": chosen}
    if config.get("arguments"):
        fields["arguments"] = config["arguments"]
    shape = config.get("output_shape")
    if isinstance(shape, list) and config.get("output_shape_type", "raw") == "raw":
        fields["output_shape"] = shape
    ctx.report.add("converted", name, f"Lambda -> the function given as `{chosen}`")
    return fields


def _function_name(function: Any, function_type: Any) -> str | None:
    """The name of a named function (Keras 2 `function_type: function`, Keras 3's serialized
    `{"class_name": "function", "config": name}`), None for a lambda's bytecode."""
    if function_type == "function" and isinstance(function, str):
        return function
    if isinstance(function, dict) and function.get("class_name") == "function":
        config = function.get("config")
        return config if isinstance(config, str) else None
    return None
