"""`{type: Model, include: file.yaml}`: paths relative to the including file, kept inside its
directory tree unless allowed, cycles and missing files as located errors with the include
chain, and the inlined spec everywhere after loading."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.spec import load_document

ENCODER = """\
kspec: 1
name: encoder
inputs: {x: [4]}
layers:
  - {type: Dense, units: 3}
compile: {optimizer: sgd, loss: mse}
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _top(include: str, extra: str = "") -> str:
    return (
        f"kspec: 1\ninputs: {{x: [4]}}\nlayers:\n  - {{type: Model, include: {include}{extra}}}\n"
    )


def _error(source: str | Path, **kwargs: bool) -> str:
    with pytest.raises(kspec.SpecError) as info:
        kspec.validate(source, **kwargs)
    return str(info.value)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_include_inlines_the_file_relative_to_the_including_file(tmp_path: Path) -> None:
    _write(tmp_path, {"models/top.yaml": _top("parts/enc.yaml"), "models/parts/enc.yaml": ENCODER})
    spec = kspec.validate("models/top.yaml")
    (node,) = spec.layers
    assert node.spec.name == "encoder"
    assert node.spec.kspec is None  # the file's format version and `compile:` are dropped
    assert "compile" not in type(node.spec).model_fields
    assert "include" not in kspec.load("models/top.yaml").to_yaml()


def test_nested_includes_resolve_relative_to_their_own_file(tmp_path: Path) -> None:
    middle = "inputs: {x: [4]}\nlayers:\n  - {type: Model, include: leaf.yaml}\n"
    _write(
        tmp_path, {"a.yaml": _top("sub/mid.yaml"), "sub/mid.yaml": middle, "sub/leaf.yaml": ENCODER}
    )
    model = kspec.load("a.yaml")
    assert [n for _, n in model.compiled.weight_names("model")] == [
        "encoder/dense/kernel", "encoder/dense/bias",
    ]  # fmt: skip


def test_text_and_dict_specs_include_relative_to_the_current_directory(tmp_path: Path) -> None:
    _write(tmp_path, {"enc.yaml": ENCODER})
    assert kspec.validate(_top("enc.yaml")).layers[0].spec.name == "encoder"
    data = {"kspec": 1, "inputs": {"x": [4]}, "layers": [{"type": "Model", "include": "enc.yaml"}]}
    assert kspec.validate(data).layers[0].spec.name == "encoder"


def test_missing_file_is_located_at_the_include(tmp_path: Path) -> None:
    _write(tmp_path, {"top.yaml": _top("nope.yaml")})
    assert _error("top.yaml") == "top.yaml:4:28: error: included file 'nope.yaml' does not exist"


@pytest.mark.parametrize("path", ["../outside.yaml", "/etc/outside.yaml"])
def test_paths_leaving_the_directory_are_refused(tmp_path: Path, path: str) -> None:
    _write(tmp_path, {"top.yaml": _top(path)})
    assert _error("top.yaml") == (
        f"top.yaml:4:28: error: include '{path}' leaves the directory of top.yaml; pass "
        "allow_outside_includes=True (CLI: --allow-outside-includes) to allow it"
    )


def test_a_symlink_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, {"outside/enc.yaml": ENCODER, "project/top.yaml": _top("enc.yaml")})
    (tmp_path / "project" / "enc.yaml").symlink_to(tmp_path / "outside" / "enc.yaml")
    assert "leaves the directory of project/top.yaml" in _error("project/top.yaml")


def test_the_caller_may_allow_outside_includes(tmp_path: Path) -> None:
    _write(tmp_path, {"outside/enc.yaml": ENCODER, "project/top.yaml": _top("../outside/enc.yaml")})
    spec = kspec.validate("project/top.yaml", allow_outside_includes=True)
    assert spec.layers[0].spec.name == "encoder"
    document = load_document("project/top.yaml", allow_outside_includes=True)
    assert document.data["layers"][0]["spec"]["name"] == "encoder"


def test_cycle_lists_the_chain_and_every_include_site(tmp_path: Path) -> None:
    a = "inputs: {x: [4]}\nlayers:\n  - {type: Model, include: b.yaml}\n"
    b = "inputs: {x: [4]}\nlayers:\n  - {type: Model, include: a.yaml}\n"
    _write(tmp_path, {"top.yaml": _top("sub/a.yaml"), "sub/a.yaml": a, "sub/b.yaml": b})
    assert _error("top.yaml") == (
        "sub/b.yaml:3:28: error: include cycle: sub/a.yaml -> sub/b.yaml -> sub/a.yaml\n"
        "  sub/a.yaml:3:28: note: included from here\n"
        "  top.yaml:4:28: note: included from here"
    )


