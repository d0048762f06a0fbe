"""pytest plugin for `make mutate`'s coverage pass (`-p tests.mutation.trace`): which test runs
which line of the mutated files, and which tests pass unmutated and how long each takes.

coverage.py records the lines with the test's node id as its dynamic context (what pytest-cov's
`--cov-context=test` does); each process, xdist workers included, writes its own data file
under `KSPEC_MUTATE_TRACE`. Every traced module is imported when the plugin starts, so the
lines run at import (and nowhere else) get the empty context, as do any others run outside a
test (collection). The controller writes `outcomes.json`: node id -> [passed, seconds].
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import coverage
import pytest

_OUT = os.environ.get("KSPEC_MUTATE_TRACE")
_COVERAGE: coverage.Coverage | None = None
_OUTCOMES: dict[str, list] = {}


def pytest_configure(config: pytest.Config) -> None:
    global _COVERAGE
    controller = config.getoption("numprocesses", None) and not hasattr(config, "workerinput")
    if not _OUT or controller:  # an xdist controller runs no test
        return
    _COVERAGE = coverage.Coverage(
        data_file=str(Path(_OUT) / ".coverage"),
        data_suffix=True,
        include=json.loads(os.environ["KSPEC_MUTATE_INCLUDE"]),
        config_file=False,
    )
    _COVERAGE.start()
    for path in json.loads(os.environ["KSPEC_MUTATE_INCLUDE"]):
        module = _module_of(Path(path))
        if module is not None:  # import now, outside any test: its import-time lines get ""
            importlib.import_module(module)


_ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = {"kspec": "kspec", "spec": "kspec.spec", "schemas": "kspec.schemas",
             "compiler": "kspec.compiler", "runtime": "kspec.runtime"}  # fmt: skip
"""pyproject's `package-dir`: each top-level folder and the package it installs as."""


def _module_of(path: Path) -> str | None:
    """The module a traced file installs as (None for a test file, which pytest imports).

    Imported lazily, a module would run its top level (lowering tables, the helpers that
    build them) inside whichever test imports it first, and coverage would credit that test
    alone with lines every test depends on."""
    folder, *rest = path.relative_to(_ROOT).with_suffix("").parts
    if folder not in _PACKAGES:
        return None
    parts = rest[:-1] if rest and rest[-1] == "__init__" else rest
    return ".".join([_PACKAGES[folder], *parts])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    if _COVERAGE is not None:
        _COVERAGE.switch_context(item.nodeid)
    yield
    if _COVERAGE is not None:
        _COVERAGE.switch_context("")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    passed, seconds = _OUTCOMES.get(report.nodeid, [True, 0.0])
    _OUTCOMES[report.nodeid] = [passed and report.passed, seconds + report.duration]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OUT and not hasattr(config, "workerinput"):  # the controller, or the only process
        (Path(_OUT) / "outcomes.json").write_text(json.dumps(_OUTCOMES))
    if _COVERAGE is not None:
        _COVERAGE.stop()
        with warnings.catch_warnings():  # a worker given no test of the files measured none
            warnings.simplefilter("ignore", coverage.CoverageWarning)
            _COVERAGE.save()
