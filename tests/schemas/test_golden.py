"""Golden diagnostics: each bad spec in `tests/golden/*.yaml` gives exactly the text in its sibling
`*.expected` file, as `str(SpecError)` prints it, paths relative to the repo root.

To regenerate after a deliberate message change (then read every diff by eye):

    KSPEC_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden.py
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

import kspec

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(GOLDEN.glob("*.yaml"))
REGENERATE = os.environ.get("KSPEC_REGENERATE_GOLDEN") == "1"

ONE_ERROR = ["typo_unitz", "bad_value_units", "unknown_layer", "reshape_cannot_fit", "dense_rank1"]
"""The mistakes the issue names: each must be exactly one clear, located diagnostic."""


def diagnose(path: Path) -> str:
    """What `kspec validate` reports for `path`, given relative to the repo root."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kspec.KspecDeprecationWarning)
        try:
            kspec.validate(str(path.relative_to(ROOT)))
        except kspec.SpecError as exc:
            return str(exc) + "\n"
    return "no error\n"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_diagnostic(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    actual = diagnose(path)
    expected_file = path.with_suffix(".expected")
    if REGENERATE:
        expected_file.write_text(actual)
    assert expected_file.exists(), f"missing {expected_file.name}; regenerate and review it"
    assert actual == expected_file.read_text()


@pytest.mark.parametrize("stem", ONE_ERROR)
def test_common_mistakes_give_one_located_error(stem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    (line,) = diagnose(GOLDEN / f"{stem}.yaml").splitlines()
    assert line.startswith(f"tests/golden/{stem}.yaml:")
    assert ": error: node '" in line


def test_every_golden_file_has_an_expected_file() -> None:
    stems = {p.stem for p in CASES}
    assert {p.stem for p in GOLDEN.glob("*.expected")} == stems
    assert set(ONE_ERROR) <= stems
