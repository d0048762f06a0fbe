"""Template blocks (`blocks:` + `{block: name}` nodes): expanded in stage 1 into ordinary nodes,
with every mistake located at the use site and at the definition."""

from __future__ import annotations

from typing import Any

import pytest

from kspec.errors import SpecError
from kspec.schemas import validate_document
from kspec.schemas.canonical import json_schema
from kspec.spec import load_document

RESIDUAL = """\
kspec: 1
blocks:
  residual:
    params: {filters: null, kernel_size: 3}
    layers:
      - {type: Conv2D, name: conv_a, filters: $filters, kernel_size: $kernel_size, padding: same}
      - {type: Conv2D, name: conv_b, filters: $filters, kernel_size: $kernel_size, padding: same}
      - {type: Add, name: add, inputs: [input, conv_b]}
      - {type: Activation, name: out, activation: relu}
inputs: {image: [8, 8, 4]}
layers:
"""


def expand(text: str) -> list[Any]:
    """The expanded layer list of a spec given as YAML text."""
    return load_document(text).data["layers"]


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as info:
        validate_document(load_document(text))
    return str(info.value)


def names_and_inputs(layers: list[Any]) -> list[tuple[str, list[str] | None]]:
    return [(node["name"], node.get("inputs")) for node in layers]


# Expansion ----------------------------------------------------------------------------------------


def test_use_sites_are_expanded_with_prefixed_names_and_parameters() -> None:
    layers = expand(
        RESIDUAL
        + "  - {block: residual, name: res1, filters: 4}\n"
        + "  - {block: residual, name: res2, filters: 4, kernel_size: 1, inputs: [res1]}\n"
        + "  - {type: GlobalAveragePooling2D, name: pool}\n"
    )
    conv = {"type": "Conv2D", "padding": "same"}
    assert layers == [
        {**conv, "name": "res1_conv_a", "filters": 4, "kernel_size": 3, "inputs": ["image"]},
        {**conv, "name": "res1_conv_b", "filters": 4, "kernel_size": 3, "inputs": ["res1_conv_a"]},
        {"type": "Add", "name": "res1_add", "inputs": ["image", "res1_conv_b"]},
        {"type": "Activation", "name": "res1", "activation": "relu", "inputs": ["res1_add"]},
        {**conv, "name": "res2_conv_a", "filters": 4, "kernel_size": 1, "inputs": ["res1"]},
        {**conv, "name": "res2_conv_b", "filters": 4, "kernel_size": 1, "inputs": ["res2_conv_a"]},
        {"type": "Add", "name": "res2_add", "inputs": ["res1", "res2_conv_b"]},
        {"type": "Activation", "name": "res2", "activation": "relu", "inputs": ["res2_add"]},
        {"type": "GlobalAveragePooling2D", "name": "pool"},
    ]
    assert "blocks" not in load_document(RESIDUAL + "  - {block: residual, filters: 4}\n").data


def test_unnamed_nodes_get_keras_names_before_the_prefix() -> None:
    layers = expand(
        "kspec: 1\n"
        "blocks:\n"
        "  mlp:\n"
        "    params: {units: 4}\n"
        "    layers:\n"
        "      - Dense: {units: $units}\n"
        "      - Dropout: {rate: 0.5}\n"
        "      - Dense: {units: $units}\n"
        "inputs: {x: [4]}\n"
        "layers:\n"
        "  - Dense: {units: 3}\n"
        "  - {block: mlp}\n"
        "  - {type: Dense, units: 2, name: mlp_1}\n"
        "  - {block: mlp, units: 8}\n"
    )
    assert names_and_inputs(layers) == [
        ("dense", None),  # named, since the block use after it refers to it
        ("mlp_dense", ["dense"]),
        ("mlp_dropout", ["mlp_dense"]),
        ("mlp", ["mlp_dropout"]),
        ("mlp_1", None),
        ("mlp_2_dense", ["mlp_1"]),  # `mlp_1` is taken: the second use is `mlp_2`
        ("mlp_2_dropout", ["mlp_2_dense"]),
        ("mlp_2", ["mlp_2_dropout"]),
    ]
    assert [node["units"] for node in layers if node["type"] == "Dense"] == [3, 4, 4, 2, 8, 8]


def test_parameters_keep_their_type_anywhere_in_a_layer() -> None:
    layers = expand(
        "kspec: 1\n"
        "blocks:\n"
        "  rnn:\n"
        "    params: {units: null, init: {RandomNormal: {stddev: 0.1}}, cell: {GRU: {units: 2}}}\n"
        "    layers:\n"
        "      - {type: Bidirectional, layer: {type: LSTM, units: $units, return_sequences: true,\n"
        "         kernel_initializer: $init}}\n"
        "      - {type: TimeDistributed, layer: $cell}\n"
        "      - {type: Reshape, target_shape: $units}\n"
        "inputs: {x: [5, 3]}\n"
        "layers:\n"
        "  - {block: rnn, units: [4, 1]}\n"
    )
    assert layers[0]["layer"] == {
        "type": "LSTM",
        "units": [4, 1],
        "return_sequences": True,
        "kernel_initializer": {"RandomNormal": {"stddev": 0.1}},
    }
    assert layers[1]["layer"] == {"type": "GRU", "units": 2}  # a layer parameter is desugared
    assert layers[2]["target_shape"] == [4, 1]


