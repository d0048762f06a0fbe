"""Adversarial checkpoints: tampered, truncated, traversing, symlinked, killed mid-save, disk
full, saved onto the wrong thing. Each is one clear `CheckpointError` and loses nothing."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.runtime import checkpoint_store as store
from kspec.runtime.build import build
from tests.runtime.checkpoint_writer import payload

SPEC = {"kspec": 1, "name": "net", "inputs": {"x": [3]}, "layers": [{"type": "Dense", "units": 2}]}


@pytest.fixture
def saved(tmp_path: Path) -> tuple[kspec.Model, Path]:
    model = kspec.load(SPEC)
    model.init(3)
    path = tmp_path / "ckpt"
    model.save_weights(path)
    return model, path


def _rewrite_metadata(path: Path, edit: object) -> None:
    """Change the current `kspec.json` and re-sign the pointer: a consistent forgery, so the
    check under test is the one that must catch it."""
    version = store.open_current(path)[0]
    metadata = json.loads((version / "kspec.json").read_text())
    edit(metadata)  # type: ignore[operator]
    text = json.dumps(metadata).encode()
    (version / "kspec.json").write_bytes(text)
    pointer = {"version": version.name, "kspec.json": hashlib.sha256(text).hexdigest()}
    (path / "CURRENT").write_text(json.dumps(pointer))


def _load_error(path: Path) -> str:
    with pytest.raises(kspec.CheckpointError) as info:
        kspec.load(SPEC).load_weights(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def _a_data_file(path: Path) -> Path:
    version = store.open_current(path)[0]
    return max((p for p in (version / "variables").rglob("*") if p.is_file()), key=os.path.getsize)


def test_truncated_data_file(saved: tuple[kspec.Model, Path]) -> None:
    _, path = saved
    data = _a_data_file(path)
    rel = data.relative_to(store.open_current(path)[0]).as_posix()
    data.write_bytes(data.read_bytes()[:-1])
    assert f"damaged: {rel} changed after it was saved" in _load_error(path)


def test_added_file_is_refused(saved: tuple[kspec.Model, Path]) -> None:
    _, path = saved
    (store.open_current(path)[0] / "variables" / "extra").write_bytes(b"x")
    assert "damaged: variables/extra was added after it was saved" in _load_error(path)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["not", "a", "map"], "malformed checkpoint metadata: `files` must map relative paths"),
        ({"variables/x": "abc"}, "malformed checkpoint metadata: `files` must map"),
        ({"../outside": "0" * 64}, "malformed checkpoint metadata: '../outside' is not a path"),
        ({"/etc/passwd": "0" * 64}, "malformed checkpoint metadata: '/etc/passwd' is not a path"),
    ],
    ids=["list", "bad_digest", "traversal", "absolute"],
)
def test_malformed_or_traversing_files_map(
    saved: tuple[kspec.Model, Path], files: object, expected: str
) -> None:
    _, path = saved
    _rewrite_metadata(path, lambda m: m.__setitem__("files", files))
    assert expected in _load_error(path)


def test_symlink_out_of_the_checkpoint(saved: tuple[kspec.Model, Path], tmp_path: Path) -> None:
    _, path = saved
    data = _a_data_file(path)
    outside = tmp_path / "outside"
    outside.write_bytes(data.read_bytes())  # same bytes: only the link itself is wrong
    data.unlink()
    data.symlink_to(outside)
    assert "the checkpoint holds a symbolic link" in _load_error(path)


def test_symlinked_pointer_or_version(saved: tuple[kspec.Model, Path], tmp_path: Path) -> None:
    _, path = saved
    version = store.open_current(path)[0]
    moved = tmp_path / "elsewhere"
    version.rename(moved)
    version.symlink_to(moved)
    assert "incomplete: v-" in _load_error(path)
    version.unlink()
    moved.rename(version)
    (tmp_path / "pointer").write_bytes((path / "CURRENT").read_bytes())
    (path / "CURRENT").unlink()
    (path / "CURRENT").symlink_to(tmp_path / "pointer")
    assert "not a kspec checkpoint (no CURRENT pointer)" in _load_error(path)


def test_pointer_naming_another_directory(saved: tuple[kspec.Model, Path]) -> None:
    _, path = saved
    pointer = json.loads((path / "CURRENT").read_text())
    for version in ("../ckpt", "v-00000000"):
        (path / "CURRENT").write_text(json.dumps({**pointer, "version": version}))
        message = _load_error(path)
        assert ("pointer is damaged" in message) or ("v-00000000/ is missing" in message)


def test_huge_metadata_is_not_read(saved: tuple[kspec.Model, Path]) -> None:
    _, path = saved
    with open(store.open_current(path)[0] / "kspec.json", "r+b") as f:
        f.truncate(store.MAX_METADATA_BYTES + 1)  # sparse: costs no disk
    assert "kspec.json is over" in _load_error(path)


def test_cli_run_directory_loader_verifies_digests(saved: tuple[kspec.Model, Path]) -> None:
    """`load_model` (what every CLI command uses) reads `RUN/model`: an edited spec there is
    refused."""
    from kspec.runtime.model_dir import load_model

    _, path = saved
    run = path.parent / "run"
    run.mkdir()
    path.rename(run / "model")
    _rewrite_metadata(run / "model", lambda m: m["spec"]["layers"][0].__setitem__("units", 5))
    with pytest.raises(kspec.CheckpointError, match="does not match its sha256"):
        load_model(run)


def test_saving_onto_a_symlink_or_a_file(saved: tuple[kspec.Model, Path], tmp_path: Path) -> None:
    model, path = saved
    link = tmp_path / "link"
    link.symlink_to(path)
    before = sorted(p.name for p in path.iterdir())
    with pytest.raises(kspec.CheckpointError, match="link: is a symbolic link; save to a real"):
        model.save_weights(link)
    assert sorted(p.name for p in path.iterdir()) == before
    file = tmp_path / "file"
    file.write_text("mine")
    with pytest.raises(kspec.CheckpointError, match="file: exists and is not a directory"):
        model.save_weights(file)
    assert file.read_text() == "mine"
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(kspec.CheckpointError, match="non-empty directory that is not a kspec"):
        model.save_weights(tmp_path / "home")
    assert os.listdir(tmp_path / "home") == ["notes.txt"]


def test_disk_full_keeps_the_previous_checkpoint(
    saved: tuple[kspec.Model, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, path = saved
    before = sorted(p.name for p in path.iterdir())
    expected = model.get_weights()

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store, "_write_synced", full)
    model.set_weights([w + 1 for w in expected])
    with pytest.raises(kspec.CheckpointError) as info:
        model.save_weights(path)
    assert str(info.value) == (
        f"error: {path}: cannot write the checkpoint: No space left on device (free some space "
        "and save again); the previous checkpoint is unchanged"
    )
    assert sorted(p.name for p in path.iterdir()) == before  # no debris either
    monkeypatch.undo()
    restored = kspec.load(SPEC)
    restored.load_weights(path)
    for a, b in zip(restored.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_crash_between_version_and_pointer(
    saved: tuple[kspec.Model, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the new version is renamed in but before CURRENT moves: the old version is
    still the one loaded; the next save removes the orphan."""
    model, path = saved
    expected = model.get_weights()
    real = os.replace

    def crash_on_pointer(src: object, dst: object) -> None:
        if str(dst).endswith("CURRENT"):
            raise KeyboardInterrupt  # not an OSError: nothing cleans up, as after a kill
        real(src, dst)

    monkeypatch.setattr(store.os, "replace", crash_on_pointer)
    model.set_weights([w + 1 for w in expected])
    with pytest.raises(KeyboardInterrupt):
        model.save_weights(path)
    monkeypatch.undo()
    assert len([p for p in path.iterdir() if p.name.startswith("v-")]) == 2
    restored = kspec.load(SPEC)
    restored.load_weights(path)
    np.testing.assert_array_equal(restored.get_weights()[0], expected[0])
    model.save_weights(path)
    assert sorted(p.name for p in path.iterdir()) == ["CURRENT", store.open_current(path)[0].name]
    restored.load_weights(path)
    np.testing.assert_array_equal(restored.get_weights()[0], expected[0] + 1)


