"""`kspec fit / evaluate / predict`, run in a subprocess as a user runs them."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kspec

pytestmark = pytest.mark.slow  # subprocesses or whole training runs: `make test` only

KSPEC = Path(sys.executable).parent / "kspec"
SPEC = """\
kspec: 1
inputs: {x: [4]}
layers:
  - {type: Dense, units: 8, activation: relu}
  - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: adam, learning_rate: 0.01}
  loss: categorical_crossentropy
  metrics: [accuracy]
"""


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [str(KSPEC), *map(str, args)], capture_output=True, text=True, env=env, timeout=120
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_fit_resume_evaluate_predict(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 40)]
    (tmp_path / "m.yaml").write_text(SPEC)
    np.savez(tmp_path / "d.npz", x=x, dense_1=y)
    np.save(tmp_path / "x.npy", x)
    first = run("fit", tmp_path / "m.yaml", "--data", tmp_path / "d.npz", "--epochs", "2",
                "--out", tmp_path / "run")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[1].startswith("Epoch 2/2 - ")
    resumed = run("fit", tmp_path / "m.yaml", "--data", tmp_path / "d.npz", "--epochs", "3",
                  "--out", tmp_path / "run", "--resume")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("resuming after epoch 2 (step 4)\nEpoch 3/3 - ")
    with open(tmp_path / "run" / "history.csv") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["0", "1", "2"]
    # the same three epochs in one process give the same weights
    model = kspec.load(tmp_path / "m.yaml")
    model.init(0)
    model.fit(x, y, epochs=3, verbose=0)
    evaluated = run("evaluate", tmp_path / "run", "--data", tmp_path / "d.npz")
    loss, accuracy = model.evaluate(x, y)
    assert evaluated.stdout == f"loss: {loss:.4f} - accuracy: {accuracy:.4f}\n"
    predicted = run(
        "predict", tmp_path / "run", "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy"
    )
    assert predicted.returncode == 0, predicted.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x), atol=1e-5)
    bad = run("fit", tmp_path / "m.yaml", "--data", tmp_path / "x.npy", "--out", tmp_path / "r2")
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"error: {tmp_path / 'x.npy'}: expected an .npz file")
