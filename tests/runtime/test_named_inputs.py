"""Named call arguments end to end: `inputs:` as a mapping in a spec file (located mistakes),
the Python builder's keyword tensors, `kspec explain` and `kspec plot`, and the round trip
through to_yaml."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import kspec
from kspec import layers as L
from kspec.errors import SpecError
from kspec.runtime.api import check
from kspec.runtime.cli import cmd_explain
from kspec.runtime.plot import to_dot

SPEC = """\
kspec: 1
inputs: {x: [5, 8], ctx: [7, 8], m: {shape: [5, 7], dtype: int32}}
layers:
  - type: MultiHeadAttention
    name: mha
    num_heads: 2
    key_dim: 4
    inputs: {query: x, value: ctx, attention_mask: m}
"""


def _load_text(tmp_path: Path, text: str) -> kspec.Model:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    return kspec.load(path)


def test_mapping_and_list_forms_build_the_same_model(tmp_path: Path) -> None:
    named = _load_text(tmp_path, SPEC)
    listed = _load_text(tmp_path, SPEC.replace("{query: x, value: ctx, attention_mask: m}",
                                               "[x, ctx, ctx, m]"))  # fmt: skip
    weights = [np.random.default_rng(0).standard_normal(w.shape).astype(np.float32)
               for w in named.get_weights()]  # fmt: skip
    named.set_weights(weights)
    listed.set_weights(weights)
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, 5, 8)).astype(np.float32),
          rng.standard_normal((2, 7, 8)).astype(np.float32),
          rng.integers(0, 2, (2, 5, 7)).astype(np.int32)]  # fmt: skip
    np.testing.assert_allclose(named.predict(xs), listed.predict(xs), rtol=1e-6, atol=1e-6)
    assert kspec.load(named.to_yaml()).spec == named.spec


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("value: ctx, ", "", "model.yaml:8:13: error: node 'mha': missing call argument `value`: "
         "MultiHeadAttention needs query, value"),
        ("attention_mask: m", "atention_mask: m", "model.yaml:8:36: error: node 'mha': unknown "
         "call argument `atention_mask` (did you mean 'attention_mask'?); MultiHeadAttention "
         "takes query, value, key, attention_mask"),
        ("m: {shape: [5, 7]", "m: {shape: [5, 6]", "model.yaml:4:5: error: node 'mha': "
         "MultiHeadAttention: `attention_mask` of shape (None, 5, 6) does not broadcast"),
    ],
    ids=["missing", "unknown", "mask-shape"],
)  # fmt: skip
def test_mistakes_are_located(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        _load_text(tmp_path, SPEC.replace(old, new))
    assert message in str(info.value)


def test_builder_takes_tensors_by_keyword() -> None:
    x, ctx = kspec.Input((5, 8), name="x"), kspec.Input((7, 8), name="ctx")
    m = kspec.Input((5, 7), name="m", dtype="int32")
    y = L.MultiHeadAttention(2, 4)(x, ctx, attention_mask=m)
    model = kspec.Model([x, ctx, m], y)
    assert model.spec.layers[0].inputs == {"query": "x", "value": "ctx", "attention_mask": "m"}
    assert y.shape == (None, 5, 8)
    with pytest.raises(SpecError, match="unknown call argument `mask`; MultiHeadAttention takes"):
        L.MultiHeadAttention(2, 4)(x, ctx, mask=m)
    with pytest.raises(SpecError, match="missing call argument `value`"):
        L.MultiHeadAttention(2, 4)(x, key=ctx)
    with pytest.raises(SpecError, match="Dense takes one input"):
        L.Dense(2)(x, ctx)


def test_explain_lists_call_arguments() -> None:
    buffer = io.StringIO()
    out = Console(file=buffer, width=200)
    assert cmd_explain(argparse.Namespace(layer="GroupedQueryAttention"), out, out) == 0
    text = buffer.getvalue()
    assert "GroupQueryAttention" in text
    assert "query, value required; key, attention_mask optional" in text


def test_plot_labels_edges_with_argument_names(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text(SPEC)
    lines = to_dot(check(tmp_path / "model.yaml")).splitlines()
    assert '  "x" -> "mha" [label="query"];' in lines
    assert '  "ctx" -> "mha" [label="value"];' in lines
    assert '  "m" -> "mha" [label="attention_mask"];' in lines
