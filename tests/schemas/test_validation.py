"""Stage 2: plain tree -> validated `ModelSpec`: Keras 3 defaults, Keras 1 aliases, named objects,
graph rules and the safe `Lambda` expression language."""

from __future__ import annotations

from typing import Any

import pytest

from kspec.errors import KspecDeprecationWarning, SpecError
from kspec.schemas import ModelSpec, layer_types, validate_document
from kspec.schemas.canonical import to_data
from kspec.spec import load_document


def validate(layers: list[Any], inputs: Any = None, **top: Any) -> ModelSpec:
    data = {"kspec": 1, "inputs": inputs or {"x": [4]}, "layers": layers, **top}
    return validate_document(load_document(data))


def error_of(source: Any) -> str:
    with pytest.raises(SpecError) as info:
        if isinstance(source, list):
            validate(source)
        else:
            validate_document(load_document(source))
    return str(info.value)


# Keras 3 defaults ---------------------------------------------------------------------------------

DEFAULTS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {"type": "Dense", "units": 3},
        {
            "activation": None,
            "use_bias": True,
            "kernel_initializer": "glorot_uniform",
            "bias_initializer": "zeros",
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
            "trainable": True,
        },
    ),
    ({"type": "Activation", "activation": "relu"}, {"activation": "relu"}),
    ({"type": "Dropout", "rate": 0.5}, {"noise_shape": None, "seed": None}),
    # Keras 3 default None = the global image_data_format; the canonical spec holds the model's
    ({"type": "Flatten"}, {"data_format": "channels_last"}),
    ({"type": "Reshape", "target_shape": [2, 2]}, {"target_shape": [2, 2]}),
    ({"type": "Permute", "dims": [1]}, {"dims": [1]}),
    ({"type": "RepeatVector", "n": 2}, {"n": 2}),
    (
        {"type": "Lambda", "expression": "x * 2"},
        {"function": None, "output_shape": None, "arguments": {}},
    ),
    ({"type": "ActivityRegularization"}, {"l1": 0.0, "l2": 0.0}),
    ({"type": "Masking"}, {"mask_value": 0.0}),
    ({"type": "Identity"}, {"trainable": True}),
]


@pytest.mark.parametrize(("layer", "defaults"), DEFAULTS, ids=[d[0]["type"] for d in DEFAULTS])
def test_keras3_defaults(layer: dict[str, Any], defaults: dict[str, Any]) -> None:
    data = to_data(validate([layer], outputs=None))["layers"][0]
    assert {k: data[k] for k in defaults} == defaults


def test_every_core_layer_has_a_defaults_case() -> None:
    covered = {layer["type"] for layer, _ in DEFAULTS}
    core = {cls.__name__ for cls in layer_types() if cls.__module__.endswith(".core")}
    assert core <= covered


def test_every_field_has_a_description_or_is_obvious() -> None:
    for cls in layer_types():
        assert cls.__doc__, cls


# Keras 1 aliases ---------------------------------------------------------------------------------

KERAS1 = [
    ("Dense", {"output_dim": 3}, "units", 3),
    ("Dense", {"units": 3, "init": "he_normal"}, "kernel_initializer", "he_normal"),
    ("Dense", {"units": 3, "W_regularizer": "l2"}, "kernel_regularizer", "l2"),
    ("Dense", {"units": 3, "b_regularizer": {"l1": 0.1}}, "bias_regularizer", {"l1": 0.1}),
    ("Dense", {"units": 3, "W_constraint": "max_norm"}, "kernel_constraint", "max_norm"),
    ("Dense", {"units": 3, "b_constraint": "non_neg"}, "bias_constraint", "non_neg"),
    ("Dense", {"units": 3, "bias": False}, "use_bias", False),
    ("Dropout", {"p": 0.25}, "rate", 0.25),
]


@pytest.mark.parametrize(
    ("type_name", "params", "new", "value"), KERAS1, ids=[f"{t}-{n}" for t, _, n, _ in KERAS1]
)
def test_keras1_aliases_warn_with_the_new_name(
    type_name: str, params: dict[str, Any], new: str, value: Any
) -> None:
    (old,) = [k for k in params if k not in ("units",)] or ["units"]
    with pytest.warns(KspecDeprecationWarning, match=rf"`{old}` is a Keras 1 name; use `{new}`"):
        spec = validate([{"type": type_name, **params}])
    assert to_data(spec)["layers"][0][new] == value


def test_keras1_alias_warning_is_located() -> None:
    text = "kspec: 1\ninputs: {x: [4]}\nlayers:\n  - {type: Dense, output_dim: 3}\n"
    with pytest.warns(KspecDeprecationWarning, match=r"^<string>:4:19: node 'dense': "):
        validate_document(load_document(text))


