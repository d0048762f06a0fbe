"""libyaml reads clean spec text (fast), PyYAML's pure-Python parser everything else and every
error: the two must give the same data, the same source map and the same messages."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from kspec.errors import SpecError
from kspec.spec import yaml_reader
from kspec.spec.yaml_reader import read_yaml

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted([*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("tests/golden/*.yaml")])

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")


def _outcome(text: str) -> Any:
    try:
        data, source_map = read_yaml(text, "f.yaml")
    except SpecError as exc:
        return str(exc)
    return data, source_map.values, source_map.keys


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(the reading as chosen, PyYAML's alone)."""
    chosen = _outcome(text)
    with monkeypatch.context() as patch:
        patch.setattr(yaml_reader, "_fast_readable", lambda text: False)
        reference = _outcome(text)
    return chosen, reference


def test_libyaml_reads_a_clean_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []
    original = yaml_reader._parse

    def spy(text: str, file: str, spent: Any, loader_class: Any) -> Any:
        used.append(loader_class.__name__)
        return original(text, file, spent, loader_class)

    monkeypatch.setattr(yaml_reader, "_parse", spy)
    read_yaml("kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Dense, units: 2}]\n")
    with pytest.raises(SpecError, match="expected ',' or '}'"):
        read_yaml("a: {b: 1\n")  # an error: read again by PyYAML, for its message
    assert used == ["_FastLoader", "_FastLoader", "_Loader"]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_same_reading_of_every_example(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen, reference = _both(path.read_text(), monkeypatch)
    assert chosen == reference


@pytest.mark.parametrize(
    ("text", "path", "column"),
    [
        ("a: {units: }\n", ("a", "units"), 11),
        ("a: [b: , c]\n", ("a", 0, "b"), 7),
        ("a: {b: [1, 2], c:  }\n", ("a", "c"), 18),
    ],
)
def test_an_empty_flow_value_is_just_after_its_colon(
    text: str, path: tuple[Any, ...], column: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where PyYAML puts it (libyaml: at the next token)."""
    chosen, reference = _both(text, monkeypatch)
    assert chosen == reference
    assert (chosen[1][path].line, chosen[1][path].col) == (1, column)


MUTATIONS = list(":-[]{},#&*!|>'\"%@`\t\n ?\\.a1") + ["\r", "\x85", "\u2028", "\ufeff", "é", "😀"]


def test_same_reading_of_mutated_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small random edits of real specs (typos, stray YAML syntax): libyaml accepts some text
    PyYAML refuses, and places a few things elsewhere; none of that may show."""
    texts = [p.read_text() for p in SPECS]
    rnd = random.Random(13)
    for _ in range(400):
        chars = list(rnd.choice(texts))
        for _ in range(rnd.randint(1, 4)):
            at = rnd.randrange(len(chars))
            op = rnd.random()
            if op < 0.4:
                chars.insert(at, rnd.choice(MUTATIONS))
            elif op < 0.7:
                del chars[at]
            else:
                chars[at] = rnd.choice(MUTATIONS)
        text = "".join(chars)
        chosen, reference = _both(text, monkeypatch)
        assert chosen == reference, text
