"""The on-disk protocol of a kspec checkpoint: versioned, atomically committed, verified.

A checkpoint directory holds immutable versions and one pointer naming the current one:

    CURRENT          {"version": "v-<hex>", "kspec.json": <sha256 of that version's kspec.json>}
    v-<hex>/         kspec.json ({..., "files": {relative path: sha256}}) and the payload

A save writes a new version under a temporary name (`.tmp-<hex>`), records the sha256 of every
payload file in its `kspec.json`, renames it to `v-<hex>` and then replaces `CURRENT` with
`os.replace`, the one atomic step: before it the old version is current, after it the new one,
and at no moment is there none. Debris of a killed save (a `.tmp-*`, a `CURRENT.tmp-*`, a version
that lost its pointer) is removed by the next save before it writes. A load follows `CURRENT`
and verifies the chain of digests (the pointer covers `kspec.json`, which covers each payload
file) before anything reads the payload, so a changed, truncated, added or swapped file, a
`../` entry or a symlink out of the checkpoint is a `CheckpointError`.

JAX-free (stdlib only): what `kspec.runtime.checkpoint` stores inside a version is its business.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from kspec.errors import CheckpointError

CURRENT = "CURRENT"
METADATA = "kspec.json"
SEAL = "kspec-digests.json"
MAX_METADATA_BYTES = 64 * 2**20
"""`kspec.json` holds the canonical spec: far below this; a bigger file is refused unread."""
_CHUNK = 2**20
_VERSION = re.compile(r"v-[0-9a-f]{8,32}")
_DEBRIS = re.compile(
    rf"(\.tmp-[0-9a-f]{{8,32}}|{CURRENT}\.tmp-[0-9a-f]{{8,32}}|{_VERSION.pattern})"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_checkpoint(directory: Path) -> bool:
    """Whether `directory` looks like a kspec checkpoint (it has a `CURRENT` pointer)."""
    return (directory / CURRENT).is_file()


def file_sha256(path: Path) -> str:
    """sha256 of a file read in 1 MiB chunks (a checkpoint may be far bigger than memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def prepare(target: Path, token: str, clean: bool = True) -> Path:
    """Check `target` can hold a checkpoint, remove a killed save's debris (when `clean`: one
    process of several does it) and return the empty staging directory for this save."""
    if target.is_symlink():
        raise CheckpointError(f"{target}: is a symbolic link; save to a real directory")
    if target.exists() and not target.is_dir():
        raise CheckpointError(f"{target}: exists and is not a directory; not replacing it")
    # one process of several checks and cleans: the others may see its save under way
    if clean and target.is_dir() and not is_checkpoint(target) and _foreign_entries(target):
        raise CheckpointError(
            f"{target}: a non-empty directory that is not a kspec checkpoint; not writing into it"
        )
    _guarded(lambda: target.mkdir(parents=True, exist_ok=True), target)
    if clean:
        remove_debris(target)
    staging = target / f".tmp-{token}"
    _guarded(lambda: staging.mkdir(exist_ok=True), target)
    return staging


def _foreign_entries(target: Path) -> list[str]:
    return [e.name for e in target.iterdir() if not _DEBRIS.fullmatch(e.name)]


def remove_debris(target: Path) -> None:
    """Delete every kspec-made entry of `target` but `CURRENT` and the version it names."""
    keep = _current_version(target)
    for entry in target.iterdir():
        if entry.name == keep or not _DEBRIS.fullmatch(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def commit(staging: Path, target: Path, metadata: dict[str, Any], token: str) -> Path:
    """Record the payload's digests in `kspec.json`, make `staging` version `v-<token>` and
    point `CURRENT` at it; then drop the version it replaced. Returns the new version."""
    metadata = {**metadata, "files": _payload_digests(staging)}
    text = json.dumps(metadata, indent=2).encode()
    version = target / f"v-{token}"

    def publish() -> None:
        _write_synced(staging / METADATA, text)
        os.replace(staging, version)
        pointer = {"version": version.name, METADATA: hashlib.sha256(text).hexdigest()}
        pending = target / f"{CURRENT}.tmp-{token}"
        _write_synced(pending, json.dumps(pointer).encode())
        os.replace(pending, target / CURRENT)
        _sync_directory(target)

    try:
        _guarded(publish, target)
    except CheckpointError:
        shutil.rmtree(staging, ignore_errors=True)
        if _current_version(target) != version.name:
            shutil.rmtree(version, ignore_errors=True)
        raise
    remove_debris(target)
    return version


def open_current(directory: Path) -> tuple[Path, dict[str, Any]]:
    """The current version of a checkpoint and its verified `kspec.json` (every recorded
    payload file present, unchanged, inside the version, and nothing unrecorded beside it)."""
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory")
    pointer = _read_pointer(directory)
    name = pointer["version"]
    version = directory / name
    if version.is_symlink() or not version.is_dir():
        raise CheckpointError(f"{directory}: the checkpoint is incomplete: {name}/ is missing")
    text = _read_limited(version / METADATA, directory)
    if hashlib.sha256(text).hexdigest() != pointer[METADATA]:
        raise CheckpointError(
            f"{directory}: the checkpoint is damaged: {METADATA} changed after it was saved"
        )
    try:
        metadata = json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"{directory}: unreadable checkpoint metadata ({exc})") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{directory}: unreadable checkpoint metadata (not an object)")
    _verify_payload(directory, version, metadata.get("files"))
    return version, metadata


def _current_version(directory: Path) -> str | None:
    try:
        return _read_pointer(directory)["version"]
    except CheckpointError:
        return None


def _read_pointer(directory: Path) -> dict[str, str]:
    """`CURRENT` parsed and checked: a version name of ours and a sha256, nothing else."""
    path = directory / CURRENT
    if path.is_symlink() or not path.is_file():
        raise CheckpointError(f"{directory}: not a kspec checkpoint (no {CURRENT} pointer)")
    try:
        pointer = json.loads(_read_limited(path, directory, limit=4096))
    except ValueError:
        pointer = None
    if (
        not isinstance(pointer, dict)
        or not _VERSION.fullmatch(str(pointer.get("version")))
        or not _SHA256.fullmatch(str(pointer.get(METADATA)))
    ):
        raise CheckpointError(f"{directory}: the checkpoint's {CURRENT} pointer is damaged")
    return pointer


def _verify_payload(directory: Path, version: Path, files: Any) -> None:
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(v) for k, v in files.items()
    ):
        raise CheckpointError(
            f"{directory}: malformed checkpoint metadata: `files` must map relative paths "
            "to sha256 digests"
        )
    present = _payload_files(version, directory)
    for name, digest in files.items():
        _check_inside(directory, name)
        if name not in present:
            raise CheckpointError(f"{directory}: the checkpoint is incomplete: {name} is missing")
        if file_sha256(version / name) != digest:
            raise CheckpointError(
                f"{directory}: the checkpoint is damaged: {name} changed after it was saved"
            )
    unrecorded = sorted(set(present) - set(files))
    if unrecorded:
        raise CheckpointError(
            f"{directory}: the checkpoint is damaged: {unrecorded[0]} was added after it was saved"
        )


