"""What a Keras source is: a `.keras` archive, an HDF5 file, JSON architecture text or file,
or an in-memory `keras.Model`; told apart by content (magic bytes), not by file name."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kspec.errors import KerasImportError
from kspec.spec.limits import MAX_FILE_BYTES

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
JSON_LIMIT = 16 * MAX_FILE_BYTES
"""Largest JSON architecture file read (Keras configs are verbose: NASNet's is ~3 MB)."""


@dataclass(frozen=True)
class KerasSource:
    kind: str
    """`keras` (archive), `h5`, `json` or `live`."""
    label: str
    path: Path | None = None
    config: Any = None
    model: Any = None


def classify(src: Any) -> KerasSource:
    """The kind of `src`: a path (str or PathLike), JSON text, or a live Keras model."""
    if hasattr(src, "get_config") and hasattr(src, "get_weights") and hasattr(src, "layers"):
        return KerasSource("live", f"<keras.Model '{getattr(src, 'name', '?')}'>", model=src)
    if isinstance(src, str) and src.lstrip()[:1] in ("{", "["):
        return KerasSource("json", "<json>", config=_parse(src, "<json>"))
    if not isinstance(src, str | os.PathLike):
        raise KerasImportError(
            f"cannot import a {type(src).__name__}: give a path to a .keras, .h5 or .json file, "
            "JSON text, or a keras.Model"
        )
    path = Path(src)
    label = str(path)
    if not path.is_file():
        raise KerasImportError(f"{label}: no such file")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(ZIP_MAGIC):
        return KerasSource("keras", label, path=path)
    if _is_hdf5(path, head):
        return KerasSource("h5", label, path=path)
    if path.stat().st_size > JSON_LIMIT:
        raise KerasImportError(f"{label}: over {JSON_LIMIT // 2**20} MiB; not a Keras JSON file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KerasImportError(
            f"{label}: not a Keras file (neither a .keras zip, an HDF5 file nor JSON text)"
        ) from None
    return KerasSource("json", label, path=path, config=_parse(text, label))


def _is_hdf5(path: Path, head: bytes) -> bool:
    """HDF5's signature is at byte 0, or at 512, 1024, ... after a user block."""
    if head == HDF5_MAGIC:
        return True
    with path.open("rb") as handle:
        offset = 512
        while offset < min(path.stat().st_size, 2**20):
            handle.seek(offset)
            if handle.read(8) == HDF5_MAGIC:
                return True
            offset *= 2
    return False


def _parse(text: str, label: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise KerasImportError(f"{label}: not a Keras file: invalid JSON ({exc})") from None
