"""The `kspec` CLI called in-process (`cli.main`), for tests of what a command prints and
returns. A subprocess costs a Python + JAX start (~4 s of CPU) per call; the entry point
itself is tested by tests/runtime/test_cli.py's subprocess runs."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kspec.runtime.cli import main


@dataclass(frozen=True)
class Result:
    """What a `kspec` call returned and printed (the fields of `subprocess.CompletedProcess`)."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value


def run_cli(*args: str | Path, path: str | None = None) -> Result:
    """`kspec ARGS` with 200 columns (no wrapping); `path` replaces PATH (tools it finds)."""
    out, err = io.StringIO(), io.StringIO()
    settings = {"COLUMNS": "200", **({"PATH": path} if path is not None else {})}
    with _environ(**settings), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue(), err.getvalue())