def _check_inside(directory: Path, name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or not path.parts:
        raise CheckpointError(
            f"{directory}: malformed checkpoint metadata: {name!r} is not a path inside "
            "the checkpoint"
        )


def seal(step: Path) -> None:
    """Record the sha256 of every file under `step` (an Orbax training step, already
    finalized) in its `kspec-digests.json`, written atomically: a step without one was not
    sealed (killed in between) and is not loaded."""
    files = {name: file_sha256(step / name) for name in sorted(_payload_files(step, step))}
    pending = step / f"{SEAL}.tmp-{new_token()}"
    _guarded(lambda: _write_synced(pending, json.dumps({"files": files}).encode()), step)
    os.replace(pending, step / SEAL)


def is_sealed(step: Path) -> bool:
    return (step / SEAL).is_file()


def verify_sealed(step: Path) -> None:
    """Check a sealed step against its digests, as `open_current` checks a version."""
    try:
        recorded = json.loads(_read_limited(step / SEAL, step))
    except ValueError:
        recorded = None
    files = recorded.get("files") if isinstance(recorded, dict) else None
    _verify_payload(step, step, files)


def _payload_files(version: Path, directory: Path) -> set[str]:
    """Every payload file of a version (relative POSIX paths); a symlink is refused."""
    found = set()
    for root, dirs, names in os.walk(version):
        for entry in [*dirs, *names]:
            if Path(root, entry).is_symlink():
                rel = Path(root, entry).relative_to(version).as_posix()
                raise CheckpointError(
                    f"{directory}: the checkpoint holds a symbolic link ({rel}); refusing it"
                )
        found |= {Path(root, n).relative_to(version).as_posix() for n in names}
    return {name for name in found if name not in (METADATA, SEAL)}


def _payload_digests(staging: Path) -> dict[str, str]:
    return {name: file_sha256(staging / name) for name in sorted(_payload_files(staging, staging))}


def _read_limited(path: Path, directory: Path, limit: int = MAX_METADATA_BYTES) -> bytes:
    if path.is_symlink() or not path.is_file():
        raise CheckpointError(f"{directory}: the checkpoint is incomplete: {path.name} is missing")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise CheckpointError(f"{directory}: cannot read {path.name} ({exc.strerror})") from None
    if len(data) > limit:
        raise CheckpointError(f"{directory}: {path.name} is over {limit} bytes; not reading it")
    return data


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_directory(directory: Path) -> None:
    """Make the renames inside `directory` durable (a no-op where directories cannot sync)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _guarded(step: Callable[[], None], target: Path) -> None:
    """Run a filesystem step; an OSError (disk full, permissions) becomes a CheckpointError."""
    try:
        step()
    except OSError as exc:
        hint = " (free some space and save again)" if exc.errno == errno.ENOSPC else ""
        raise CheckpointError(
            f"{target}: cannot write the checkpoint: {exc.strerror or exc}{hint}; "
            "the previous checkpoint is unchanged"
        ) from None


def new_token() -> str:
    """A random name part for one save."""
    return uuid.uuid4().hex[:16]
