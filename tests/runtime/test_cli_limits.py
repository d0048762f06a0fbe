"""The hostile inputs of issue 18 through the `kspec` command line, as a user meets them: each
is one clear error line (no `internal error`, no traceback, no raw escape sequence), and the
process ends well within its time limit under a 4 GiB address-space limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KSPEC = Path(sys.executable).parent / "kspec"
HEAD = "kspec: 1\ninputs: {x: [4]}\n"
TIMEOUT = 120  # seconds: the CLI imports JAX (~3 s idle); every refusal itself takes < 1 s
MEMORY = 4 * 2**30


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "COLUMNS": "80"}
    # the limit is set by the shell, not a `preexec_fn`: forking a process that has imported
    # JAX warns (and may deadlock)
    limited = ["bash", "-c", f'ulimit -v {MEMORY // 1024} && exec "$0" "$@"', str(KSPEC)]
    result = subprocess.run(
        [*limited, *map(str, args)], capture_output=True, text=True, env=env, timeout=TIMEOUT
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    assert "\x1b" not in output
    return result


def lambda_spec(expression: str) -> str:
    return HEAD + f"layers:\n  - {{type: Lambda, expression: '{expression}'}}\n"


CASES = {
    "power.yaml": (
        lambda_spec("x + 10**10**10"),
        ":4:32: error: node 'lambda': `10 ** 10000000000` is too large: integers may have at "
        "most 64 bits",
    ),
    "unused.yaml": (
        lambda_spec("x if True else 9**9**9"),
        ":4:32: error: node 'lambda': `9 ** 387420489` is too large: integers may have at most "
        "64 bits",
    ),
    "minus.yaml": (
        lambda_spec("-" * 50_000 + "x"),
        ":4:32: error: node 'lambda': expression is 50,001 characters long; at most 10,000 are "
        "allowed",
    ),
    "nested.yaml": (
        HEAD + "layers: [{type: Dense, units: 2}]\nx: " + "[" * 450 + "]" * 450 + "\n",
        ":4:103: error: YAML nested too deeply (more than 100 levels)",
    ),
    "escape.yaml": (
        HEAD + 'layers: [{type: "Dens\\e[31me", units: 2, name: "a\\e[2Jb"}]\n',
        ":3:17: error: node 'a\\x1b[2Jb': unknown layer type 'Dens\\x1b[31me' (did you mean "
        "'Dense'?); no layer plugins installed",
    ),
    "no_outputs.yaml": (
        HEAD + "layers: [{type: Dense, units: 2}]\noutputs: []\n",
        ":4:10: error: `outputs` should have at least 1 item, not 0. Received: outputs=[]",
    ),
    "output5.yaml": (
        HEAD + "layers: [{type: Dense, units: 2}]\noutputs: ['dense:5']\n",
        ":4:11: error: output 'dense:5' does not exist: 'dense' has 1 output(s)",
    ),
    "int_tag.yaml": (
        HEAD + "layers: [{type: Dense, units: !!int abc}]\n",
        ":3:31: error: !!int 'abc' is not an integer",
    ),
    "int_tag_digits.yaml": (
        HEAD + "layers: [{type: Dense, units: !!int '\u0661\u0662'}]\n",
        ":3:31: error: !!int '\u0661\u0662' is not an integer",
    ),
    "big.json": (
        '{"kspec": 1, "inputs": {"x": [4]}, "layers": [{"type": "Dense", "units": '
        + "9" * 5000
        + "}]}",
        ":1:74: error: integer with 5,000 digits is too large; integers must fit in 64 bits",
    ),
    "dim.yaml": (
        "kspec: 1\ninputs: {x: [9223372036854775808]}\nlayers: [{type: Flatten}]\n",
        ":2:13: error: integer 9223372036854775808 does not fit in 64 bits (the range is -2**63 "
        "to 2**63 - 1)",
    ),
}


def test_validate_refuses_every_hostile_file(tmp_path: Path) -> None:
    files = []
    for name, (text, _) in CASES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append(tmp_path / name)
    (tmp_path / "latin1.yaml").write_bytes(HEAD.encode() + b"layers: []\n# caf\xe9\n")
    os.mkfifo(tmp_path / "pipe.yaml")
    result = run("validate", *files, tmp_path / "latin1.yaml", tmp_path / "pipe.yaml",
                 "/dev/zero", "/dev/urandom")  # fmt: skip
    assert result.returncode == 1
    expected = [f"{tmp_path / name}{line}" for name, (_, line) in CASES.items()] + [
        f"{tmp_path / 'latin1.yaml'}:4:6: error: file is not UTF-8 text (invalid continuation "
        "byte: byte 0xe9)",
        f"error: {tmp_path / 'pipe.yaml'}: cannot read a spec from a FIFO; give a .yaml or "
        ".json file",
        "error: /dev/zero: cannot read a spec from a character device; give a .yaml or .json file",
        "error: /dev/urandom: cannot read a spec from a character device; give a .yaml or .json "
        "file",
    ]
    assert result.stderr.splitlines() == expected


def test_build_refuses_what_cannot_fit(tmp_path: Path) -> None:
    spec = tmp_path / "wide.yaml"
    spec.write_text("kspec: 1\ninputs: {x: [100000]}\nlayers: [{type: Dense, units: 100000}]\n")
    result = run("build", spec, "-o", tmp_path / "out", "--max-memory", "8G")
    assert result.returncode == 1
    assert result.stderr == (
        "error: the model needs about 37.3 GiB at batch size 1 (parameters 37.3 GiB, "
        "activations 781.2 KiB), more than the --max-memory budget (8.0 GiB); make the layers "
        "smaller\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("schema", "-o", "{tmp}/missing/schema.json"),
         "error: {tmp}/missing/schema.json: No such file or directory\n"),
        (("build", "{tmp}/ok.yaml", "-o", "{tmp}/ok.yaml/out"),
         "error: {tmp}/ok.yaml/out: Not a directory\n"),
    ],
)  # fmt: skip
def test_outputs_that_cannot_be_written(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "ok.yaml").write_text(HEAD + "layers: [{type: Dense, units: 2}]\n")
    result = run(*(a.format(tmp=tmp_path) for a in args))
    assert result.returncode == 1
    assert result.stderr == message.format(tmp=tmp_path)


def test_seed_beyond_int64_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(HEAD + "layers: [{type: Dense, units: 2}]\n")
    result = run("build", tmp_path / "ok.yaml", "-o", tmp_path / "out", "--seed", str(2**64))
    assert result.returncode == 2
    assert result.stderr.endswith(
        f"error: argument --seed: seed {2**64} does not fit in 64 bits (the range is -2**63 to "
        "2**63 - 1)\n"
    )