def test_dollar_dollar_is_a_literal_dollar() -> None:
    layers = expand(
        "kspec: 1\n"
        "blocks:\n"
        "  b:\n"
        "    layers: [{type: Lambda, expression: $$x, note: $$$$}]\n"
        "inputs: {x: [4]}\n"
        "layers: [{block: b}]\n"
    )
    assert (layers[0]["expression"], layers[0]["note"]) == ("$x", "$$$")


def test_nested_blocks_compose_prefixes_and_pass_parameters_through() -> None:
    layers = expand(
        RESIDUAL.replace(
            "inputs: {image",
            "  stage:\n"
            "    params: {filters: null}\n"
            "    layers:\n"
            "      - {block: residual, name: res1, filters: $filters}\n"
            "      - {block: residual, name: res2, filters: $filters, kernel_size: 1}\n"
            "inputs: {image",
        )
        + "  - {block: stage, name: stage1, filters: 4}\n"
    )
    assert names_and_inputs(layers) == [
        ("stage1_res1_conv_a", ["image"]),
        ("stage1_res1_conv_b", ["stage1_res1_conv_a"]),
        ("stage1_res1_add", ["image", "stage1_res1_conv_b"]),
        ("stage1_res1", ["stage1_res1_add"]),
        ("stage1_res2_conv_a", ["stage1_res1"]),  # res2 is the output: named `stage1`
        ("stage1_res2_conv_b", ["stage1_res2_conv_a"]),
        ("stage1_res2_add", ["stage1_res1", "stage1_res2_conv_b"]),
        ("stage1", ["stage1_res2_add"]),
    ]
    assert {node.get("kernel_size") for node in layers[4:6]} == {1}
    assert {node.get("filters") for node in layers if node["type"] == "Conv2D"} == {4}


MERGE = """\
kspec: 1
blocks:
  gate:
    inputs: [x, skip]
    output: mix
    layers:
      - {type: Dense, name: proj, units: 4, inputs: [x]}
      - {type: Multiply, name: mix, inputs: [proj, skip]}
      - {type: Dense, name: aux, units: 1}
inputs: {a: [4], b: [4]}
layers:
"""


def test_several_inputs_map_in_order_and_output_names_the_use_site() -> None:
    spec = validate_document(
        load_document(
            MERGE
            + "  - {block: gate, name: g, inputs: [a, b]}\n"
            + "  - {type: Dense, name: head, units: 2}\n"
            + "outputs: [head, g_aux]\n"
        )
    )
    assert [(node.name, node.inputs) for node in spec.layers] == [
        ("g_proj", ["a"]),
        ("g", ["g_proj", "b"]),  # the output node takes the use site's name ...
        ("g_aux", ["g"]),
        ("head", ["g"]),  # ... so the next node takes it, not the block's last node
    ]
    data = load_document(MERGE + "  - {block: gate, name: g, inputs: [a, b]}\n").data
    assert data["outputs"] == ["g"]


def test_output_indices_of_fed_tensors() -> None:
    layers = expand(
        "kspec: 1\n"
        "blocks:\n"
        "  states:\n"
        "    layers: [{type: Concatenate, inputs: ['input:1', 'input:2']}]\n"
        "  last:\n"
        "    layers: [{type: Activation, activation: tanh, inputs: [input]}]\n"
        "inputs: {x: [5, 3]}\n"
        "layers:\n"
        "  - {type: LSTM, name: lstm, units: 2, return_state: true}\n"
        "  - {block: states, name: s}\n"
        "  - {block: last, name: h, inputs: ['lstm:1']}\n"
    )
    assert [node["inputs"] for node in layers[1:]] == [["lstm:1", "lstm:2"], ["lstm:1"]]


# Mistakes: located at the use site and at the definition -----------------------------------------

