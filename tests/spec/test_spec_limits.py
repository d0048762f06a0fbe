"""Hostile spec files: every amplifier (aliases, blocks, includes), every deep or huge value and
every odd file is one located error, within a second or so - never a hang, a MemoryError or a
RecursionError. Each test times the refusal (the bound is generous: a loaded CI machine)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kspec.errors import LimitError, SpecError
from kspec.schemas import validate_document
from kspec.spec import load_document
from kspec.spec.limits import (
    MAX_BLOCK_DEPTH,
    MAX_BYTES,
    MAX_FILE_BYTES,
    MAX_INCLUDE_DEPTH,
    MAX_NESTING_DEPTH,
    MAX_VALUES,
)

SECONDS = 10.0  # of this process's CPU time: what the input costs, whatever the machine's load
"""Bound on each refusal: ~1 s on an idle machine; the margin is for a loaded CI runner."""
HEAD = "kspec: 1\ninputs: {x: [4]}\n"


def refused(source: Any, error: type[SpecError] = SpecError, **kwargs: Any) -> SpecError:
    """The error loading and validating `source` raises, checked to come quickly."""
    started = time.process_time()
    with pytest.raises(error) as info:
        validate_document(load_document(source, **kwargs))
    assert time.process_time() - started < SECONDS
    return info.value


def only(error: SpecError) -> str:
    (diagnostic,) = error.diagnostics
    return str(diagnostic)


# Blocks and includes --------------------------------------------------------------------------


def block_bomb(levels: int = 25) -> str:
    """25 blocks, each using the next twice: 2**25 layers in 3 KB."""
    lines = [HEAD + "blocks:"]
    for i in range(levels - 1):
        lines.append(
            f"  b{i}:\n    layers:\n      - {{block: b{i + 1}}}\n      - {{block: b{i + 1}}}"
        )
    lines.append(f"  b{levels - 1}:\n    layers:\n      - {{type: Dense, units: 2}}")
    return "\n".join(lines) + "\nlayers:\n  - {block: b0}\n"


def test_block_amplification_names_the_chain() -> None:
    text = block_bomb()
    assert len(text) < 3_500
    chain = " -> ".join(f"b{i}" for i in range(25))
    assert only(refused(text, LimitError)) == (
        f"<string>:104:13: error: the spec expands to more than {MAX_VALUES:,} values through "
        f"blocks ({chain}); write the values out or expand less"
    )


def test_blocks_nested_too_deep() -> None:
    depth = MAX_BLOCK_DEPTH + 5
    lines = [HEAD + "blocks:"]
    lines += [f"  b{i}:\n    layers: [{{block: b{i + 1}}}]" for i in range(depth)]
    lines.append(f"  b{depth}:\n    layers: [{{type: Dense, units: 2}}]")
    message = str(refused("\n".join(lines) + "\nlayers: [{block: b0}]\n"))
    chain = " -> ".join(f"b{i}" for i in range(MAX_BLOCK_DEPTH + 1))
    assert "error: node 'b0_" in message
    assert f"blocks nested more than {MAX_BLOCK_DEPTH} deep: {chain}" in message


def write_chain(root: Path, count: int, width: int) -> Path:
    """f0.yaml includes f1.yaml `width` times, and so on; the last file has one Dense."""
    for i in range(count):
        include = f"  - {{type: Model, include: f{i + 1}.yaml}}\n" * width
        body = include if i < count - 1 else "  - {type: Dense, units: 2}\n"
        (root / f"f{i}.yaml").write_text(HEAD + "layers:\n" + body)
    return root / "f0.yaml"


def test_include_chain_doubling_per_level(tmp_path: Path) -> None:
    error = refused(write_chain(tmp_path, MAX_INCLUDE_DEPTH - 1, 2), LimitError)
    (diagnostic,) = error.diagnostics
    assert diagnostic.message.startswith(
        f"the spec expands to more than {MAX_VALUES:,} values through includes "
        f"({tmp_path / 'f0.yaml'} -> {tmp_path / 'f1.yaml'} -> "
    )
    assert diagnostic.location is not None and diagnostic.location.file.endswith(".yaml")
    included_from = [n for n in diagnostic.location.notes if n.endswith("included from here")]
    # a file included again is a copy of its first load: refused at the include site that
    # would copy past the budget, with a note at each include site above it
    assert included_from
    assert included_from[-1].startswith(f"{tmp_path / 'f0.yaml'}:4:")


def test_deep_include_chain_reports_the_real_cause(tmp_path: Path) -> None:
    error = refused(write_chain(tmp_path, 300, 1), LimitError)
    chain = " -> ".join(str(tmp_path / f"f{i}.yaml") for i in range(MAX_INCLUDE_DEPTH + 1))
    assert only(error).startswith(
        f"{tmp_path / f'f{MAX_INCLUDE_DEPTH - 1}.yaml'}:4:28: error: includes nested more than "
        f"{MAX_INCLUDE_DEPTH} files deep: {chain}\n"
    )
    assert "nested too deeply" not in str(error)


# Aliases, nesting, sizes ------------------------------------------------------------------------


def test_alias_budget_counts_bytes() -> None:
    text = HEAD + "x: &s " + "a" * 1_000_000 + "\nl: [" + ", ".join(["*s"] * 100) + "]\n"
    assert only(refused(text, LimitError)) == (
        f"<string>:3:4: error: the spec expands to more than {MAX_BYTES // 2**20} MiB of text "
        "through YAML aliases (an alias bomb?); write the values out or expand less"
    )


def test_10mb_string_aliased_1000_times(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(
        HEAD + "x: &s " + "a" * 10_000_000 + "\nl: [" + ", ".join(["*s"] * 1000) + "]\n"
    )
    assert only(refused(path, LimitError)) == (
        f"error: {path}: file is larger than {MAX_FILE_BYTES // 2**20} MiB; a spec is read whole"
    )


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH + 1, 450, 5_000])
def test_yaml_nesting_is_refused_where_it_gets_too_deep(depth: int) -> None:
    text = HEAD + "layers: [{type: Dense, units: 2}]\nextra: " + "[" * depth + "]" * depth + "\n"
    # the 101st level opens at column 8 + 100 of line 4 (`extra` is level 1)
    assert only(refused(text, LimitError)) == (
        f"<string>:4:{8 + MAX_NESTING_DEPTH - 1}: error: YAML nested too deeply "
        f"(more than {MAX_NESTING_DEPTH} levels)"
    )


@pytest.mark.parametrize("depth", [450, 100_000])
def test_json_nesting_is_located(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"kspec": 1, "x": ' + "[" * depth + "]" * depth + "}")
    message = only(refused(path, LimitError))
    assert message == (
        f"{path}:1:{18 + MAX_NESTING_DEPTH}: error: YAML nested too deeply "
        f"(more than {MAX_NESTING_DEPTH} levels)"
    )


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_5000_digit_integers(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"big{suffix}"
    path.write_text(
        '{"kspec": 1, "inputs": {"x": [4]}, "layers": [{"type": "Dense", "units": '
        + "9" * 5000
        + "}]}"
    )
    assert only(refused(path, LimitError)) == (
        f"{path}:1:74: error: integer with 5,000 digits is too large; integers must fit in 64 bits"
    )


BIG = "9223372036854775808"


@pytest.mark.parametrize(
    ("text", "where", "number"),
    [
        (f"kspec: 1\ninputs: {{x: [{BIG}]}}\nlayers: [{{type: Flatten}}]\n", "2:13", BIG),
        (HEAD + f"layers: [{{type: Dense, units: {BIG}}}]\n", "3:31", BIG),
        (HEAD + f"layers: [{{type: Dropout, rate: 0.5, seed: -{BIG}1}}]\n", "3:43", f"-{BIG}1"),
    ],
)
def test_integers_beyond_int64_are_located(text: str, where: str, number: str) -> None:
    assert only(refused(text)) == (
        f"<string>:{where}: error: integer {number} does not fit in 64 bits "
        "(the range is -2**63 to 2**63 - 1)"
    )


# Odd files --------------------------------------------------------------------------------------


def test_non_utf8_bytes_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(HEAD.encode() + b"layers:\n  - {type: Dense, units: 2}\n# caf\xe9\n")
    assert only(refused(path)) == (
        f"{path}:5:6: error: file is not UTF-8 text (invalid continuation byte: byte 0xe9)"
    )


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda tmp: Path("/dev/zero"), "a character device"),
        (lambda tmp: Path("/dev/urandom"), "a character device"),
        (lambda tmp: (os.mkfifo(tmp / "f.yaml"), tmp / "f.yaml")[1], "a FIFO"),
        (lambda tmp: tmp, "a directory"),
    ],
    ids=["dev-zero", "dev-urandom", "fifo", "directory"],
)
def test_special_files_are_refused_by_type(
    tmp_path: Path, make: Callable[[Path], Path], kind: str
) -> None:
    path = make(tmp_path)
    assert only(refused(path)) == (
        f"error: {path}: cannot read a spec from {kind}; give a .yaml or .json file"
    )


def test_include_of_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "top.yaml").write_text(HEAD + "layers:\n  - {type: Model, include: pipe.yaml}\n")
    message = str(refused(tmp_path / "top.yaml"))
    assert "cannot read a spec from a FIFO" in message


def test_file_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(HEAD + "#" * MAX_FILE_BYTES)
    assert "file is larger than 4 MiB" in only(refused(path, LimitError))
