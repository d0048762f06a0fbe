"""keras.applications models through `kspec.from_keras` from `.keras`, `.h5` and memory:
predict parity (float32, rtol 1e-4, atol 1e-5) with BatchNorm statistics randomised, and
`get_weights()` equal. The quick set runs always; one model of each family with
KSPEC_APPLICATIONS=1 (minutes each on CPU), every application with KSPEC_APPLICATIONS=all;
or `python -m bench.import_applications --families` / `--all`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.import_applications import check, every_name, names

CHOICE = os.environ.get("KSPEC_APPLICATIONS", "")
SELECTED = every_name() if CHOICE == "all" else names()


def test_quick_application(tmp_path: Path) -> None:
    """MobileNet (alpha 0.25, 32x32, with its classifier): every layer kind of the V1 family."""
    check("MobileNetTop", tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not CHOICE, reason="set KSPEC_APPLICATIONS=1 (families) or all")
@pytest.mark.parametrize("name", [n for n in SELECTED if n != "MobileNetTop"])
def test_every_application(tmp_path: Path, name: str) -> None:
    check(name, tmp_path)
