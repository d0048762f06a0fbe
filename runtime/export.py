"""StableHLO export: a model -> a serialized `jax.export.Exported` that runs without kspec.

An export directory holds:
    model.jax        `Exported.serialize()`: StableHLO, shapes, calling convention, platforms
    model.mlir       the StableHLO text (only with `mlir=True`)
    signature.json   names, dtypes and shapes (symbolic dimensions as names) of the inputs,
                     outputs and weights; spec sha256, versions, platforms (`signature.py`)
    weights.npz      one array per weight, named `params/dense/kernel` (not with baked weights)
    checkpoint/      the same weights as a kspec Orbax checkpoint (not with baked weights)

The exported function takes and returns dicts, so callers match arrays by name, never by
position: `f(weights, inputs) -> outputs` for inference, `f(weights, inputs, rng) ->
(outputs, state)` for training (`rng`: a raw `uint32[2]` key; `state`: the layers' updated
state, named like the weights). With baked weights the `weights` argument is left out. The
directory is written to a staging sibling, verified there and only then renamed into place.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from jax import export as jax_export

from kspec.errors import ExportError
from kspec.runtime.checkpoint import save_variables
from kspec.runtime.export_shapes import ArgSpecs, arg_specs, weight_names
from kspec.runtime.export_verify import verify_export
from kspec.runtime.signature import SIGNATURE, signature, write_signature

if TYPE_CHECKING:
    from kspec.runtime.model import Model

CANDIDATE_PLATFORMS = ("cpu", "cuda", "tpu")
"""Tried by default, besides the current backend; each is kept if it lowers here."""
KNOWN_PLATFORMS = ("cpu", "cuda", "rocm", "tpu")
ARTIFACT, MLIR, WEIGHTS, CHECKPOINT = "model.jax", "model.mlir", "weights.npz", "checkpoint"
RNG = jax.ShapeDtypeStruct((2,), np.uint32)


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote and how long it took (export = trace, lower, serialize)."""

    directory: Path
    platforms: tuple[str, ...]
    failed_platforms: dict[str, str]
    export_seconds: float
    verify_seconds: float
    files: dict[str, int]
    """Each written file's (or folder's) size in bytes, by name."""


def export(
    model: Model,
    out_dir: str | os.PathLike[str],
    *,
    platforms: Sequence[str] | None = None,
    bake_weights: bool = False,
    training: bool = False,
    mlir: bool = False,
    verify: bool = True,
    batch_size: int | None = None,
) -> ExportResult:
    """Export `model` (with its current variables) to `out_dir` as a StableHLO artifact.

    The batch dimension is symbolic (`b`) unless `batch_size` or the spec fixes it; each `null`
    dimension of an input gets its own symbol (`s1`, `s2`, ...). `platforms` defaults to the
    current backend plus every one of cpu, cuda and tpu that lowers here. With `verify`, the
    written artifact is read back and run at two batch sizes (and two lengths for `null`
    dimensions) against `predict` (with `training`: the train-mode apply); a mismatch raises
    `kspec.ExportError` and leaves nothing at `out_dir`.
    """
    target = _target(Path(out_dir))
    variables = model.variables
    names, treedef = weight_names(variables)
    flat = dict(zip(names, jax.tree.leaves(variables), strict=True))
    fn = _function(model, treedef, names, training, variables if bake_weights else None)
    started = time.perf_counter()
    exported, failed, specs = _lower_model(
        model, fn, flat, training, bake_weights, batch_size, platforms
    )
    blob = exported.serialize()
    export_seconds = time.perf_counter() - started
    meta = {"training": training, "weights_baked": bake_weights, "failed": failed}

    def write(directory: Path) -> None:
        _write(directory, blob, exported, mlir, None if bake_weights else (flat, model))
        write_signature(directory, signature(model, exported, specs, flat, meta))

    def check(directory: Path) -> None:
        verify_export(directory, model, specs, training)

    verify_seconds = _staged(target, write, check if verify else None)
    files = {p.name: _size(p) for p in sorted(target.iterdir())}
    return ExportResult(target, exported.platforms, failed, export_seconds, verify_seconds, files)