def test_old_and_new_name_together_is_an_error() -> None:
    message = error_of([{"type": "Dense", "units": 3, "output_dim": 4}])
    assert "`output_dim` is the Keras 1 name of `units`; give only one of them" in message


# Initializers, regularizers, constraints ---------------------------------------------------------

NAMED_OBJECTS = [
    ("kernel_initializer", "he_normal", "he_normal"),
    ("kernel_initializer", "HeNormal", "he_normal"),
    ("kernel_initializer", "normal", "random_normal"),
    (
        "kernel_initializer",
        {"RandomNormal": {"stddev": 0.02, "seed": 1}},
        {"random_normal": {"stddev": 0.02, "seed": 1}},
    ),
    (
        "kernel_initializer",
        {"class_name": "RandomNormal", "config": {"stddev": 0.1}},
        {"random_normal": {"stddev": 0.1}},
    ),
    ("kernel_initializer", {"Constant": 0.5}, {"constant": 0.5}),
    ("kernel_initializer", {"type": "Orthogonal", "gain": 2.0}, {"orthogonal": {"gain": 2.0}}),
    ("kernel_regularizer", "l2", "l2"),
    ("kernel_regularizer", {"l2": 0.01}, "l2"),
    ("kernel_regularizer", {"l2": 0.5}, {"l2": 0.5}),
    (
        "kernel_regularizer",
        {"l1_l2": {"l1": 0.01, "l2": 0.02}},
        {"l1_l2": {"l1": 0.01, "l2": 0.02}},
    ),
    ("kernel_regularizer", {"class_name": "L1L2", "config": {"l1": 0.1}}, {"l1_l2": {"l1": 0.1}}),
    ("kernel_constraint", "max_norm", "max_norm"),
    ("kernel_constraint", {"max_norm": {"max_value": 3}}, {"max_norm": {"max_value": 3.0}}),
    ("kernel_constraint", "nonneg", "non_neg"),
    ("kernel_constraint", {"class_name": "UnitNorm", "config": {"axis": 1}}, {"unit_norm": 1}),
]


@pytest.mark.parametrize(("field", "written", "canonical"), NAMED_OBJECTS)
def test_named_object_forms(field: str, written: Any, canonical: Any) -> None:
    spec = validate([{"type": "Dense", "units": 3, field: written}])
    assert to_data(spec)["layers"][0][field] == canonical


@pytest.mark.parametrize(
    ("field", "written", "what"),
    [
        ("kernel_initializer", "glorot_uniformm", "did you mean 'glorot_uniform'?"),
        ("kernel_initializer", {"RandomNormal": {"stdev": 0.1}}, "stdev"),
        ("kernel_initializer", {"RandomNormal": {"stddev": -1}}, "stddev"),
        ("kernel_regularizer", {"l2": -0.1}, "l2"),
        ("kernel_regularizer", "l3", "unknown regularizer 'l3'"),
        ("kernel_constraint", "maxnorm2", "unknown constraint"),
    ],
)
def test_named_object_errors(field: str, written: Any, what: str) -> None:
    message = error_of([{"type": "Dense", "units": 3, field: written}])
    assert what in message
    assert len(message.splitlines()) == 1, message


# Parameter errors -------------------------------------------------------------------------------

PARAM_ERRORS = [
    ({"type": "Dense", "unitz": 3}, "unknown parameter `unitz` (did you mean `units`?)"),
    ({"type": "Dense", "units": -3}, "`units` should be greater than 0. Received: units=-3"),
    ({"type": "Dense", "units": "3"}, "Received: units='3'"),
    ({"type": "Dense"}, "missing required parameter `units`"),
    ({"type": "Dense", "units": 3, "activation": "rleu"}, "did you mean 'relu'?"),
    ({"type": "Dropout", "rate": 1.0}, "rate"),
    ({"type": "Reshape", "target_shape": [-1, -1]}, "at most one size may be -1"),
    ({"type": "Permute", "dims": [1, 3]}, "dims must be a permutation of 1..2"),
    ({"type": "Dens", "units": 3}, "unknown layer type 'Dens' (did you mean 'Dense'?)"),
    ({"units": 3}, "missing `type`"),
]


@pytest.mark.parametrize(("layer", "what"), PARAM_ERRORS)
def test_parameter_errors_are_one_clear_diagnostic(layer: dict[str, Any], what: str) -> None:
    message = error_of([layer])
    assert what in message
    assert len(message.splitlines()) == 1, message
    assert message.startswith("error: node '"), message  # dict input: no fake location


def test_all_errors_are_reported_not_just_the_first() -> None:
    message = error_of([{"type": "Dense", "unitz": 3}, {"type": "Dropout", "rate": 2}])
    assert len(message.splitlines()) == 2


# Graph rules ------------------------------------------------------------------------------------

