"""Variables on disk with Orbax, together with the spec they belong to.

A checkpoint is a directory of versions behind an atomically replaced `CURRENT` pointer
(`checkpoint_store.py`; docs/checkpoints.md). Each version holds:
    variables/   Orbax StandardCheckpointer tree {"params": ..., "state": ...} (absent when the
                 model has no variables: `Flatten` alone)
    kspec.json   {"format": 1, "spec": <canonical spec>, "spec_sha256": ...,
                  "custom_layers": {type: plugin or module that registered it},
                  "files": {path: sha256 of every file under variables/}}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from kspec.compiler import Variables
from kspec.errors import CheckpointError
from kspec.runtime import checkpoint_store as store
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
    """Write `variables` and `spec` as the new current version of the checkpoint `directory`
    (the previous version stays current until the new one is complete).

    On several hosts every process calls this with the same `directory` (on storage they
    share): Orbax writes the arrays together, then the primary process commits the version,
    and the others return once it has."""
    target = Path(directory).absolute()
    storable = _storable(variables)  # refused before anything touches the disk
    token = _shared_token()
    primary = jax.process_index() == 0
    staging = store.prepare(target, token, clean=primary)
    try:
        if storable:
            _write_orbax(staging / "variables", storable, target)
        if primary:
            store.commit(staging, target, _metadata(spec), token)
    finally:
        if primary and staging.exists():
            store.remove_debris(target)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"kspec save_variables {target}")
    return target


def _write_orbax(path: Path, tree: dict[str, Any], target: Path) -> None:
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(path, tree)
            checkpointer.wait_until_finished()
    except OSError as exc:  # disk full, permissions: the previous version stays current
        raise CheckpointError(
            f"{target}: cannot write the checkpoint: {exc.strerror or exc}; "
            "the previous checkpoint is unchanged"
        ) from None


def _shared_token() -> str:
    """A random name part, the same in every process (process 0's). Broadcast as two uint32
    words: without `jax_enable_x64` a 64-bit integer arrives cut to a signed 32-bit one, whose
    sign would make a version name no load accepts."""
    token = store.new_token()
    if jax.process_count() > 1:
        words = np.frombuffer(bytes.fromhex(token[:16]), dtype=np.uint32)
        shared = multihost_utils.broadcast_one_to_all(words)
        token = np.asarray(shared, dtype=np.uint32).tobytes().hex()
    return token


def _metadata(spec: ModelSpec) -> dict[str, Any]:
    spec_data = to_data(spec)
    return {
        "format": CHECKPOINT_FORMAT,
        "spec": spec_data,
        "spec_sha256": spec_digest(spec_data),
        "custom_layers": custom_types_in(spec_data),
    }


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The verified `kspec.json` of a checkpoint's current version: format, spec (checked
    against its sha256) and the digests of its files."""
    return _open(directory)[1]


def _open(directory: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    version, metadata = store.open_current(Path(directory))
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{directory}: unknown checkpoint format {metadata.get('format')!r}")
    spec_data = metadata.get("spec")
    if not isinstance(spec_data, dict) or spec_digest(spec_data) != metadata.get("spec_sha256"):
        raise CheckpointError(
            f"{directory}: the spec in kspec.json does not match its sha256; the checkpoint "
            "metadata was changed after it was saved"
        )
    return version, metadata


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
    version, metadata = _open(directory)
    if not metadata["files"]:
        return {"params": {}, "state": {}}
    path = (version / "variables").absolute()  # Orbax reads absolute paths only
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


def _brief(exc: Exception, limit: int = 240) -> str:
    """The first line of an error, cut short: TensorStore appends its whole JSON spec."""
    text = str(exc).split("\n", 1)[0].split(" [tensorstore_spec=", 1)[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _storable(variables: Variables) -> dict[str, Any]:
    """The tree Orbax writes: numeric arrays only (checked before anything touches the disk),
    and no empty groups, which Orbax cannot store ("Found empty item"); nothing at all for a
    model without variables."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or dtype.kind not in "biufcV":  # V: ml_dtypes such as bfloat16
            name = "/".join(str(getattr(p, "key", p)) for p in path)
            raise CheckpointError(
                f"cannot save {name}: not a numeric array ({type(leaf).__name__})"
            )
    if not jax.tree.leaves(variables):
        return {}
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
