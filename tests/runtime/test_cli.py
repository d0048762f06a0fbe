"""The `kspec` command line, run in a subprocess exactly as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kspec

pytestmark = pytest.mark.slow  # subprocesses or whole training runs: `make test` only

KSPEC = Path(sys.executable).parent / "kspec"
MLP = Path(__file__).resolve().parents[2] / "examples" / "mlp.yaml"
SUBCOMMANDS = ["validate", "build", "summary", "schema", "explain", "plugins", "plot", "diff"]
LOCATED = re.compile(
    r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning): "
)

BAD = """\
kspec: 1
inputs: {x: [3]}
layers:
  - {type: Dense, unit: 2}
  - {type: Dnse, units: 2}
  - {type: Dropout, rate: 1.5}
"""

KERAS1 = """\
kspec: 1
inputs: {x: [3]}
layers:
  - {type: Dense, output_dim: 2}
"""


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "COLUMNS": "80"}
    result = subprocess.run(
        [str(KSPEC), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def test_entry_point_installed() -> None:
    assert KSPEC.exists(), KSPEC


@pytest.mark.parametrize("command", [None, *SUBCOMMANDS])
def test_help(command: str | None) -> None:
    result = run(*([command] if command else []), "--help")
    assert result.returncode == 0
    assert "usage: kspec" in result.stdout
    if command is None:
        for sub in SUBCOMMANDS:
            assert sub in result.stdout


def test_no_command_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage: kspec" in result.stderr


def test_validate_ok() -> None:
    result = run("validate", MLP)
    assert result.returncode == 0, result.stderr
    assert f"{MLP}: ok" in result.stdout
    assert "(None, 10)" in result.stdout
    assert result.stderr == ""


def test_validate_bad_reports_every_error_located(bad_file: Path) -> None:
    result = run("validate", bad_file)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    for line in lines:
        match = LOCATED.match(line)
        assert match, line
        assert match["file"] == str(bad_file) and match["severity"] == "error"
    assert f"{bad_file}:4:19: error: node 'dense': unknown parameter `unit`" in result.stderr
    assert "did you mean `units`?" in result.stderr
    assert f"{bad_file}:5:" in result.stderr and "did you mean 'Dense'?" in result.stderr
    assert f"{bad_file}:6:" in result.stderr and "rate" in result.stderr
    assert result.stdout == ""


def test_validate_several_files(tmp_path: Path, bad_file: Path) -> None:
    good = tmp_path / ("a" * 90 + ".yaml")  # long paths must not wrap
    good.write_text(MLP.read_text())
    result = run("validate", MLP, bad_file, good)
    assert result.returncode == 1
    assert f"{MLP}: ok" in result.stdout
    assert f"{good}: ok" in result.stdout.splitlines()[1]
    assert all(line.startswith(f"{bad_file}:") for line in result.stderr.splitlines())
    assert run("validate", MLP, good).returncode == 0


def test_validate_missing_file(tmp_path: Path) -> None:
    result = run("validate", tmp_path / "nope.yaml")
    assert result.returncode == 1
    assert "no such file" in result.stderr


def test_validate_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kspec: 1\nlayers: [\n  {type: Dense\n")
    result = run("validate", path)
    assert result.returncode == 1
    assert all(LOCATED.match(line) for line in result.stderr.splitlines()), result.stderr


def test_keras1_names_warn_located(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(KERAS1)
    result = run("validate", path)
    assert result.returncode == 0
    (line,) = result.stderr.splitlines()
    assert LOCATED.match(line) and ": warning: " in line, line
    assert line.startswith(f"{path}:4:")
    assert "`output_dim` is a Keras 1 name; use `units` instead" in line


def test_build(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("build", MLP, "-o", out)
    assert result.returncode == 0, result.stderr
    spec, checkpoint, summary = out / "spec.yaml", out / "checkpoint", out / "summary.txt"
    for path in (spec, checkpoint, summary):
        assert path.exists()
        assert str(path) in result.stdout
    version = checkpoint / json.loads((checkpoint / "CURRENT").read_text())["version"]
    assert (version / "kspec.json").is_file() and (version / "variables").is_dir()
    assert "Total params: 669,706" in summary.read_text()
    # The written spec is canonical: it validates to the same spec and is a fixed point.
    canonical = kspec.validate(spec)
    assert canonical == kspec.validate(MLP)
    assert run("validate", spec).returncode == 0
    again = run("build", spec, "-o", tmp_path / "again")
    assert again.returncode == 0
    assert (tmp_path / "again" / "spec.yaml").read_text() == spec.read_text()
    model = kspec.load(spec)
    model.load_weights(checkpoint)


def test_build_bad_spec_writes_nothing(tmp_path: Path, bad_file: Path) -> None:
    out = tmp_path / "out"
    result = run("build", bad_file, "-o", out)
    assert result.returncode == 1
    assert all(LOCATED.match(line) for line in result.stderr.splitlines())
    assert not out.exists()


def test_summary(bad_file: Path) -> None:
    result = run("summary", MLP)
    assert result.returncode == 0
    for text in ("mnist_mlp", "dense (Dense)", "dropout_1 (Dropout)", "(None, 512)", "401,920",
                 "Total params: 669,706", "Trainable params: 669,706",
                 "Non-trainable params: 0"):  # fmt: skip
        assert text in result.stdout, text
    assert run("summary", bad_file).returncode == 1


def test_schema(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    result = run("schema", "-o", path)
    assert result.returncode == 0
    schema = json.loads(path.read_text())
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"kspec", "inputs", "layers"} <= set(schema["properties"])
    stdout = run("schema")
    assert json.loads(stdout.stdout) == schema


def test_explain() -> None:
    result = run("explain", "Dense")
    assert result.returncode == 0
    assert "Dense" in result.stdout
    for field in ("units", "activation", "use_bias", "kernel_initializer"):
        assert field in result.stdout
    assert "output_dim -> units" in result.stdout


def test_explain_unknown_suggests() -> None:
    result = run("explain", "Dense2")
    assert result.returncode == 1
    assert "unknown layer type 'Dense2' (did you mean 'Dense'?)" in result.stderr
    assert result.stdout == ""
