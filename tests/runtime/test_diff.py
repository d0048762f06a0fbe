"""`kspec diff A B` (in-process): exit 0 same model, 1 different, 2 invalid spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_in_process import Result
from tests.cli_in_process import run_cli as run

MLP = """\
kspec: 1
name: mlp
inputs: {x: [784]}
layers:
  - {type: Dense, name: hidden, units: 64, activation: relu}
  - {type: Dropout, name: drop, rate: 0.5}
  - {type: Dense, name: out, units: 10}
"""


@pytest.fixture
def specs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "a.yaml", tmp_path / "b.yaml"


def diff(specs: tuple[Path, Path], a: str, b: str) -> Result:
    specs[0].write_text(a)
    specs[1].write_text(b)
    return run("diff", *specs)


def test_identical_after_canonical_form(specs: tuple[Path, Path]) -> None:
    # defaults spelled out and a flow mapping rewritten: the same model
    same = MLP.replace("units: 10}", "units: 10, use_bias: true}")
    result = diff(specs, MLP, same)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{specs[0]} and {specs[1]} describe the same model\n"


def test_changed_parameter_shape_and_params(specs: tuple[Path, Path]) -> None:
    result = diff(specs, MLP, MLP.replace("units: 64", "units: 32"))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"--- {specs[0]}",
        f"+++ {specs[1]}",
        "~ layer hidden (Dense)",
        "    units: 64 -> 32",
        "    output shape: (None, 64) -> (None, 32)",
        "    params: 50,240 -> 25,120 (-25,120)",
        "~ layer drop (Dropout)",
        "    output shape: (None, 64) -> (None, 32)",
        "~ layer out (Dense)",
        "    params: 650 -> 330 (-320)",
        "total params: 50,890 -> 25,450 (-25,440)",
    ]


def test_changed_parameter_only(specs: tuple[Path, Path]) -> None:
    result = diff(specs, MLP, MLP.replace("rate: 0.5", "rate: 0.2"))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[2:] == [
        "~ layer drop (Dropout)",
        "    rate: 0.5 -> 0.2",
        "total params: 50,890 -> 50,890 (+0)",
    ]


def test_added_layer_and_changed_wiring(specs: tuple[Path, Path]) -> None:
    extra = "  - {type: Dense, name: extra, units: 3, inputs: [hidden]}\n"
    added = MLP + extra + "outputs: [out, extra]\n"
    result = diff(specs, MLP, added)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[2:] == [
        "~ outputs: [out] -> [out, extra]",
        "+ layer extra (Dense): output (None, 3), 195 params",
        "total params: 50,890 -> 51,085 (+195)",
    ]
    rewired = MLP.replace("units: 10}", "units: 10, inputs: [hidden]}") + "outputs: [out, drop]\n"
    result = diff(specs, MLP, rewired)
    assert result.stdout.splitlines()[2:] == [
        "~ outputs: [out] -> [out, drop]",
        "~ layer out (Dense)",
        "    inputs: [drop] -> [hidden]",
        "total params: 50,890 -> 50,890 (+0)",
    ]


def test_removed_and_renamed_layers(specs: tuple[Path, Path]) -> None:
    result = diff(specs, MLP, MLP.replace("name: drop", "name: dropout"))
    assert result.stdout.splitlines()[2:] == [
        "~ layer drop renamed to dropout",
        "total params: 50,890 -> 50,890 (+0)",
    ]
    result = diff(specs, MLP, MLP.replace("  - {type: Dropout, name: drop, rate: 0.5}\n", ""))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[2:] == [
        "- layer drop (Dropout): output (None, 64), 0 params",
        "~ layer out (Dense)",
        "    inputs: [drop] -> [hidden]",
        "total params: 50,890 -> 50,890 (+0)",
    ]


def test_changed_input_shape(specs: tuple[Path, Path]) -> None:
    result = diff(specs, MLP, MLP.replace("[784]", "[100]"))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[2:] == [
        "~ input x: shape: [784] -> [100]",
        "~ layer hidden (Dense)",
        "    params: 50,240 -> 6,464 (-43,776)",
        "total params: 50,890 -> 7,114 (-43,776)",
    ]


def test_invalid_spec_exits_2_with_located_errors(specs: tuple[Path, Path]) -> None:
    result = diff(specs, MLP, MLP.replace("units: 10", "unit: 10"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"{specs[1]}:7:30: error: node 'out': unknown parameter `unit` (did you mean `units`?)\n"
    )