def test_debris_of_killed_saves_is_removed(saved: tuple[kspec.Model, Path]) -> None:
    model, path = saved
    (path / ".tmp-0123456789abcdef" / "variables").mkdir(parents=True)
    (path / "v-fedcba9876543210").mkdir()
    (path / "CURRENT.tmp-0123456789abcdef").write_text("{")
    (path / "mine.txt").write_text("not ours: kept")
    model.save_weights(path)
    version = store.open_current(path)[0].name
    assert sorted(p.name for p in path.iterdir()) == ["CURRENT", "mine.txt", version]


def test_a_model_without_weights_saves_builds_and_loads(tmp_path: Path) -> None:
    spec = {"kspec": 1, "name": "flat", "inputs": {"x": [2, 3]}, "layers": [{"type": "Flatten"}]}
    model = kspec.load(spec)
    model.save_weights(tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    loaded = kspec.load_checkpoint(tmp_path / "ckpt")
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    np.testing.assert_array_equal(loaded.predict(x), x.reshape(2, 6))
    (tmp_path / "flat.yaml").write_text(json.dumps(spec))
    result = build(tmp_path / "flat.yaml", tmp_path / "out")
    assert "Total params: 0" in result.summary_text
    assert not [p for p in (tmp_path / "out").rglob("*") if ".tmp-" in p.name]
    kspec.load_checkpoint(result.checkpoint)


def test_kill_9_loop_always_leaves_the_last_committed_checkpoint(tmp_path: Path) -> None:
    """>= 20 SIGKILLs at random moments of a save loop (real protocol, JAX-free child)."""
    target, rng, n, kills = tmp_path / "ckpt", random.Random(18), 0, 0
    child = [sys.executable, "-m", "tests.runtime.checkpoint_writer", str(target)]
    root = Path(__file__).parents[2]
    while kills < 20:
        lines: list[str] = []
        with subprocess.Popen([*child, str(n)], stdout=subprocess.PIPE, text=True, cwd=root) as p:
            reader = threading.Thread(target=lines.extend, args=(p.stdout,), daemon=True)
            reader.start()
            deadline = time.monotonic() + 30
            while "ready\n" not in lines and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.25))
            p.kill()
            reader.join(5)
        kills += 1
        committed = [int(line) for line in lines[1:] if line.strip().isdigit()]
        last = committed[-1] if committed else n - 1
        if last < 0 and not store.is_checkpoint(target):
            continue  # killed before the very first commit: nothing to lose yet
        version, metadata = store.open_current(target)  # verifies every digest
        assert metadata["n"] in (last, last + 1)  # killed after the commit, before the print
        for name, data in payload(metadata["n"]).items():
            assert (version / name).read_bytes() == data
        strays = [p for p in target.iterdir() if p.is_dir() and p != version]
        assert len(strays) <= 1, strays
        n = metadata["n"] + 1
    assert n >= 10  # the loop really saved, between kills


def test_model_directory_optimizer_state_is_verified(tmp_path: Path) -> None:
    """`model.save` writes the optimizer state through the same protocol: replaced
    atomically, its digests checked by `load_model`."""
    from kspec.runtime.model_dir import load_model

    model = kspec.load({**SPEC, "compile": {"optimizer": "adam", "loss": "mse"}})
    model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    model.save(tmp_path / "m")
    model.save(tmp_path / "m")  # replaced: one version left
    optimizer = tmp_path / "m" / "optimizer"
    assert sorted(p.name for p in optimizer.iterdir()) == [
        "CURRENT",
        store.open_current(optimizer)[0].name,
    ]
    assert load_model(tmp_path / "m").iterations == 1
    data = max((p for p in optimizer.rglob("*") if p.is_file()), key=os.path.getsize)
    data.write_bytes(data.read_bytes()[:-1])
    with pytest.raises(kspec.CheckpointError, match="optimizer: the checkpoint is damaged"):
        load_model(tmp_path / "m")
