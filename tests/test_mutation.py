"""The `make mutate` driver itself (tests/mutation): a seeded sample is the same sample, a
mutant is undone byte for byte, and on a planted module a killable mutant is killed while an
equivalent one survives. Needs the `mutate` extra (mutmut); skipped without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("mutmut")

from tests.mutation.mutants import Mutant, Selection, applied, file_mutants, mutated_source, sample
from tests.mutation.runner import run_tests

MODULE = """\
_KERAS1 = {"p": "rate"}


def add(a, b):
    return a + b


def same(x):
    return x if x > 0 else x
"""

TEST = """\
from mod import add, same


def test_mod():
    assert add(1, 2) == 3
    assert same(5) == 5 and same(-1) == -1
"""


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # mutmut reads [tool.mutmut] from the working directory's pyproject
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["mod.py"]\n')
    (tmp_path / "mod.py").write_text(MODULE)
    (tmp_path / "test_mod.py").write_text(TEST)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one(mutants: list[Mutant], description: str) -> Mutant:
    (found,) = [m for m in mutants if m.description == description]
    return found


def test_a_seed_draws_the_same_sample(planted: Path) -> None:
    mutants = file_mutants(planted, "mod.py", Selection(("mod.py",)))
    assert len(mutants) > 4
    assert sample(mutants, 3, seed=7) == sample(mutants, 3, seed=7)
    assert {tuple(sample(mutants, 3, seed=s)) for s in range(8)} != {tuple(sample(mutants, 3, 7))}


def test_applied_restores_bytes_and_mtime_after_an_error(planted: Path) -> None:
    file = planted / "mod.py"
    os.utime(file, ns=(1_000_000_000, 1_000_000_000))
    before = file.read_bytes()
    with pytest.raises(KeyboardInterrupt), applied(file, "broken = (\n"):
        assert file.read_text() == "broken = (\n"
        raise KeyboardInterrupt
    assert file.read_bytes() == before
    assert file.stat().st_mtime_ns == 1_000_000_000


def test_a_killable_mutant_is_killed_and_an_equivalent_one_survives(planted: Path) -> None:
    selection = Selection(("mod.py",))
    mutants = file_mutants(planted, "mod.py", selection)
    for description, outcome in (("`a + b` -> `a - b`", "failed"), ("`> 0` -> `>= 0`", "passed")):
        mutant = _one(mutants, description)
        with applied(planted / "mod.py", mutated_source(planted, mutant, selection)):
            assert run_tests(["test_mod.py"], planted, timeout=120).status == outcome
    assert (planted / "mod.py").read_text() == MODULE


def test_only_the_alias_maps_of_a_restricted_file_are_mutated(planted: Path) -> None:
    selection = Selection(("mod.py",), ("mod.py",), r"^_KERAS1$")
    mutants = file_mutants(planted, "mod.py", selection)
    assert mutants and {m.line for m in mutants} == {1}
    assert {m.index for m in mutants} == set(range(len(mutants)))
    assert "XXrateXX" in mutated_source(
        planted, _one(mutants, '`"rate"` -> `"XXrateXX"`'), selection
    )
