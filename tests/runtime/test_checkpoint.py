"""Orbax checkpoints: round trip, mismatched architectures, damage, atomic replacement."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.runtime import checkpoint_store as store

SPEC = {
    "kspec": 1,
    "name": "net",
    "inputs": {"x": [4]},
    "layers": [
        {"type": "Dense", "units": 8, "activation": "relu"},
        {"type": "Dense", "units": 2, "name": "head"},
    ],
}
OTHER = {
    "kspec": 1,
    "name": "other",
    "inputs": {"x": [4]},
    "layers": [
        {"type": "Dense", "units": 6, "activation": "relu"},
        {"type": "Dense", "units": 2, "name": "out"},
    ],
}


@pytest.fixture
def saved(tmp_path: Path) -> tuple[kspec.Model, Path]:
    model = kspec.load(SPEC)
    model.init(7)
    path = tmp_path / "ckpt"
    model.save_weights(path)
    return model, path


def test_round_trip(saved: tuple[kspec.Model, Path]) -> None:
    model, path = saved
    version = store.open_current(path)[0]
    assert sorted(p.name for p in path.iterdir()) == ["CURRENT", version.name]
    assert (version / "kspec.json").is_file() and (version / "variables").is_dir()
    metadata = json.loads((version / "kspec.json").read_text())
    assert metadata["format"] == 1 and metadata["spec"]["name"] == "net"
    fresh = kspec.load(SPEC)
    fresh.init(0)
    assert not np.allclose(fresh.get_weights()[0], model.get_weights()[0])
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(fresh.apply(fresh.variables, x), model.apply(model.variables, x))


def test_different_architecture_lists_every_difference(saved: tuple[kspec.Model, Path]) -> None:
    _, path = saved
    other = kspec.load(OTHER)
    before = other.get_weights()
    with pytest.raises(kspec.CheckpointError) as info:
        other.load_weights(path)
    message = str(info.value)
    assert f"{path}: the checkpoint does not fit this model:" in message
    assert "missing params/out/kernel (6, 2)" in message
    assert "missing params/out/bias (2,)" in message
    assert "unexpected params/head/kernel (8, 2)" in message
    assert "unexpected params/head/bias (2,)" in message
    assert "shape of params/dense/kernel: model (4, 6), checkpoint (4, 8)" in message
    assert "shape of params/dense/bias: model (6,), checkpoint (8,)" in message
    for a, b in zip(other.get_weights(), before, strict=True):  # the model is left untouched
        np.testing.assert_array_equal(a, b)


def test_missing_checkpoint(tmp_path: Path) -> None:
    model = kspec.load(SPEC)
    with pytest.raises(kspec.CheckpointError, match="no such checkpoint directory"):
        model.load_weights(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        kspec.CheckpointError, match=r"not a kspec checkpoint \(no CURRENT pointer\)"
    ):
        model.load_weights(tmp_path / "empty")


def _damage_files(path: Path, pattern: str, data: bytes | None) -> None:
    root = path if pattern == "CURRENT" else store.open_current(path)[0]
    files = [p for p in root.glob(pattern) if p.is_file()]
    assert files, pattern
    for p in files:
        if data is None:
            p.unlink()
        else:
            p.write_bytes(data)


@pytest.mark.parametrize(
    ("pattern", "data", "expected"),
    [
        ("CURRENT", None, "not a kspec checkpoint"),
        ("CURRENT", b"{not json", "the checkpoint's CURRENT pointer is damaged"),
        ("kspec.json", None, "incomplete: kspec.json is missing"),
        ("kspec.json", b"{not json", "damaged: kspec.json changed after it was saved"),
        ("variables/_METADATA", None, "incomplete: variables/_METADATA is missing"),
        ("variables/_METADATA", b"garbage", "damaged: variables/_METADATA changed after"),
        ("variables/manifest.ocdbt", None, "incomplete: variables/manifest.ocdbt is missing"),
        ("variables/manifest.ocdbt", b"garbage", "damaged: variables/manifest.ocdbt changed"),
        ("variables/**/d/*", b"x" * 7, "the checkpoint is damaged: variables/"),
    ],
)
def test_corrupt_checkpoint(
    saved: tuple[kspec.Model, Path], pattern: str, data: bytes | None, expected: str
) -> None:
    model, path = saved
    _damage_files(path, pattern, data)
    with pytest.raises(kspec.CheckpointError) as info:
        model.load_weights(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "tensorstore_spec" not in message and "\n" not in message  # short and clear


def test_variables_directory_deleted(saved: tuple[kspec.Model, Path]) -> None:
    model, path = saved
    shutil.rmtree(store.open_current(path)[0] / "variables")
    with pytest.raises(kspec.CheckpointError, match="the checkpoint is incomplete: variables/"):
        model.load_weights(path)


def test_save_over_existing_replaces_it(saved: tuple[kspec.Model, Path]) -> None:
    model, path = saved
    old = store.open_current(path)[0]
    model.set_weights([np.full_like(w, 3.0) for w in model.get_weights()])
    model.save_weights(path)
    new = store.open_current(path)[0]
    assert new != old and not old.exists()  # the replaced version is gone, no temp dirs left
    assert sorted(p.name for p in path.iterdir()) == ["CURRENT", new.name]
    fresh = kspec.load(SPEC)
    fresh.load_weights(path)
    assert all(np.all(w == 3.0) for w in fresh.get_weights())


def test_failed_save_keeps_the_old_checkpoint(saved: tuple[kspec.Model, Path]) -> None:
    model, path = saved
    before = sorted(p.name for p in path.iterdir())
    broken = {"params": {"dense": {"kernel": object()}}, "state": {}}
    model.variables = broken  # type: ignore[assignment]
    with pytest.raises(kspec.CheckpointError, match="cannot save params/dense/kernel"):
        model.save_weights(path)
    assert sorted(p.name for p in path.iterdir()) == before
    restored = kspec.load(SPEC)
    restored.load_weights(path)