GRAPH = """kspec: 1
inputs: {image: [4], extra: [4]}
layers:
  - {type: Dense, units: 3, name: a, inputs: [image]}
  - {type: Dense, units: 3, name: b, inputs: [extra]}
  - {type: Dense, units: 3, name: c, inputs: [a]}
outputs: [b, c]
"""

GRAPH_ERRORS = [
    (
        "unknown input with did-you-mean",
        GRAPH.replace("inputs: [image]", "inputs: [imag]"),
        "<string>:4:47: error: node 'a': unknown input 'imag' (did you mean 'image'?)",
    ),
    (
        "duplicate names",
        GRAPH.replace("name: b", "name: a").replace("[b, c]", "[a, c]"),
        "<string>:5:29: error: node 'a': duplicate node name 'a'",
    ),
    (
        "cycle",
        GRAPH.replace("inputs: [image]", "inputs: [c]"),
        "<string>:4:46: error: node 'a': cycle in the graph: a -> c -> a",
    ),
    (
        "dangling node",
        GRAPH.replace("outputs: [b, c]", "outputs: [c]"),
        "<string>:5:5: error: node 'b': the node does not lead to any output; "
        "add it to `outputs:` or remove it",
    ),
    (
        "unknown output",
        GRAPH.replace("[b, c]", "[b, d]"),
        "<string>:7:14: error: unknown output 'd'",
    ),
    (
        "shares unknown node",
        GRAPH.replace(
            "outputs: [b, c]", "  - {shares: aa, inputs: [extra], name: s}\noutputs: [s]"
        ),
        "<string>:7:14: error: node 's': `shares` names unknown node 'aa' (did you mean 'a'?)",
    ),
    (
        "multi-input first node without inputs",
        GRAPH.replace(", inputs: [image]", ""),
        "<string>:4:5: error: node 'a': the model has several inputs, so the first node must "
        "name its `inputs`",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [g[1:] for g in GRAPH_ERRORS], ids=[g[0] for g in GRAPH_ERRORS]
)
def test_graph_errors(text: str, expected: str) -> None:
    assert error_of(text) == expected


def test_valid_graph_and_default_names() -> None:
    spec = validate_document(load_document(GRAPH))
    assert [n.name for n in spec.layers] == ["a", "b", "c"]
    spec = validate(
        [
            {"type": "Dense", "units": 2},
            {"type": "Dense", "units": 2},
            {"type": "Activation", "activation": "relu"},
        ]
    )
    assert [n.name for n in spec.layers] == ["dense", "dense_1", "activation"]
    assert spec.outputs == ["activation"]


# Lambda expressions -----------------------------------------------------------------------------

ALLOWED_EXPRESSIONS = [
    "x ** 2",
    "K.relu(x)",
    "keras.ops.mean(x, axis=1, keepdims=True)",
    "c = x - mean(x, axis=1, keepdims=True)\nl2_normalize(c, axis=1)",
    "x[:, 1:3] * scale",
    "where(x > 0, x, 0.0)",
]


@pytest.mark.parametrize("expression", ALLOWED_EXPRESSIONS)
def test_allowed_expressions(expression: str) -> None:
    validate([{"type": "Lambda", "expression": expression, "arguments": {"scale": 2.0}}])


FORBIDDEN_EXPRESSIONS = [
    ('__import__("os")', "unknown function `__import__`"),
    ("eval('1')", "unknown function `eval`"),
    ("open", "unknown name `open`"),
    ("__builtins__", "unknown name `__builtins__`"),
    ("x.__class__", "attribute access `x.__class__` is not allowed"),
    ("x.shape", "attribute access `x.shape` is not allowed"),
    ("import os\nx", "`Import` is not allowed"),
    ("from os import path\nx", "`ImportFrom` is not allowed"),
    ("(lambda: 1)()", "`Lambda` is not allowed"),
    ("[y for y in x]", "`ListComp` is not allowed"),
    ("{y: 1 for y in x}", "`DictComp` is not allowed"),
    ("sum(y for y in x)", "`GeneratorExp` is not allowed"),
    ("def f(): pass\nx", "`FunctionDef` is not allowed"),
    ("K.__dict__['x']", "attribute access"),
    ("x +", "invalid expression"),
    ("y = x", "must end with the value to return"),
]


@pytest.mark.parametrize(("expression", "what"), FORBIDDEN_EXPRESSIONS)
def test_forbidden_expressions(expression: str, what: str) -> None:
    message = error_of([{"type": "Lambda", "expression": expression}])
    assert what in message, message
    assert len(message.splitlines()) == 1, message


def test_lambda_needs_exactly_one_body() -> None:
    assert "exactly one of" in error_of([{"type": "Lambda"}])
    both = [{"type": "Lambda", "expression": "x", "function": "f"}]
    assert "exactly one of" in error_of(both)
