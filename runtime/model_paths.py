"""Where a model's files are, from any path a user gives (JAX-free, so a wrong path is
reported before anything heavy is imported).

A model directory (docs/model-directory.md) is named by its manifest; a `kspec fit` run
directory holds one as `model/`; a checkpoint (`save_weights`) is named by its `kspec.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kspec.errors import CheckpointError

MANIFEST = "kspec-model.json"
FORMAT = 1
SPEC, CHECKPOINT, OPTIMIZER = "spec.yaml", "checkpoint", "optimizer"
RUN_MODEL = "model"
"""A `kspec fit` run directory keeps its final model directory under this name."""
METADATA = "kspec.json"
"""A checkpoint's metadata file (`checkpoint.py`)."""


def is_model_directory(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def find_model_directory(path: Path) -> Path | None:
    """`path` itself, or the final model of a `kspec fit` run directory."""
    for candidate in (path, path / RUN_MODEL):
        if is_model_directory(candidate):
            return candidate
    return None


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable model directory manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise CheckpointError(f"{path}: unknown model directory format {found!r}")
    return manifest


@dataclass(frozen=True)
class Located:
    """The checkpoint a directory holds, and the model directory around it (None for a bare
    checkpoint: no compile recipe or optimizer state come with it)."""

    checkpoint: Path
    model_directory: Path | None = None
    manifest: dict[str, Any] | None = None


def locate(path: Path) -> Located | None:
    """A model directory, a fit run directory, or a checkpoint, in that order; also the
    layouts earlier kspec versions wrote (`build -o`: `checkpoint/`; a run: `model/` as a
    checkpoint). None when `path` holds none of them."""
    found = find_model_directory(path)
    if found is not None:
        manifest = read_manifest(found)
        return Located(found / manifest["checkpoint"], found, manifest)
    for candidate in (path, path / CHECKPOINT, path / RUN_MODEL):
        if (candidate / METADATA).is_file():
            return Located(candidate)
    return None
