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


def test_a_sub_model_has_its_own_policy() -> None:
    inner = {"inputs": {"x": {"shape": [4, 3]}}, "layers": [{"type": "Dense", "units": 2}]}
    spec = kspec.validate(_spec([{"type": "Model", "spec": inner}], dtype_policy="bfloat16"))
    assert spec.layers[0].dtype == "bfloat16"
    assert spec.layers[0].spec.layers[0].dtype == "float32"


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
