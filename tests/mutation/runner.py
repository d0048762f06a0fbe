"""Running pytest for `make mutate`: the coverage pass over the quick subset, and one mutant's
tests in a child process with a timeout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import coverage

# Stale bytecode and shared state must not leak from one mutant's run into the next: no .pyc
# written for a mutated file, pytest's cache off, hypothesis' example database in a fresh
# directory per run (a failing example saved under one mutant would be replayed under others).
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def child_env(storage: str) -> dict[str, str]:
    return os.environ | {"PYTHONDONTWRITEBYTECODE": "1", "HYPOTHESIS_STORAGE_DIRECTORY": storage}


@dataclass(frozen=True)
class Result:
    status: str  # passed | failed | timeout | error (no test collected)
    seconds: float
    output: str


def run_pytest(args: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None):
    """pytest in its own process group (xdist workers included), killed whole on timeout."""
    with tempfile.TemporaryDirectory(prefix="kspec-mutate-") as storage:
        start = time.monotonic()
        child = subprocess.Popen(
            [*PYTEST, *args],
            cwd=cwd,
            env=child_env(storage) | (env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            output, _ = child.communicate()
            return Result("timeout", time.monotonic() - start, output)
        except BaseException:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
    seconds = time.monotonic() - start
    status = {0: "passed", 5: "error"}.get(child.returncode, "failed")
    return Result(status, seconds, output)


def run_tests(tests: list[str], cwd: Path, timeout: float, workers: int = 0) -> Result:
    """The given tests, stopping at the first failure (a mutant needs one to be killed)."""
    return run_pytest(["-x", "-n", str(workers), *tests], cwd, timeout)


@dataclass(frozen=True)
class CoverageMap:
    """For each mutated file, line -> the passing quick tests that run it ("" for a line run
    outside any test: at import or collection), and each test's seconds."""

    lines: dict[str, dict[int, list[str]]]
    seconds: dict[str, float]

    def tests_on(self, path: str, lines: range) -> set[str]:
        at = self.lines.get(path, {})
        return {t for line in lines for t in at.get(line, ()) if t}

    def runs_only_at_import(self, path: str, line: int) -> bool:
        """Whether `line` runs outside any test only: at import (a function that builds a
        module-level table), so no test's coverage says which tests depend on it."""
        return self.lines.get(path, {}).get(line) == [""]

    def tests_in_file(self, path: str) -> set[str]:
        return {t for tests in self.lines.get(path, {}).values() for t in tests if t}

    def to_json(self) -> dict:
        return {"lines": self.lines, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: dict) -> CoverageMap:
        lines = {p: {int(k): v for k, v in at.items()} for p, at in data["lines"].items()}
        return cls(lines, data["seconds"])


def trace_subset(
    root: Path, marker: str, files: list[str], workers: int, out: Path, timeout: float
) -> CoverageMap:
    """Run the runner subset (`-m marker`) once under coverage with per-test contexts; the raw
    data stays in `out` (emptied first)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {
        "KSPEC_MUTATE_TRACE": str(out),
        "KSPEC_MUTATE_INCLUDE": json.dumps([str(root / f) for f in files]),
    }
    args = ["-m", marker, "-n", str(workers), "-p", "tests.mutation.trace"]
    result = run_pytest(args, root, timeout, env)
    if result.status != "passed":
        sys.stdout.write(result.output[-5000:])
        print(
            f"note: `-m {marker}` did not pass unmutated ({result.status}); "
            "its failing tests are left out of every mutant's selection"
        )
    return read_trace(root, out)


def read_trace(root: Path, out: Path) -> CoverageMap:
    """The map from a coverage pass's data files and outcomes."""
    outcomes = json.loads((out / "outcomes.json").read_text())
    combined = coverage.Coverage(data_file=str(out / ".coverage"), config_file=False)
    combined.combine([str(out)], keep=True)
    data = combined.get_data()
    passed = {t for t, (ok, _) in outcomes.items() if ok}
    lines: dict[str, dict[int, list[str]]] = defaultdict(dict)
    for measured in data.measured_files():
        path = Path(measured).resolve().relative_to(root.resolve()).as_posix()
        for line, contexts in data.contexts_by_lineno(measured).items():
            kept = sorted(c for c in contexts if c == "" or c in passed)
            if kept:
                lines[path][line] = kept
    return CoverageMap(dict(lines), {t: outcomes[t][1] for t in passed})