def _staged(
    target: Path, write: Callable[[Path], None], check: Callable[[Path], None] | None
) -> float:
    """Write into a staging sibling of `target`, check it there, then rename it into place
    (replacing an earlier export); nothing is left behind on failure. Returns the check's
    seconds."""
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir(parents=True)
        write(staging)
        started = time.perf_counter()
        if check is not None:
            check(staging)
        seconds = time.perf_counter() - started
        _publish(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return seconds


def _lower_model(
    model: Model,
    fn: Callable[..., Any],
    flat: dict[str, Any],
    training: bool,
    baked: bool,
    batch_size: int | None,
    platforms: Sequence[str] | None,
) -> tuple[jax_export.Exported, dict[str, str], ArgSpecs]:
    """Lower with one symbol per `null` dimension; if that fails and there are several, with
    one symbol per axis shared by the inputs (layers that need equal lengths). The first
    failure is the one reported."""
    request = _requested(platforms)
    specs = arg_specs(model.compiled, batch_size)
    try:
        return (*lower(fn, _abstract_args(specs, flat, training, baked), request), specs)
    except ExportError as exc:
        if len(specs.lengths) < 2:
            raise
        first = exc
    shared = arg_specs(model.compiled, batch_size, shared=True)
    try:
        return (*lower(fn, _abstract_args(shared, flat, training, baked), request), shared)
    except ExportError:
        raise first from None


def _function(
    model: Model, treedef: Any, names: list[str], training: bool, baked: Any | None
) -> Callable[..., Any]:
    """The function to export: dicts by name in and out (see the module docstring)."""
    outputs = [str(ref) for ref in model.compiled.graph.outputs]

    def run(variables: Any, inputs: dict[str, Any], rng: Any) -> Any:
        ys, aux = model.compiled.apply(variables, inputs, training=training, rng=rng)
        named = dict(zip(outputs, ys, strict=True))
        if not training:
            return named
        state = {"state": aux.state}
        return named, dict(zip(weight_names(state)[0], jax.tree.leaves(state), strict=True))

    def unflatten(weights: dict[str, Any]) -> Any:
        return jax.tree.unflatten(treedef, [weights[n] for n in names])

    if baked is not None:
        if training:
            return jax.jit(lambda inputs, rng: run(baked, inputs, rng))
        return jax.jit(lambda inputs: run(baked, inputs, None))
    if training:
        return jax.jit(lambda weights, inputs, rng: run(unflatten(weights), inputs, rng))
    return jax.jit(lambda weights, inputs: run(unflatten(weights), inputs, None))


def _abstract_args(
    specs: ArgSpecs, flat: dict[str, Any], training: bool, baked: bool
) -> tuple[Any, ...]:
    weights = {n: jax.ShapeDtypeStruct(np.shape(v), v.dtype) for n, v in flat.items()}
    args: tuple[Any, ...] = () if baked else (weights,)
    return (*args, specs.inputs, RNG) if training else (*args, specs.inputs)


def _requested(platforms: Sequence[str] | None) -> tuple[list[str], bool]:
    """The platforms to lower for, and whether the user named them (then all must lower)."""
    if platforms is None:
        current = jax_export.default_export_platform()
        return [current, *(p for p in CANDIDATE_PLATFORMS if p != current)], False
    unknown = [p for p in platforms if p not in KNOWN_PLATFORMS]
    if unknown or not platforms:
        raise ExportError(
            f"unknown platform(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(KNOWN_PLATFORMS)}"
        )
    return list(dict.fromkeys(platforms)), True


def lower(
    fn: Callable[..., Any], args: tuple[Any, ...], request: tuple[list[str], bool]
) -> tuple[jax_export.Exported, dict[str, str]]:
    """Export for all requested platforms at once; if that fails, find which lower alone and
    keep those (named platforms must all lower). Returns the export and the failures."""
    platforms, named = request
    try:
        return jax_export.export(fn, platforms=platforms)(*args), {}
    except Exception as exc:  # JAX raises many types while tracing and lowering
        if len(platforms) == 1:
            raise ExportError(f"cannot export for {platforms[0]}: {_brief(exc)}") from None
    failed: dict[str, str] = {}
    for platform in platforms:
        try:
            jax_export.export(fn, platforms=[platform])(*args)
        except Exception as exc:
            failed[platform] = _brief(exc)
    kept = [p for p in platforms if p not in failed]
    if not kept or (named and failed):
        reasons = "; ".join(f"{p}: {why}" for p, why in failed.items())
        raise ExportError(f"cannot export for {', '.join(failed)}: {reasons}")
    return jax_export.export(fn, platforms=kept)(*args), failed


def _brief(exc: Exception, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _write(
    directory: Path,
    blob: bytearray,
    exported: jax_export.Exported,
    mlir: bool,
    weights: tuple[dict[str, Any], Model] | None,
) -> None:
    (directory / ARTIFACT).write_bytes(bytes(blob))
    if mlir:
        (directory / MLIR).write_text(exported.mlir_module())
    if weights is not None:
        flat, model = weights
        np.savez(directory / WEIGHTS, **{n: np.asarray(v) for n, v in flat.items()})
        save_variables(directory / CHECKPOINT, model.variables, model.spec)


def _target(path: Path) -> Path:
    """The absolute output directory; refuse to replace anything but an earlier export."""
    path = path.absolute()
    if path.exists() and not path.is_dir():
        raise ExportError(f"{path}: exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not (path / SIGNATURE).is_file():
        raise ExportError(
            f"{path}: the directory is not empty and holds no earlier export "
            f"(no {SIGNATURE}); choose a new or empty directory"
        )
    return path


def _publish(staging: Path, target: Path) -> None:
    """Rename the verified staging directory to `target`, replacing an earlier export."""
    if target.exists():
        retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired)
    else:
        staging.rename(target)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
