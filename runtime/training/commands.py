"""The training commands of the CLI: `kspec fit`, `kspec evaluate`, `kspec predict`.

Each takes a MODEL: a model directory, a fit run directory, a checkpoint, or a spec file
(with `--weights`). A run directory holds `model/` (the final model directory, optimizer state
included: docs/model-directory.md), `checkpoints/` (ModelCheckpoint: full training state per
epoch, last 3 kept) and `history.csv`.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from kspec.errors import DataError, printable
from kspec.runtime.arguments import positive_int, seed


def _model(args: argparse.Namespace, training: bool = False) -> Any:
    """The MODEL argument's model. evaluate and predict refuse a spec without `--weights`:
    its random weights would give plausible-looking, meaningless numbers."""
    from kspec.runtime.model_dir import load_model

    if not training and args.weights is None and Path(args.model).is_file():
        raise DataError(
            f"{args.model} is a spec file, without trained weights; give a model directory "
            "(kspec build -o, kspec fit --out), or the spec with --weights DIR"
        )
    return load_model(args.model, args.weights, seed=getattr(args, "seed", 0), optimizer=training)


RUN_ENTRIES = ("model", "checkpoints", "history.csv")
"""What `kspec fit` writes into its run directory (and `--overwrite` removes)."""


def _prepare_run(run: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix a new run into an old one: a non-empty directory needs `--resume`
    (continue it) or `--overwrite` (start again)."""
    if resume and overwrite:
        raise DataError("--resume and --overwrite exclude each other")
    if not run.is_dir() or not any(run.iterdir()) or resume:
        return
    if not overwrite:
        raise DataError(
            f"{run}: the run directory is not empty (an earlier run?); pass --resume to "
            "continue it or --overwrite to start again"
        )
    for name in RUN_ENTRIES:
        entry = run / name
        if entry.is_dir():
            shutil.rmtree(entry)
        elif entry.exists():
            entry.unlink()


def _check_resumable(model: Any, run: Path) -> None:
    """`--resume` continues only the run of this same spec."""
    from kspec.runtime.checkpoint import read_metadata, spec_digest
    from kspec.runtime.model_dir import spec_with_recipe
    from kspec.runtime.model_paths import find_model_directory
    from kspec.schemas.canonical import to_data

    found = find_model_directory(run)
    if found is None:
        return
    saved = read_metadata(found / "checkpoint").get("spec_sha256")
    if saved != spec_digest(to_data(spec_with_recipe(model))):
        raise DataError(
            f"{run}: the run was trained from a different spec (or compile recipe); "
            "use a new --out, or --overwrite to start it again"
        )


def fit(args: argparse.Namespace, out: Any) -> None:
    from kspec.runtime.training import array_files
    from kspec.runtime.training.callbacks import CSVLogger
    from kspec.runtime.training.checkpoints import ModelCheckpoint, restore_latest

    run = Path(args.out)
    _prepare_run(run, args.resume, args.overwrite)
    model = _model(args, training=True)
    if model.spec.compile is None:
        raise DataError(f"{args.model}: the spec has no `compile:` section (optimizer, loss)")
    x, y = array_files.inputs_and_targets(model, args.data)
    val = array_files.inputs_and_targets(model, args.val) if args.val else None
    initial_epoch = 0
    if args.resume:
        _check_resumable(model, run)
        model._ready([])
        last = restore_latest(model, run / "checkpoints")
        if last is None:
            out.print(f"no checkpoint in {run / 'checkpoints'}; starting from epoch 1")
        else:
            initial_epoch = last + 1
            out.print(f"resuming after epoch {initial_epoch} (step {model.iterations})")
    run.mkdir(parents=True, exist_ok=True)
    callbacks = [
        ModelCheckpoint(run / "checkpoints", max_to_keep=3),
        CSVLogger(run / "history.csv", append=initial_epoch > 0),
    ]
    model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=args.verbose,
        validation_data=val,
        callbacks=callbacks,
        initial_epoch=initial_epoch,
    )
    out.print(f"model: {model.save(run / 'model')}")


def evaluate(args: argparse.Namespace, out: Any) -> None:
    from kspec.runtime.training import array_files

    model = _model(args)
    x, y = array_files.inputs_and_targets(model, args.data)
    logs = model.evaluate(x, y, batch_size=args.batch_size, return_dict=True)
    out.print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))


def predict(args: argparse.Namespace, out: Any) -> None:
    """Every output is written: one as .npy (or .npz), several as .npz by output name."""
    from kspec.runtime.training import array_files

    output = Path(args.output)
    if output.suffix not in (".npy", ".npz"):
        raise DataError(f"-o {output}: expected a file ending in .npy or .npz")
    model = _model(args)
    names = model.output_names
    if output.suffix == ".npy" and len(names) > 1:
        raise DataError(
            f"-o {output}: the model has {len(names)} outputs ({', '.join(names)}) and an .npy "
            f"holds one array; write them all to an .npz (-o {output.with_suffix('.npz')})"
        )
    y = model.predict(array_files.model_inputs(model, args.input), batch_size=args.batch_size)
    arrays = dict(zip(names, y if isinstance(y, list) else [y], strict=True))
    array_files.write_outputs(output, arrays)
    shapes = ", ".join(f"{n} {a.shape}" for n, a in arrays.items())
    out.print(f"wrote {output}: {shapes}")


def add_commands(sub: Any, checked: Any) -> None:
    """Register fit / evaluate / predict on the CLI's subparsers; `checked(fn)` runs `fn`
    printing SpecErrors as located lines."""

    def runner(fn: Any) -> Any:
        def run(args: argparse.Namespace, out: Any, err: Any) -> int:
            try:
                return checked(lambda: fn(args, out))
            except ValueError as exc:  # a Keras-style argument error from the training API
                err.print(printable(f"error: {exc}"), markup=False)
                return 1

        return run

    f = sub.add_parser("fit", help="train a model with a `compile:` section on .npz arrays")
    _model_arguments(f)
    f.add_argument("--data", required=True, help=".npz with arrays named as inputs and outputs")
    f.add_argument("--val", help="validation .npz (same names)")
    f.add_argument("--epochs", type=positive_int, default=1)
    f.add_argument("--batch-size", type=positive_int, default=32)
    f.add_argument("--out", required=True, metavar="DIR", help="run directory")
    f.add_argument("--resume", action="store_true", help="continue from DIR's last checkpoint")
    f.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run in DIR (else refused)"
    )
    f.add_argument("--seed", type=seed, default=0, help="init seed for a spec file (default 0)")
    f.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    f.set_defaults(run=runner(fit))
    e = sub.add_parser("evaluate", help="loss and metrics of a trained model on .npz arrays")
    _model_arguments(e)
    e.add_argument("--data", required=True, help=".npz with arrays named as inputs and outputs")
    e.add_argument("--batch-size", type=positive_int, default=32)
    e.set_defaults(run=runner(evaluate))
    p = sub.add_parser("predict", help="predictions of a trained model, every output")
    _model_arguments(p)
    p.add_argument(
        "--input",
        required=True,
        help=".npy (a one-input model) or .npz with one array per input name",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help=".npy (a one-output model) or .npz: one array per output name",
    )
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.set_defaults(run=runner(predict))


MODEL_HELP = "model directory, fit run directory, checkpoint, or spec file (.yaml, .json)"


def _model_arguments(command: Any) -> None:
    """The MODEL every command takes, and `--weights` for a spec file."""
    command.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    command.add_argument(
        "--weights", metavar="DIR", help="with a spec file: a checkpoint or model directory"
    )
