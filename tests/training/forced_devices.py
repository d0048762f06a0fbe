"""Run a script in a fresh process on N forced CPU devices (JAX fixes the device count when
it starts, so multi-device runs cannot share the test process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(script: Path, devices: int, out: Path, other: Path | None = None) -> None:
    """`python script DEVICES OUT [OTHER]` with `devices` CPU devices; fails with its stderr."""
    out.mkdir()
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    args = [sys.executable, str(script), str(devices), str(out), *([str(other)] if other else [])]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
