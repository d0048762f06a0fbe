"""`kspec fit` SIGKILLed around a checkpoint save, then `--resume`d: training continues from the
last complete checkpoint and ends with the weights of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import kspec

pytestmark = pytest.mark.slow  # subprocesses or whole training runs: `make test` only

KSPEC = Path(sys.executable).parent / "kspec"
EPOCHS = 40
SPEC = """\
kspec: 1
inputs: {x: [16]}
layers:
  - {type: Dense, units: 32, activation: relu}
  - {type: Dropout, rate: 0.2}
  - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: adam, learning_rate: 0.01}
  loss: categorical_crossentropy
"""


def _fit(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    args = ["fit", tmp_path / "m.yaml", "--data", tmp_path / "d.npz", "--epochs", str(EPOCHS),
            "--out", tmp_path / "run", "--verbose", "0", *extra]  # fmt: skip
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(
        [str(KSPEC), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _kill_around_a_save(process: subprocess.Popen[str], checkpoints: Path) -> str:
    """SIGKILL as soon as a save is in flight (an Orbax tmp folder), or right after the third
    complete one; returns which."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        names = [p.name for p in checkpoints.iterdir()] if checkpoints.is_dir() else []
        partial = [n for n in names if "tmp" in n]
        complete = [n for n in names if n.isdigit()]
        if (partial and complete) or len(complete) >= 3:
            process.send_signal(signal.SIGKILL)
            process.communicate()  # reap it and close its pipes
            return "during a save" if partial else "after a save"
        time.sleep(0.001)
    raise AssertionError(f"the run ended before it could be killed: {process.communicate()}")


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 16)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 600)]
    (tmp_path / "m.yaml").write_text(SPEC)
    np.savez(tmp_path / "d.npz", x=x, dense_1=y)

    killed = _fit(tmp_path)
    when = _kill_around_a_save(killed, tmp_path / "run" / "checkpoints")
    assert killed.returncode == -signal.SIGKILL
    # a save cut short as the kill would leave it: the resume must skip it
    (tmp_path / "run" / "checkpoints" / f"{EPOCHS - 1}.orbax-checkpoint-tmp-1").mkdir()
    resumed = _fit(tmp_path, "--resume")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    first_line = stdout.splitlines()[0]
    assert first_line.startswith("resuming after epoch "), stdout
    assert int(first_line.split()[3]) < EPOCHS, when

    model = kspec.load(tmp_path / "m.yaml")
    model.init(0)
    model.fit(x, y, epochs=EPOCHS, verbose=0)
    trained = kspec.load_model(tmp_path / "run")
    for ours, uninterrupted in zip(trained.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, uninterrupted, atol=1e-6)