def test_a_file_including_itself_is_a_cycle(tmp_path: Path) -> None:
    _write(tmp_path, {"top.yaml": _top("top.yaml")})
    assert _error("top.yaml") == "top.yaml:4:28: error: include cycle: top.yaml -> top.yaml"


def test_include_and_spec_together(tmp_path: Path) -> None:
    _write(tmp_path, {"top.yaml": _top("enc.yaml", ", spec: {}"), "enc.yaml": ENCODER})
    assert _error("top.yaml") == (
        "top.yaml:4:19: error: a Model node takes `spec:` or `include:`, not both; keep one"
    )


def test_include_needs_a_path(tmp_path: Path) -> None:
    _write(tmp_path, {"top.yaml": _top("[a, b]")})
    assert _error("top.yaml") == (
        "top.yaml:4:28: error: `include` takes a file path. Received: ['a', 'b']"
    )


def test_mistakes_inside_the_included_file_point_at_both_places(tmp_path: Path) -> None:
    bad_yaml = "inputs: {x: [4]}\nlayers:\n  - {type: Dense, units: 3\n"
    bad_version = ENCODER.replace("kspec: 1", "kspec: 2")
    _write(tmp_path, {"t1.yaml": _top("bad.yaml"), "bad.yaml": bad_yaml})
    _write(tmp_path, {"t2.yaml": _top("v2.yaml"), "v2.yaml": bad_version})
    first, note = _error("t1.yaml").splitlines()
    assert first.startswith("bad.yaml:") and ": error: " in first
    assert note == "  t1.yaml:4:28: note: included from here"
    first, note = _error("t2.yaml").splitlines()
    assert first == "v2.yaml:1:8: error: node 'encoder': `kspec` should be 1. Received: kspec=2"
    assert note == "  t2.yaml:4:28: note: included from here"


def test_shape_mismatch_with_an_included_model_names_both_shapes(tmp_path: Path) -> None:
    _write(
        tmp_path, {"top.yaml": _top("enc.yaml").replace("x: [4]", "x: [5]"), "enc.yaml": ENCODER}
    )
    assert _error("top.yaml") == (
        "top.yaml:4:5: error: node 'encoder': the sub-model 'encoder' expects input 'x' of "
        "shape (None, 4). Received: shape=(None, 5)"
    )


def test_checkpoint_carries_the_inlined_spec(tmp_path: Path) -> None:
    _write(tmp_path, {"top.yaml": _top("enc.yaml"), "enc.yaml": ENCODER})
    model = kspec.load("top.yaml")
    model.init(3)
    model.save_weights(tmp_path / "ckpt")
    os.remove(tmp_path / "enc.yaml")
    restored = kspec.load_checkpoint(tmp_path / "ckpt")
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))


def test_cli_flag_allows_outside_includes(tmp_path: Path) -> None:
    _write(tmp_path, {"outside/enc.yaml": ENCODER, "project/top.yaml": _top("../outside/enc.yaml")})
    kspec_cli = Path(sys.executable).parent / "kspec"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    refused = subprocess.run(
        [str(kspec_cli), "validate", "project/top.yaml"], capture_output=True, text=True, env=env
    )
    assert refused.returncode == 1
    assert "leaves the directory of project/top.yaml" in refused.stderr
    allowed = subprocess.run(
        [str(kspec_cli), "--allow-outside-includes", "summary", "--expand-nested",
         "project/top.yaml"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert "encoder (Model)" in allowed.stdout
    assert "  dense (Dense)" in allowed.stdout


def test_the_json_schema_accepts_include_instead_of_spec() -> None:
    from kspec.schemas.canonical import json_schema

    defs = json_schema()["$defs"]
    assert defs["Model"]["oneOf"] == [{"required": ["spec"]}, {"required": ["include"]}]
    assert defs["Model"]["properties"]["include"]["type"] == "string"
    assert defs["Merge"]["properties"]["layers"]["items"] == {"$ref": "#/$defs/Model"}