ERRORS = [
    (
        "unknown block",
        RESIDUAL + "  - {block: residul, name: res1, filters: 4}\n",
        "<string>:12:13: error: node 'res1': unknown block 'residul' (did you mean 'residual'?)",
    ),
    (
        "no blocks declared",
        "kspec: 1\ninputs: {x: [4]}\nlayers:\n  - {block: mlp}\n",
        "<string>:4:13: error: node 'mlp': unknown block 'mlp'; no `blocks:` are declared",
    ),
    (
        "missing required parameter",
        RESIDUAL + "  - {block: residual, name: res1}\n",
        "<string>:12:5: error: node 'res1': missing required parameter `filters` of block "
        "'residual'\n  <string>:4:14: note: `filters` is declared here without a default",
    ),
    (
        "unknown parameter",
        RESIDUAL + "  - {block: residual, name: res1, filters: 4, kernel: 1}\n",
        "<string>:12:47: error: node 'res1': unknown parameter `kernel` for block 'residual' "
        "(did you mean `kernel_size`?)\n"
        "  <string>:4:13: note: block 'residual' takes: `filters`, `kernel_size`",
    ),
    (
        "unknown $parameter",
        RESIDUAL.replace(
            "kernel_size: $kernel_size, padding: same}\n      - {type: Conv2D, name: conv_b",
            "kernel_size: $kernal_size, padding: same}\n      - {type: Conv2D, name: conv_b",
        )
        + "  - {block: residual, filters: 4}\n",
        "<string>:6:70: error: block 'residual': unknown parameter `$kernal_size` "
        "(did you mean `$kernel_size`?)\n"
        "  <string>:4:13: note: block 'residual' declares: `filters`, `kernel_size`",
    ),
    (
        "input count",
        MERGE + "  - {block: gate, name: g, inputs: [a]}\n",
        "<string>:12:36: error: node 'g': block 'gate' takes 2 inputs (`x`, `skip`). Received: 1\n"
        "  <string>:4:13: note: block 'gate' declares its inputs here",
    ),
    (
        "inputs left out",
        MERGE + "  - {block: gate, name: g}\n",
        "<string>:12:5: error: node 'g': block 'gate' takes 2 inputs (`x`, `skip`). "
        "Received: none\n"
        "  <string>:4:13: note: block 'gate' declares its inputs here",
    ),
    (
        "bad substituted value",
        RESIDUAL + "  - {block: residual, name: res1, filters: -3}\n",
        "<string>:12:44: error: node 'res1_conv_a': `filters` should be greater than 0. "
        "Received: filters=-3\n"
        "  <string>:6:47: note: used as `$filters` in block 'residual'\n"
        "<string>:12:44: error: node 'res1_conv_b': `filters` should be greater than 0. "
        "Received: filters=-3\n"
        "  <string>:7:47: note: used as `$filters` in block 'residual'",
    ),
    (
        "bad default value",
        "kspec: 1\n"
        "blocks:\n"
        "  head:\n"
        "    params: {act: softmx}\n"
        "    layers: [{type: Dense, units: 2, activation: $act}]\n"
        "inputs: {x: [4]}\n"
        "layers: [{block: head, name: out}]\n",
        "<string>:4:19: error: node 'out': `activation`: unknown value 'softmx' "
        "(did you mean 'softmax'?)\n"
        "  <string>:5:50: note: used as `$act` in block 'head'\n"
        "  <string>:7:18: note: in block 'head' used by node 'out'",
    ),
    (
        "mistake written in the block",
        RESIDUAL.replace("activation: relu", "activation: relu6x")
        + "  - {block: residual, name: res1, filters: 4}\n",
        "<string>:9:51: error: node 'res1': `activation`: unknown value 'relu6x' "
        "(did you mean 'relu6'?)\n"
        "  <string>:12:13: note: in block 'residual' used by node 'res1'",
    ),
    (
        "block cycle",
        "kspec: 1\n"
        "blocks:\n"
        "  a:\n"
        "    layers:\n"
        "      - {type: Dense, units: 2}\n"
        "      - {block: b, name: inner}\n"
        "  b:\n"
        "    layers: [{block: a}]\n"
        "inputs: {x: [4]}\n"
        "layers: [{block: a, name: top}]\n",
        "<string>:8:22: error: node 'top_inner_a': block cycle: a -> b -> a\n"
        "  <string>:6:17: note: in block 'b' used by node 'top_inner'\n"
        "  <string>:10:18: note: in block 'a' used by node 'top'",
    ),
    (
        "block using itself",
        "kspec: 1\nblocks:\n  a:\n    layers: [{block: a}]\ninputs: {x: [4]}\n"
        "layers: [{block: a}]\n",
        "<string>:4:22: error: node 'a_a': block cycle: a -> a\n"
        "  <string>:6:18: note: in block 'a' used by node 'a'",
    ),
    (
        "output of a fed output",
        "kspec: 1\n"
        "blocks:\n"
        "  states:\n"
        "    layers: [{type: Concatenate, inputs: ['input:1', 'input:2']}]\n"
        "inputs: {x: [5, 3]}\n"
        "layers:\n"
        "  - {type: LSTM, name: lstm, units: 2, return_state: true}\n"
        "  - {block: states, name: s, inputs: ['lstm:1']}\n",
        "<string>:8:39: error: node 's': `input:1` takes an output of block input 'input', but "
        "it is already one output of a node (`lstm:1`); write `input`",
    ),
    (
        "unknown output",
        "kspec: 1\nblocks:\n  b:\n    output: outt\n    layers: [{type: Dense, name: out}]\n"
        "inputs: {x: [4]}\nlayers: [{block: b}]\n",
        "<string>:4:13: error: block 'b': `output` names no node of the block: 'outt' "
        "(did you mean 'out'?)",
    ),
    (
        "first node of a block with several inputs",
        "kspec: 1\nblocks:\n  two:\n    inputs: [x, y]\n    layers: [{type: Add}]\n"
        "inputs: {x: [4]}\nlayers: [{block: two, inputs: [x, x]}]\n",
        "<string>:5:14: error: block 'two' has several inputs, so its first node must name its "
        "`inputs`",
    ),
    (
        "unknown block key",
        RESIDUAL.replace("    layers:\n", "    layer:\n", 1) + "  - {block: residual}\n",
        "<string>:5:5: error: block 'residual': unknown key `layer` (did you mean `layers`?); "
        "a block takes `params`, `inputs`, `output`, `layers`",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_mistakes_are_located_at_use_site_and_definition(text: str, expected: str) -> None:
    assert error_of(text) == expected


def test_a_parameter_passed_through_nested_blocks_is_located_at_the_outer_use() -> None:
    text = RESIDUAL.replace(
        "inputs: {image",
        "  stage:\n"
        "    params: {width: null}\n"
        "    layers: [{block: residual, name: res, filters: $width}]\n"
        "inputs: {image",
    )
    assert error_of(text + "  - {block: stage, name: s1, width: 0}\n").splitlines()[:3] == [
        "<string>:15:37: error: node 's1_res_conv_a': `filters` should be greater than 0. "
        "Received: filters=0",
        "  <string>:12:52: note: used as `$width` in block 'stage'",
        "  <string>:6:47: note: used as `$filters` in block 'residual'",
    ]


def test_blocks_in_a_dict_spec() -> None:
    spec = {
        "kspec": 1,
        "blocks": {"head": {"params": {"n": None}, "layers": [{"type": "Dense", "units": "$n"}]}},
        "inputs": {"x": [4]},
        "layers": [{"block": "head", "n": 2}, {"block": "head", "n": 3}],
    }
    model = validate_document(load_document(spec))
    assert [(node.name, node.units) for node in model.layers] == [("head", 2), ("head_1", 3)]
    with pytest.raises(SpecError, match=r"^error: node 'head': missing required parameter `n`"):
        load_document({**spec, "layers": [{"block": "head"}]})


def test_a_sub_model_declares_and_uses_blocks_of_its_own() -> None:
    text = (
        "kspec: 1\n"
        "inputs: {x: [4]}\n"
        "layers:\n"
        "  - type: Model\n"
        "    name: tower\n"
        "    spec:\n"
        "      blocks:\n"
        "        mlp:\n"
        "          params: {units: null}\n"
        "          layers: [{type: Dense, units: $units, activation: relu}]\n"
        "      inputs: {t: [4]}\n"
        "      layers: [{block: mlp, name: a, units: 2}, {block: mlp, name: b, units: 3}]\n"
    )
    tower = validate_document(load_document(text)).layers[0]
    assert [(n.name, n.units) for n in tower.spec.layers] == [("a", 2), ("b", 3)]  # type: ignore[union-attr]
    assert error_of(text.replace("units: 2", "units: 0")) == (
        "<string>:12:45: error: node 'tower/a': `units` should be greater than 0. "
        "Received: units=0\n"
        "  <string>:10:41: note: used as `$units` in block 'mlp'"
    )


def test_the_json_schema_accepts_blocks() -> None:
    schema = json_schema()
    assert schema["properties"]["blocks"]["additionalProperties"]["required"] == ["layers"]
    use = schema["properties"]["layers"]["items"]["oneOf"][-1]
    assert use["required"] == ["block"]


def test_inputs_by_call_argument_are_renamed_in_blocks() -> None:
    layers = expand(
        """\
kspec: 1
blocks:
  attend:
    inputs: [x, memory]
    layers:
      - {type: LayerNormalization, name: norm, inputs: [x]}
      - {type: MultiHeadAttention, name: mha, num_heads: 2, key_dim: 4,
         inputs: {query: norm, value: memory, key: "memory:1"}}
inputs: {seq: [5, 8], ctx: [6, 8]}
layers:
  - {block: attend, name: a1, inputs: [seq, ctx]}
"""
    )
    assert layers[1]["name"] == "a1"
    assert layers[1]["inputs"] == {"query": "a1_norm", "value": "ctx", "key": "ctx:1"}
