"""Stage 1: YAML/JSON text -> plain data + source map; YAML surprises removed, sugar resolved."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kspec.errors import SpecError
from kspec.schemas import validate_document
from kspec.spec import load_document

HEAD = "kspec: 1\ninputs: {x: [4]}\nlayers:\n"


def error_of(source: Any) -> str:
    with pytest.raises(SpecError) as info:
        validate_document(load_document(source))
    return str(info.value)


# Scalars follow the YAML 1.2 core schema --------------------------------------------------------

SCALARS = [
    ("1e-3", 1e-3),
    ("1.5E+2", 150.0),
    (".5", 0.5),
    ("-.inf", float("-inf")),
    ("10", 10),
    ("0x10", 16),
    ("true", True),
    ("False", False),
    ("null", None),
    ("~", None),
    ("on", "on"),
    ("off", "off"),
    ("yes", "yes"),
    ("no", "no"),
    ("y", "y"),
    ("2024-01-01", "2024-01-01"),
    ("12:30:00", "12:30:00"),
    ("'1e-3'", "1e-3"),
    ("1_000", "1_000"),
]


@pytest.mark.parametrize(("text", "expected"), SCALARS)
def test_scalar_typing(text: str, expected: Any) -> None:
    value = load_document(f"v: {text}\n").data["v"]
    assert value == expected
    assert type(value) is type(expected)


# Malformed input: one located SpecError, never a raw YAML/JSON exception ----------------------

LOCATED_ERRORS = [
    ("duplicate key", "a: 1\nb: 2\na: 3\n", "<string>:3:1:", "duplicate key 'a'"),
    ("nested duplicate", "a:\n  b: 1\n  b: 2\n", "<string>:3:3:", "duplicate key 'b'"),
    ("recursive alias", "a: &a [1, *a]\n", "<string>:1:4:", "recursive YAML alias"),
    ("recursive map alias", "a: &a {b: *a}\n", "<string>:1:4:", "recursive YAML alias"),
    ("unclosed flow list", "a: [1, 2\n", "<string>:2:1:", "invalid YAML"),
    ("bad indentation", "a:\n  b: 1\n c: 2\n", "<string>:3:2:", "invalid YAML"),
    ("python object tag", "a: !!python/object:os.system {}\n", "<string>:1:4:", "!!python/object"),
    ("python name tag", "a: !!python/name:os.system x\n", "<string>:1:4:", "!!python/name"),
    ("python apply tag", "a: !!python/object/apply:os.system [ls]\n", "<string>:1:4:", "tag"),
    ("custom tag", "a: !custom [1]\n", "<string>:1:4:", "unsupported YAML tag !custom"),
    ("binary", "a: !!binary aGk=\n", "<string>:1:4:", "!!binary"),
    ("non-scalar key", "? [a, b]\n: 1\n", "<string>:1:3:", "mapping keys must be plain scalars"),
    ("empty", "", "<string>:1:1:", "the spec is empty"),
    ("comments only", "# nothing\n", "<string>:1:1:", "the spec is empty"),
    ("list at top", "- 1\n- 2\n", "<string>:1:1:", "must be a mapping"),
    ("scalar at top", "hello\n", "<string>:1:1:", "must be a mapping"),
]


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [case[1:] for case in LOCATED_ERRORS],
    ids=[case[0] for case in LOCATED_ERRORS],
)
def test_located_errors(text: str, where: str, what: str) -> None:
    message = error_of(text)
    assert message.startswith(where), message
    assert what in message
    assert "Traceback" not in message


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        items = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{items}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_a_quick_located_error() -> None:
    start = time.perf_counter()
    message = error_of(_alias_bomb())
    assert time.perf_counter() - start < 5.0
    assert message.startswith("<string>:")
    assert "alias bomb" in message


def test_a_few_aliases_are_fine() -> None:
    data = load_document("a: &a [1, 2]\nb: *a\nc: *a\n").data
    assert data == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    message = error_of("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert message.startswith("<string>:")


# Files: YAML and JSON, with positions ------------------------------------------------------------

JSON_SPEC = """{
  "kspec": 1,
  "inputs": {"x": {"shape": [4]}},
  "layers": [
    {"type": "Dense", "unitz": 3}
  ]
}
"""


def test_json_file_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(JSON_SPEC)
    message = error_of(str(path))
    assert message.startswith(f"{path}:5:23: error: node 'dense': unknown parameter `unitz`")


def test_json_file_loads_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(JSON_SPEC.replace("unitz", "units"))
    document = load_document(path)
    assert document.data["layers"][0] == {"type": "Dense", "units": 3}
    loc = document.source_map.locate(("layers", 0, "units"))
    assert (loc.file, loc.line, loc.col) == (str(path), 5, 32)


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('{"a": 1,\n "b": }\n', ":2:7:", "invalid JSON"),
        ('{"a": 1, "a": 2}\n', ":1:10:", "duplicate key 'a'"),
        ("[1, 2]\n", ":1:1:", "must be a mapping"),
        ("", ":1:1:", "invalid JSON"),
    ],
)
def test_malformed_json_file(tmp_path: Path, text: str, where: str, what: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    message = error_of(path)
    assert message.startswith(f"{path}{where}"), message
    assert what in message


def test_malformed_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + "  - {type: Dense, units: 3\n")
    message = error_of(path)
    assert message.startswith(f"{path}:5:1: error: invalid YAML")


def test_missing_file() -> None:
    assert "no such file" in error_of("does/not/exist.yaml")


def test_missing_version_is_one_error() -> None:
    message = error_of("inputs: {x: [4]}\nlayers:\n  - Dense: {units: 3}\n")
    assert message == "<string>:1:1: error: missing the format version: add `kspec: 1` at the top"


def test_wrong_version() -> None:
    message = error_of("kspec: 2\ninputs: {x: [4]}\nlayers:\n  - Dense: {units: 3}\n")
    assert message.startswith("<string>:1:8: error: `kspec` should be 1")


# Sugar -------------------------------------------------------------------------------------------

SUGAR = [
    (
        "one-key layer",
        HEAD + "  - Dense: {units: 10}\n",
        {"inputs": {"x": {"shape": [4]}}, "layers": [{"type": "Dense", "units": 10}]},
    ),
    (
        "bare type name",
        HEAD + "  - Flatten\n  - Dense:\n",
        {"layers": [{"type": "Flatten"}, {"type": "Dense"}]},
    ),
    (
        "input_shape",
        "kspec: 1\nlayers:\n  - Dense: {units: 10, input_shape: [3, 5]}\n",
        {"inputs": {"input": {"shape": [3, 5]}}, "layers": [{"type": "Dense", "units": 10}]},
    ),
    (
        "input_dim",
        "kspec: 1\nlayers:\n  - {type: Dense, units: 10, input_dim: 7}\n",
        {"inputs": {"input": {"shape": [7]}}, "layers": [{"type": "Dense", "units": 10}]},
    ),
    (
        "batch_input_shape",
        "kspec: 1\nlayers:\n  - {type: Dense, units: 1, batch_input_shape: [32, 6]}\n",
        {"inputs": {"input": {"batch_size": 32, "shape": [6]}}},
    ),
    (
        "Input node",
        "kspec: 1\nlayers:\n  - {type: Input, shape: [3], name: inp}\n  - Dense: {units: 2}\n",
        {
            "inputs": {"inp": {"shape": [3]}},
            "layers": [{"type": "Dense", "units": 2, "inputs": ["inp"]}],
        },
    ),
    (
        "unnamed Input node",
        "kspec: 1\nlayers:\n  - Input: {shape: [3]}\n  - Dense: {units: 2}\n",
        {"inputs": {"input": {"shape": [3]}}},
    ),
    (
        "inputs shorthand",
        "kspec: 1\ninputs: {x: [4, null]}\nlayers: [Flatten]\n",
        {"inputs": {"x": {"shape": [4, None]}}, "layers": [{"type": "Flatten"}]},
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in SUGAR], ids=[c[0] for c in SUGAR])
def test_sugar(text: str, expected: dict[str, Any]) -> None:
    data = load_document(text).data
    for key, value in expected.items():
        assert data[key] == value


def test_sugar_equals_canonical_form() -> None:
    sugared = load_document(HEAD + "  - Dense: {units: 10, activation: relu}\n  - Flatten\n")
    canonical = load_document(
        HEAD + "  - {type: Dense, units: 10, activation: relu}\n  - {type: Flatten}\n"
    )
    assert validate_document(sugared) == validate_document(canonical)


ERRORS_AFTER_SUGAR = [
    ("typo in one-key layer", HEAD + "  - Dense: {unitz: 10}\n", "<string>:4:13:", "`unitz`"),
    ("bad value in one-key layer", HEAD + "  - Dense: {units: -3}\n", "<string>:4:20:", "units"),
    ("unknown one-key type", HEAD + "  - Dense2: {units: 3}\n", "<string>:4:5:", "'Dense2'"),
    ("unknown bare type", HEAD + "  - Flaten\n", "<string>:4:5:", "'Flaten'"),
    (
        "after a hoisted Input node",
        "kspec: 1\nlayers:\n  - Input: {shape: [3]}\n  - Flatten\n  - Dense: {unitz: 2}\n",
        "<string>:5:13:",
        "`unitz`",
    ),
    (
        "bad input_shape",
        "kspec: 1\nlayers:\n  - Dense: {units: 2, input_shape: [0]}\n",
        "<string>:3:23:",
        "shape",
    ),
    (
        "input_shape not on the first layer",
        HEAD + "  - Flatten\n  - Dense: {units: 2, input_shape: [3]}\n",
        "<string>:5:23:",
        "only allowed on the first layer",
    ),
    (
        "input_shape and inputs",
        HEAD + "  - Dense: {units: 2, input_shape: [3]}\n",
        "<string>:4:23:",
        "conflicts with the top-level `inputs:`",
    ),
    (
        "bad shorthand input shape",
        "kspec: 1\ninputs: {x: [-1]}\nlayers: [Flatten]\n",
        "<string>:2:",
        "shape",
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [c[1:] for c in ERRORS_AFTER_SUGAR],
    ids=[c[0] for c in ERRORS_AFTER_SUGAR],
)
def test_errors_after_sugar_point_at_what_the_user_wrote(text: str, where: str, what: str) -> None:
    message = error_of(text)
    assert message.startswith(where), message
    assert what in message
    assert len(message.splitlines()) == 1, message


def test_dict_source_is_not_mutated() -> None:
    source = {"kspec": 1, "layers": [{"Dense": {"units": 2, "input_shape": [3]}}]}
    before = repr(source)
    load_document(source)
    assert repr(source) == before
