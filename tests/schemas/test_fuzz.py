"""Fuzzing the front end: any mutation of a valid spec either validates or raises exactly one
`kspec.SpecError` whose diagnostics are all located - never another exception type.

Mutations: dropped, renamed and duplicated keys, retyped and random values, garbage bytes and
unicode, truncated and corrupted YAML text. Both the YAML-text path and the dict path are driven.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kspec
from kspec.errors import KspecDeprecationWarning

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BASES: list[dict[str, Any]] = [
    yaml.safe_load((EXAMPLES / "mlp.yaml").read_text()),
    {
        "kspec": 1,
        "name": "two_towers",
        "inputs": {"a": {"shape": [4]}, "b": {"shape": [6]}},
        "layers": [
            {"type": "Dense", "name": "da", "units": 3, "inputs": ["a"]},
            {"type": "Dense", "name": "db", "units": 3, "inputs": ["b"], "activation": "relu"},
            {"type": "Lambda", "name": "mix", "expression": "x0 + x1", "inputs": ["da", "db"]},
            {"type": "Dense", "name": "out", "units": 2, "activation": "softmax"},
        ],
        "outputs": ["out", "da"],
    },
    {
        "kspec": 1,
        "inputs": {"x": [5, 2]},
        "layers": [
            {"Reshape": {"target_shape": [2, 5]}},
            {"type": "Permute", "dims": [2, 1]},
            "Flatten",
            {"type": "Dense", "name": "enc", "units": 10, "kernel_regularizer": {"l2": 0.01}},
            {"shares": "enc", "inputs": ["enc"], "name": "again"},
            {"type": "RepeatVector", "n": 3},
            {"type": "Masking", "mask_value": 0.0},
            {"type": "Dropout", "rate": 0.5, "noise_shape": [None, 1, None]},
            {"type": "Activation", "activation": "tanh"},
        ],
    },
    {
        "kspec": 1,
        "layers": [
            {"type": "Dense", "input_shape": [3], "output_dim": 2, "init": "he_normal"},
            {"type": "ActivityRegularization", "l1": 0.1},
        ],
    },
]

KEY_POOL = [
    "kspec", "name", "inputs", "layers", "outputs", "type", "units", "activation", "shape",
    "dtype", "batch_size", "rate", "target_shape", "dims", "n", "shares", "expression",
    "function", "output_dim", "init", "p", "input_shape", "input_dim", "batch_input_shape",
    "input_length", "layer", "data_format", "use_bias", "noise_shape", "arguments",
    "output_shape", "kernel_initializer", "trainable", "Dense", "Input", "", "0", "é", "🙂",
]  # fmt: skip

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2, 3, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(KEY_POOL),
    st.sampled_from(["relu", "softmax", "Dense", "Flatten", "x", "x:1", "da:3", "enc", "float16"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEY_POOL) | st.text(max_size=5), inner, max_size=3),
    ),
    max_leaves=8,
)


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `tree` (the root included)."""
    paths = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            paths += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            paths += _paths(value, (*prefix, i))
    return paths


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _retype(value: Any) -> list[Any]:
    """Values of every other kind, derived from `value` where that makes sense."""
    text = str(value)
    return [None, True, 0, 1.5, -3, text, [value], {"value": value}, [], {}, float("nan")]


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    spec = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(spec)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["drop", "rename", "retype", "random", "garbage", "dup"]))
        if not path:
            if op in ("retype", "random"):
                spec = draw(st.sampled_from(_retype(spec)) if op == "retype" else VALUES)
            continue
        parent, last = _get(spec, path[:-1]), path[-1]
        if op == "drop":
            del parent[last]
        elif op == "rename" and isinstance(parent, dict):
            new = draw(st.sampled_from(KEY_POOL) | st.text(max_size=6))
            parent[new] = parent.pop(last)
        elif op == "retype":
            parent[last] = draw(st.sampled_from(_retype(parent[last])))
        elif op == "random":
            parent[last] = draw(VALUES)
        elif op == "garbage":
            parent[last] = draw(st.text(min_size=1, max_size=8))
        elif op == "dup" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        if not isinstance(spec, dict | list):
            break
    return spec


def _check(source: Any, *, located: bool) -> None:
    """`validate(source)` succeeds or raises one SpecError with located diagnostics."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            kspec.validate(source)
        except kspec.SpecError as exc:
            assert type(exc) in (kspec.SpecError, kspec.ShapeError, kspec.LimitError), type(exc)
            assert exc.diagnostics, "a SpecError without diagnostics"
            for d in exc.diagnostics:
                assert d.message and isinstance(d.message, str)
                if located:
                    assert d.location is not None, f"unlocated diagnostic: {d}"
                    assert d.location.line >= 1 and d.location.col >= 1, str(d)
    for w in caught:
        assert issubclass(w.category, KspecDeprecationWarning), f"{w.category}: {w.message}"


def _dump(spec: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(spec, allow_nan=True)
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


FUZZ = settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_bases_are_valid() -> None:
    for base in BASES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KspecDeprecationWarning)
            kspec.validate(copy.deepcopy(base))
            kspec.validate(_dump(base, as_json=False))


@FUZZ
@given(mutated_specs())
def test_mutated_dicts(spec: Any) -> None:
    _check(spec, located=False)


@FUZZ
@given(mutated_specs(), st.booleans())
def test_mutated_text(spec: Any, as_json: bool) -> None:
    _check(_dump(spec, as_json), located=True)


@st.composite
def corrupted_text(draw: st.DrawFn) -> str:
    text = _dump(draw(st.sampled_from(BASES)), as_json=False)
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "insert", "delete", "dupline", "swap", "indent"]))
        if op == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        elif op == "insert":
            at = draw(st.integers(0, len(text)))
            junk = draw(
                st.text(max_size=6)
                | st.sampled_from([":", "- ", "{", "}", "[", "]", "&a ", "*a", "!!python/object ",
                                   "\t", "\x00", "\ufeff", "\udcff", "'", '"', "? ", "%YAML 1.1\n",
                                   "---\n", "!!binary ", "<<: *a\n", "1e-3", ".nan", "0x1F"])
            )  # fmt: skip
            text = text[:at] + junk + text[at:]
        elif op == "delete":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + text[at + draw(st.integers(1, 10)) :]
        elif lines:
            i = draw(st.integers(0, len(lines) - 1))
            if op == "dupline":
                lines.insert(i, lines[i])
            elif op == "swap":
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
            text = "".join(lines)
        lines = text.splitlines(keepends=True)
    return text


@FUZZ
@given(corrupted_text())
def test_corrupted_yaml_text(text: str) -> None:
    _check(text, located=True)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_garbage_bytes(data: bytes) -> None:
    text = data.decode("utf-8", errors="surrogateescape")
    if "\n" not in text:
        text += "\n"  # a one-line string ending in `.yaml` would be taken as a path
    _check(text, located=True)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"kspec: 1\n\xff\xfe\x00garbage: [\n")
    _check(path, located=True)
    json_path = tmp_path / "bad.json"
    json_path.write_text('{"kspec": 1, "kspec": 1}')
    _check(json_path, located=True)
