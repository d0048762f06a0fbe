"""`ModelCheckpoint` steps are sealed with the sha256 of their files: `restore_latest` (what
`kspec fit --resume` runs) verifies the newest sealed step and skips one a kill left unsealed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.runtime import checkpoint_store as store
from kspec.runtime.training.checkpoints import ModelCheckpoint, restore_latest

SPEC = {
    "kspec": 1,
    "inputs": {"x": [3]},
    "layers": [{"type": "Dense", "units": 2}],
    "compile": {"optimizer": "sgd", "loss": "mse"},
}


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, list[list[np.ndarray]]]:
    """Three epochs checkpointed; the weights after each epoch."""
    model = kspec.load(SPEC)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)
    weights = []
    for epoch in range(3):
        model.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, verbose=0, shuffle=False,
                  callbacks=[ModelCheckpoint(tmp_path / "ckpt", max_to_keep=3)])  # fmt: skip
        weights.append(model.get_weights())
    return tmp_path / "ckpt", weights


def _restored(path: Path) -> tuple[int | None, list[np.ndarray]]:
    model = kspec.load(SPEC)
    model._ready([])
    return restore_latest(model, path), model.get_weights()


def test_sealed_steps_resume_and_an_unsealed_one_is_skipped(
    run: tuple[Path, list[list[np.ndarray]]],
) -> None:
    path, weights = run
    assert all(store.is_sealed(path / str(step)) for step in range(3))
    epoch, restored = _restored(path)
    assert epoch == 2
    np.testing.assert_array_equal(restored[0], weights[2][0])
    (path / "2" / store.SEAL).unlink()  # killed after Orbax finalized, before the seal
    epoch, restored = _restored(path)
    assert epoch == 1
    np.testing.assert_array_equal(restored[0], weights[1][0])
    checkpoint = ModelCheckpoint(path)
    checkpoint.manager()  # the next run removes the unsealed step, to save it again
    checkpoint.close()
    assert sorted(p.name for p in path.iterdir() if p.name.isdigit()) == ["0", "1"]


def test_a_tampered_step_is_refused(run: tuple[Path, list[list[np.ndarray]]]) -> None:
    path, _ = run
    data = max((p for p in (path / "2").rglob("*") if p.is_file() and p.name != store.SEAL),
               key=lambda p: p.stat().st_size)  # fmt: skip
    data.write_bytes(data.read_bytes()[:-1])
    with pytest.raises(kspec.CheckpointError, match=r"/2: the checkpoint is damaged: .* changed"):
        _restored(path)
