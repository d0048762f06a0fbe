"""Installing kspec is quiet: setuptools reads our pyproject.toml without a deprecation box."""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_setuptools_reads_pyproject_without_warnings() -> None:
    """What `pip install -e .` prints as a `!!` box (a TOML-table `project.license`, ...)."""
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert [str(w.message).splitlines()[0] for w in caught] == []


def test_license_is_an_spdx_string_setuptools_understands() -> None:
    """PEP 639: a plain SPDX `license` needs setuptools >= 77 to build."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    requires = pyproject["build-system"]["requires"]
    assert "setuptools>=77" in requires


def test_readme_says_how_long_the_test_suite_takes() -> None:
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("make test "))
    assert re.search(r"\d+(-\d+)? min", line), line
