"""keras.applications models through `kspec.from_keras` from `.keras`, `.h5` and memory:
predict parity (float32, rtol 1e-4, atol 1e-5) with BatchNorm statistics randomised, and
`get_weights()` equal. The quick set runs always; every other model runs with
KSPEC_APPLICATIONS=1 (minutes each on CPU) or as `python -m bench.import_applications --all`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.import_applications import check, names

FULL = os.environ.get("KSPEC_APPLICATIONS") == "1"


def test_quick_application(tmp_path: Path) -> None:
    """MobileNet (alpha 0.25, 32x32, with its classifier): every layer kind of the V1 family."""
    check("MobileNetTop", tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="set KSPEC_APPLICATIONS=1 to run every application")
@pytest.mark.parametrize("name", [n for n in names() if n != "MobileNetTop"])
def test_every_application(tmp_path: Path, name: str) -> None:
    check(name, tmp_path)
