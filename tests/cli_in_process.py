"""The `kspec` CLI called in-process (`cli.main`), for tests of what a command prints and
returns. A subprocess costs a Python + JAX start (~4 s of CPU) per call; the entry point
itself is tested by tests/runtime/test_cli.py's subprocess runs."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from kspec.runtime.cli import main


@dataclass(frozen=True)
class Result:
    """What a `kspec` call returned and printed (the fields of `subprocess.CompletedProcess`)."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, path: str | None = None) -> Result:
    """`kspec ARGS` with 200 columns (no wrapping); `path` replaces PATH (tools it finds)."""
    out, err = io.StringIO(), io.StringIO()
    settings = {"COLUMNS": "200", **({"PATH": path} if path is not None else {})}
    with (
        mock.patch.dict(os.environ, settings),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue(), err.getvalue())
