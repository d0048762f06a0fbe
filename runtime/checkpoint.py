"""Variables on disk with Orbax, together with the spec they belong to.

Layout of a checkpoint directory:
    variables/   Orbax StandardCheckpointer tree {"params": ..., "state": ...}
    kspec.json   {"format": 1, "spec": <canonical spec>, "spec_sha256": ...,
                  "custom_layers": {type: plugin or module that registered it}}
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
from jax.experimental import multihost_utils

from kspec.compiler import Variables
from kspec.errors import CheckpointError
from kspec.runtime.model_paths import METADATA
from kspec.runtime.plugins import custom_types_in
from kspec.runtime.training.sharding import data_parallel
from kspec.schemas import ModelSpec
from kspec.schemas.canonical import to_data

CHECKPOINT_FORMAT = 1


def spec_digest(spec_data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec_data, sort_keys=True).encode()).hexdigest()


def save_variables(
    directory: str | os.PathLike[str], variables: Variables, spec: ModelSpec
) -> Path:
    """Atomically write `variables` and `spec` to `directory` (replacing what was there).

    On several hosts every process calls this with the same `directory` (on storage they
    share): Orbax writes the arrays together, then the primary process adds the metadata and
    renames the directory into place, and the others return once it is there."""
    target = Path(directory).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{_shared_token()}"
    primary = jax.process_index() == 0
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(staging / "variables", _storable(variables))
            checkpointer.wait_until_finished()
        if primary:
            _publish(staging, target, spec)
    finally:
        if primary and staging.exists():
            shutil.rmtree(staging)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"kspec save_variables {target}")
    return target


def _shared_token() -> str:
    """A random name part, the same in every process (process 0's)."""
    token = np.int32(uuid.uuid4().int % 2**31)
    if jax.process_count() > 1:
        token = multihost_utils.broadcast_one_to_all(token)
    return f"{int(token):08x}"


def _publish(staging: Path, target: Path, spec: ModelSpec) -> None:
    """Add the metadata to a written staging directory and rename it to `target`."""
    spec_data = to_data(spec)
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "spec": spec_data,
        "spec_sha256": spec_digest(spec_data),
        "custom_layers": custom_types_in(spec_data),
        "files": _file_digests(staging),
    }
    (staging / METADATA).write_text(json.dumps(metadata, indent=2))
    if target.exists():
        retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired)
    else:
        staging.rename(target)


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The `kspec.json` of a checkpoint: format version, spec and its hash."""
    path = Path(directory) / METADATA
    if not Path(directory).is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory")
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{directory}: not a kspec checkpoint (no {METADATA})") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint metadata ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != CHECKPOINT_FORMAT:
        found = metadata.get("format") if isinstance(metadata, dict) else metadata
        raise CheckpointError(f"{path}: unknown checkpoint format {found!r}")
    return metadata


def load_variables(directory: str | os.PathLike[str], expected: Variables) -> Variables:
    """Restore variables, checking the tree and every shape against `expected`."""
    restored = read_variables(directory)
    problems = _differences(expected, restored)
    if problems:
        raise CheckpointError(
            f"{directory}: the checkpoint does not fit this model:\n  " + "\n  ".join(problems)
        )
    return jax.tree.map(lambda e, r: jax.numpy.asarray(r, dtype=e.dtype), expected, restored)


def read_variables(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's variables tree as saved (file digests verified), unchecked."""
    metadata = read_metadata(directory)
    _verify_files(Path(directory), metadata.get("files", {}))
    path = Path(directory).absolute() / "variables"
    try:
        # Closed on every path: a checkpointer left open after a failed read prints asyncio
        # "Event loop is closed" tracebacks at exit.
        with ocp.StandardCheckpointer() as checkpointer:
            restored = checkpointer.restore(path, _replicated_target(checkpointer, path))
    except Exception as exc:  # Orbax and TensorStore raise many types for a damaged directory
        raise CheckpointError(
            f"{directory}: the checkpoint is damaged or incomplete; cannot read its variables "
            f"({type(exc).__name__}: {_brief(exc)})"
        ) from None
    if not isinstance(restored, dict):
        raise CheckpointError(f"{directory}: the checkpoint does not hold a variables tree")
    return {group: restored.get(group, {}) for group in ("params", "state")}


def _replicated_target(checkpointer: ocp.StandardCheckpointer, path: Path) -> Any:
    """The saved tree as arrays replicated over this process's devices: Orbax refuses to
    restore a layout saved on another device count without a target."""
    replicated = data_parallel().replicated
    return jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=replicated),
        checkpointer.metadata(path).item_metadata,
    )


def _file_digests(checkpoint: Path) -> dict[str, str]:
    """sha256 of every file Orbax wrote, so damage is found before Orbax reads anything."""
    root = checkpoint / "variables"
    return {
        str(p.relative_to(checkpoint)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _verify_files(checkpoint: Path, expected: dict[str, str]) -> None:
    """Raise `CheckpointError` naming the first missing or changed file."""
    for name, digest in expected.items():
        path = checkpoint / name
        if not path.is_file():
            raise CheckpointError(f"{checkpoint}: the checkpoint is incomplete: {name} is missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise CheckpointError(
                f"{checkpoint}: the checkpoint is damaged: {name} changed after it was saved"
            )


def _brief(exc: Exception, limit: int = 240) -> str:
    """The first line of an error, cut short: TensorStore appends its whole JSON spec."""
    text = str(exc).split("\n", 1)[0].split(" [tensorstore_spec=", 1)[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _storable(variables: Variables) -> dict[str, Any]:
    """The tree Orbax writes: numeric arrays only (checked before anything touches the disk),
    and no empty groups, which Orbax cannot store."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or dtype.kind not in "biufcV":  # V: ml_dtypes such as bfloat16
            name = "/".join(str(getattr(p, "key", p)) for p in path)
            raise CheckpointError(
                f"cannot save {name}: not a numeric array ({type(leaf).__name__})"
            )
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
