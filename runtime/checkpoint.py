"""Variables on disk with Orbax, together with the spec they belong to.

Layout of a checkpoint directory:
    variables/   Orbax StandardCheckpointer tree {"params": ..., "state": ...}
    kspec.json   {"format": 1, "spec": <canonical spec>, "spec_sha256": ...}
A save is written to a temporary sibling and renamed into place, so an interrupted save never
leaves a half-written checkpoint where a good one was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from kspec.compiler import Variables
from kspec.errors import CheckpointError
from kspec.schemas import ModelSpec
from kspec.schemas.canonical import to_data

METADATA = "kspec.json"
CHECKPOINT_FORMAT = 1


def spec_digest(spec_data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec_data, sort_keys=True).encode()).hexdigest()


def save_variables(directory: str | os.PathLike[str], variables: Variables, spec: ModelSpec) -> Path:
    """Atomically write `variables` and `spec` to `directory` (replacing what was there)."""
    target = Path(directory).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        checkpointer = ocp.StandardCheckpointer()
        checkpointer.save(staging / "variables", _storable(variables))
        checkpointer.wait_until_finished()
        spec_data = to_data(spec)
        metadata = {"format": CHECKPOINT_FORMAT, "spec": spec_data, "spec_sha256": spec_digest(spec_data)}
        (staging / METADATA).write_text(json.dumps(metadata, indent=2))
        if target.exists():
            retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired)
        else:
            staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The `kspec.json` of a checkpoint: format version, spec and its hash."""
    path = Path(directory) / METADATA
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{directory}: not a kspec checkpoint (no {METADATA})") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint metadata ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {metadata.get('format') if isinstance(metadata, dict) else metadata!r}")
    return metadata


def load_variables(directory: str | os.PathLike[str], expected: Variables) -> Variables:
    """Restore variables, checking the tree and every shape against `expected`."""
    read_metadata(directory)
    path = Path(directory).absolute() / "variables"
    try:
        restored = ocp.StandardCheckpointer().restore(path)
    except Exception as exc:  # Orbax and TensorStore raise many types for a damaged directory
        raise CheckpointError(f"{directory}: cannot read the checkpoint ({type(exc).__name__}: {exc})") from None
    restored = {group: restored.get(group, {}) for group in ("params", "state")}
    problems = _differences(expected, restored)
    if problems:
        raise CheckpointError(
            f"{directory}: the checkpoint does not fit this model:\n  " + "\n  ".join(problems)
        )
    return jax.tree.map(lambda e, r: jax.numpy.asarray(r, dtype=e.dtype), expected, restored)


def _storable(variables: Variables) -> dict[str, Any]:
    """Orbax cannot store empty dicts; an empty group is written as absent."""
    return {group: tree for group, tree in variables.items() if tree}


def _flatten(tree: Any) -> dict[str, tuple[int, ...]]:
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        key = "/".join(str(getattr(p, "key", p)) for p in path)
        flat[key] = tuple(np.shape(leaf))
    return flat


def _differences(expected: Variables, restored: Any) -> list[str]:
    want, have = _flatten(expected), _flatten(restored)
    problems = [f"missing {k} {want[k]}" for k in want if k not in have]
    problems += [f"unexpected {k} {have[k]}" for k in have if k not in want]
    problems += [
        f"shape of {k}: model {want[k]}, checkpoint {have[k]}"
        for k in want
        if k in have and want[k] != have[k]
    ]
    return problems
