"""Reading a Keras 3 `.keras` archive (a zip of `config.json`, `metadata.json`,
`model.weights.h5`, optional `assets/`) without trusting it.

Nothing is extracted to disk. Member names must be plain relative paths (no `..`, no absolute
or drive paths, no backslashes), members are decompressed in chunks and stop at a byte cap
whatever size the zip directory claims (zip bombs), and the archive may hold only so many
members.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kspec.errors import KerasImportError

MAX_MEMBERS = 10_000
"""Most members one archive may list."""
MAX_JSON_BYTES = 64 * 2**20
"""Largest `config.json` / `metadata.json`, decompressed."""
CHUNK = 2**20

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"


@dataclass(frozen=True)
class KerasArchive:
    """The parts of a `.keras` file that an import reads; the weights stay compressed until
    the model's size (and so the cap on them) is known."""

    path: Path
    config: dict[str, Any]
    metadata: dict[str, Any]

    @property
    def keras_version(self) -> str:
        return str(self.metadata.get("keras_version", "3"))

    def weights(self, limit: int) -> bytes:
        """`model.weights.h5`, decompressed to at most `limit` bytes."""
        with _open(self.path) as archive:
            if WEIGHTS not in archive.namelist():
                raise KerasImportError(f"{self.path}: the archive has no {WEIGHTS}")
            return _read(archive, WEIGHTS, limit, self.path)


def read_archive(path: Path) -> KerasArchive:
    """The config and metadata of a `.keras` archive, its member names checked."""
    with _open(path) as archive:
        names = archive.namelist()
        if len(names) > MAX_MEMBERS:
            raise KerasImportError(f"{path}: the archive lists {len(names):,} members; refused")
        for name in names:
            _check_name(name, path)
        if CONFIG not in names:
            raise KerasImportError(f"{path}: not a Keras archive (no {CONFIG} in the zip)")
        config = _json(archive, CONFIG, path)
        metadata = _json(archive, METADATA, path) if METADATA in names else {}
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise KerasImportError(f"{path}: {CONFIG} and {METADATA} must hold JSON objects")
    return KerasArchive(path, config, metadata)


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise KerasImportError(
            f"{path}: not a readable zip archive (truncated or corrupt?): {exc}"
        ) from None


def _check_name(name: str, path: Path) -> None:
    parts = PurePosixPath(name).parts
    if (
        "\\" in name
        or name.startswith("/")
        or ".." in parts
        or (parts and ":" in parts[0])
        or "\x00" in name
    ):
        raise KerasImportError(f"{path}: archive member {name!r} is not a plain relative path")


def _read(archive: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    """One member's bytes, refused once more than `limit` come out (the declared size is
    checked first, then the real one as it is decompressed)."""
    info = archive.getinfo(name)
    too_big = f"{path}: {name} decompresses to more than {limit:,} bytes; refused"
    if info.file_size > limit:
        raise KerasImportError(too_big)
    chunks, total = [], 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                if total > limit:
                    raise KerasImportError(too_big)
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise KerasImportError(f"{path}: {name} is damaged in the archive: {exc}") from None
    return b"".join(chunks)


def _json(archive: zipfile.ZipFile, name: str, path: Path) -> Any:
    text = _read(archive, name, MAX_JSON_BYTES, path)
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KerasImportError(f"{path}: {name} is not valid JSON: {exc}") from None
