"""`dtype_policy:` and per-layer `dtype:`: the forms accepted (Keras 3's serialized policy
included), the exact refusals, and canonicalization into every node."""

from __future__ import annotations

from typing import Any

import pytest

import kspec
from kspec.errors import SpecError


def _spec(layers: list[dict[str, Any]], **model: Any) -> dict[str, Any]:
    return {"kspec": 1, "inputs": {"x": {"shape": [4, 3]}}, "layers": layers, **model}


@pytest.mark.parametrize(
    "written",
    [
        "mixed_float16",
        {"class_name": "DTypePolicy", "config": {"name": "mixed_float16"}},
        {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"},
         "registered_name": None},
        {"class_name": "FloatDTypePolicy", "config": {"name": "mixed_float16"}},
        {"class_name": "Policy", "config": {"name": "mixed_float16"}},
    ],
    ids=["name", "keras3", "keras3_full", "float_policy", "tf_keras"],
)  # fmt: skip
def test_layer_dtype_forms(written: Any) -> None:
    spec = kspec.validate(_spec([{"type": "Dense", "units": 2, "dtype": written}]))
    assert spec.layers[0].dtype == "mixed_float16"
    assert "dtype: mixed_float16" in kspec.load(spec).to_yaml()


def test_model_policy_fills_every_node_wrapped_layers_included() -> None:
    layers = [
        {"type": "Dense", "units": 2},
        {"type": "LSTM", "units": 2, "return_sequences": True, "dtype": "float32"},
        {"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2}},
        {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2}},
    ]
    spec = kspec.validate(_spec(layers, dtype_policy="mixed_bfloat16"))
    assert [layer.dtype for layer in spec.layers] == [
        "mixed_bfloat16", "float32", "mixed_bfloat16", "mixed_bfloat16"
    ]  # fmt: skip
    assert spec.layers[2].layer.dtype == "mixed_bfloat16"
    assert spec.layers[3].layer.dtype == "mixed_bfloat16"
    assert kspec.validate(_spec(layers[:1])).layers[0].dtype == "float32"


def test_a_sub_model_inherits_the_policy_unless_it_sets_its_own() -> None:
    """As Keras' global policy reaches a nested model's layers: the node's `dtype`, else the
    enclosing `dtype_policy`; the sub-model's own `dtype_policy` wins."""
    inner = {"inputs": {"x": {"shape": [4, 3]}}, "layers": [{"type": "Dense", "units": 2}]}

    def inner_policy(node: dict[str, Any], **model: Any) -> tuple[str, str]:
        sub = kspec.validate(_spec([{"type": "Model", **node}], **model)).layers[0].spec
        return sub.dtype_policy, sub.layers[0].dtype

    assert inner_policy({"spec": inner}, dtype_policy="bfloat16") == ("bfloat16", "bfloat16")
    assert inner_policy({"spec": inner, "dtype": "mixed_float16"}, dtype_policy="bfloat16") == (
        "mixed_float16", "mixed_float16"
    )  # fmt: skip
    own = {**inner, "dtype_policy": "float32"}
    assert inner_policy({"spec": own}, dtype_policy="bfloat16") == ("float32", "float32")
    assert inner_policy({"spec": inner}) == ("float32", "float32")
    keras_form = {"class_name": "DTypePolicy", "config": {"name": "mixed_bfloat16"}}
    assert inner_policy({"spec": inner}, dtype_policy=keras_form) == (
        "mixed_bfloat16", "mixed_bfloat16"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_spec([{"type": "Dense", "units": 2, "dtype": "mixed_bfloat61"}]),
         "node 'dense': `dtype` should be 'float32', 'bfloat16', 'float16', 'mixed_bfloat16' "
         "or 'mixed_float16'. Received: dtype='mixed_bfloat61'"),
        (_spec([{"type": "Dense", "units": 2}], dtype_policy="float64"),
         "`dtype_policy` should be 'float32', 'bfloat16', 'float16', 'mixed_bfloat16' or "
         "'mixed_float16'. Received: dtype_policy='float64'"),
        (_spec([{"type": "Dense", "units": 2,
                 "dtype": {"class_name": "QuantizedDTypePolicy", "config": {"mode": "int8"}}}]),
         "node 'dense': expected a dtype policy name or {class_name: DTypePolicy, config: "
         "{name: ...}}. Received: class_name='QuantizedDTypePolicy'"),
        (_spec([{"type": "Dense", "units": 2,
                 "dtype": {"class_name": "DTypePolicy", "config": {"name": "float32"}, "x": 1}}]),
         "node 'dense': a serialized dtype policy has no key 'x'"),
    ],
    ids=["layer_name", "model_name", "quantized", "extra_key"],
)  # fmt: skip
def test_refusals_are_exact(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as info:
        kspec.validate(spec)
    assert str(info.value) == f"error: {message}"
