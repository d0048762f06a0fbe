"""`kspec predict` writes every output: one -> .npy, several -> .npz by output name; inputs
are one .npy (a one-input model) or an .npz by input name. In-process CLI (`cli.main`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.runtime.cli import main

TWO_IN_TWO_OUT = """\
kspec: 1
name: pair
inputs:
  left: {shape: [3]}
  right: {shape: [2]}
layers:
  - {type: Concatenate, name: both, inputs: [left, right]}
  - {type: Dense, name: score, units: 1, inputs: [both]}
  - {type: Dense, name: embed, units: 4, inputs: [both]}
outputs: [score, embed]
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("predict")
    (root / "pair.yaml").write_text(TWO_IN_TWO_OUT)
    assert main(["build", str(root / "pair.yaml"), "-o", str(root / "model")]) == 0
    rng = np.random.default_rng(0)
    left, right = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    np.savez(root / "in.npz", left=left.astype("f4"), right=right.astype("f4"))
    np.save(root / "left.npy", left.astype("f4"))
    return root


def predict(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["predict", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_two_outputs_go_to_an_npz_by_name(built: Path, capsys: pytest.CaptureFixture) -> None:
    out = built / "y.npz"
    code, stdout, err = predict(capsys, built / "model", "--input", built / "in.npz", "-o", out)
    assert (code, err) == (0, "")
    assert stdout == f"wrote {out}: score (7, 1), embed (7, 4)\n"
    model = kspec.load_model(built / "model")
    with np.load(built / "in.npz") as given:
        score, embed = model.predict({"left": given["left"], "right": given["right"]})
    with np.load(out) as got:
        assert got.files == ["score", "embed"]
        np.testing.assert_array_equal(got["score"], score)
        np.testing.assert_array_equal(got["embed"], embed)


def test_npy_for_several_outputs_is_an_error(built: Path, capsys: pytest.CaptureFixture) -> None:
    out = built / "y.npy"
    code, _, err = predict(capsys, built / "model", "--input", built / "in.npz", "-o", out)
    assert code == 1 and not out.exists()
    assert err == (
        f"error: -o {out}: the model has 2 outputs (score, embed) and an .npy holds one "
        f"array; write them all to an .npz (-o {built / 'y.npz'})\n"
    )


def test_one_array_for_two_inputs_is_an_error(built: Path, capsys: pytest.CaptureFixture) -> None:
    args = (built / "model", "--input", built / "left.npy", "-o", built / "z.npz")
    code, _, err = predict(capsys, *args)
    assert code == 1
    assert err == (
        f"error: {built / 'left.npy'}: one array for a model with 2 inputs (left, right); "
        "give an .npz with one array per input name\n"
    )


def test_missing_input_name_and_bad_suffix(built: Path, capsys: pytest.CaptureFixture) -> None:
    np.savez(built / "half.npz", left=np.zeros((2, 3), "f4"))
    code, _, err = predict(capsys, built / "model", "--input", built / "half.npz", "-o",
                           built / "h.npz")  # fmt: skip
    assert code == 1
    assert err == f"error: {built / 'half.npz'}: no array for input right (the file has: left)\n"
    code, _, err = predict(capsys, built / "model", "--input", built / "in.npz", "-o",
                           built / "y.csv")  # fmt: skip
    assert (code, err) == (
        1,
        f"error: -o {built / 'y.csv'}: expected a file ending in .npy or .npz\n",
    )


def test_one_output_still_writes_npy(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text("kspec: 1\ninputs: {x: [3]}\nlayers:\n  - {type: Dense, units: 2}\n")
    model = kspec.load(spec)
    model.set_weights([np.arange(6, dtype="f4").reshape(3, 2), np.array([0.5, -1], "f4")])
    model.save_weights(tmp_path / "ckpt")
    x = np.random.default_rng(1).normal(size=(4, 3)).astype("f4")
    np.save(tmp_path / "x.npy", x)
    code, out, _ = predict(capsys, spec, "--weights", tmp_path / "ckpt", "--input",
                           tmp_path / "x.npy", "-o", tmp_path / "y.npy")  # fmt: skip
    assert code == 0 and out == f"wrote {tmp_path / 'y.npy'}: dense (4, 2)\n"
    want = x @ np.arange(6).reshape(3, 2) + [0.5, -1]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-6)
    code, _, err = predict(capsys, spec, "--input", tmp_path / "x.npy", "-o", tmp_path / "z.npy")
    assert code == 1 and not (tmp_path / "z.npy").exists()
    assert err == (
        f"error: {spec} is a spec file, without trained weights; give a model directory "
        "(kspec build -o, kspec fit --out), or the spec with --weights DIR\n"
    )


def test_help_says_what_the_files_hold(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["predict", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert ".npy (a one-input model) or .npz with one array per input name" in text
    assert ".npy (a one-output model) or .npz: one array per output name" in text
