"""`kspec export MODEL_DIR|SPEC -o OUT`: a trained (or freshly initialized) model as a
StableHLO artifact that loads with `jax` alone (see docs/export.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kspec.errors import ExportError
from kspec.runtime.model_paths import MANIFEST, METADATA, locate

if TYPE_CHECKING:
    from kspec.runtime.model import Model


def load_source(path: Path, seed: int) -> tuple[Model, str]:
    """The model at `path` and where its weights come from. A directory is a model directory
    (docs/model-directory.md), a `kspec fit --out` run or a checkpoint itself; a file is a
    spec, initialized with `seed`. Paths are checked before JAX is imported."""
    checkpoint = _checkpoint_in(path)
    if checkpoint is not None:
        from kspec.runtime.config import load_checkpoint

        return load_checkpoint(checkpoint), f"weights from {checkpoint}"
    from kspec.runtime.api import load

    model = load(path)
    model.init(seed)
    return model, f"fresh weights (seed {seed}): {path} is a spec, not a trained model"


def _checkpoint_in(path: Path) -> Path | None:
    """The checkpoint a model directory holds; None for a file (a spec)."""
    if not path.exists():
        raise ExportError(f"{path}: no such file or directory")
    if not path.is_dir():
        return None
    located = locate(path)
    if located is not None:
        return located.checkpoint
    raise ExportError(
        f"{path}: not a kspec model directory (expected a model directory, with {MANIFEST}; "
        f"a `kspec fit --out` run, with model/; or a checkpoint, with {METADATA})"
    )


def run_export(args: argparse.Namespace, out: Any) -> None:
    model, origin = load_source(Path(args.source), args.seed)
    from kspec.runtime.export import export

    out.print(f"{model.name}: {origin}", highlight=False)
    platforms = [p.strip() for p in args.platforms.split(",")] if args.platforms else None
    result = export(
        model,
        args.output,
        platforms=platforms,
        bake_weights=args.bake_weights,
        training=args.training,
        mlir=args.mlir,
        verify=not args.no_verify,
        batch_size=args.batch_size,
    )
    for platform, reason in result.failed_platforms.items():
        out.print(f"not exported for {platform}: {reason}", highlight=False, markup=False)
    for name, size in result.files.items():
        out.print(f"{result.directory / name}  {size:,} bytes", highlight=False)
    verified = "not verified" if args.no_verify else f"verified in {result.verify_seconds:.2f}s"
    out.print(
        f"exported for {', '.join(result.platforms)} in {result.export_seconds:.2f}s; {verified}",
        highlight=False,
    )


def add_command(sub: Any, checked: Callable[[Callable[[], None]], int]) -> None:
    """Register `export` on the CLI's subparsers; `checked(fn)` prints kspec errors."""
    e = sub.add_parser("export", help="write a StableHLO artifact (jax.export) of a model")
    e.add_argument("source", metavar="MODEL_DIR|SPEC", help="build/fit output, or a spec file")
    e.add_argument("-o", "--output", required=True, metavar="OUT", help="output directory")
    e.add_argument(
        "--platforms",
        metavar="LIST",
        help="comma-separated, of cpu,cuda,rocm,tpu (default: this one plus those that lower)",
    )
    e.add_argument("--bake-weights", action="store_true", help="weights as constants")
    e.add_argument("--training", action="store_true", help="train-mode apply: rng in, state out")
    e.add_argument("--mlir", action="store_true", help="also write the StableHLO text")
    e.add_argument("--no-verify", action="store_true", help="skip running it against predict")
    e.add_argument(
        "--batch-size", type=int, metavar="N", help="fix the batch size (default: symbolic)"
    )
    e.add_argument("--seed", type=int, default=0, help="init seed for a spec file (default 0)")
    e.set_defaults(run=lambda args, out, err: checked(lambda: run_export(args, out)))
