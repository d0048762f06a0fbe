"""The digits demo (`make digits`), shortened, run in a subprocess as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses or whole training runs: `make test` only

pytest.importorskip("sklearn")  # in the `test` and `examples` extras

ROOT = Path(__file__).resolve().parents[2]


def test_digits_demo_learns() -> None:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "examples.digits", "--epochs", "3", "--verbose", "0"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digits: 1437 train / 360 test images, 3 epochs, ")
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)\n$", result.stdout).group(1))
    assert accuracy > 0.8  # chance is 0.1; 30 epochs (the default) reach about 0.98
