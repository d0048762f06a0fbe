"""The training commands of the CLI: `kspec fit`, `kspec evaluate`, `kspec predict`.

A run directory holds `model/` (the final weights and spec, as `kspec build` writes them),
`checkpoints/` (ModelCheckpoint: full training state per epoch, last 3 kept) and
`history.csv`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kspec.errors import CheckpointError
from kspec.runtime.arguments import seed

if TYPE_CHECKING:
    import numpy as np


class DataError(Exception):
    """A user mistake in the data files (printed as one `error:` line by the CLI)."""


def _npz(path: str, names: list[str], what: str) -> dict[str, np.ndarray]:
    import numpy as np  # here, not at the top: `kspec validate` registers these commands

    try:
        data = np.load(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read arrays ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: expected an .npz file of named arrays, found a single array")
    with data:
        arrays = {k: data[k] for k in data.files}
    missing = [n for n in names if n not in arrays]
    if missing:
        raise DataError(
            f"{path}: no array for {what} {', '.join(missing)} "
            f"(the file has: {', '.join(sorted(arrays)) or 'nothing'})"
        )
    return arrays


def _xy(model: Any, path: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    arrays = _npz(path, [*model.input_names, *model.output_names], "input/output")
    return {n: arrays[n] for n in model.input_names}, {n: arrays[n] for n in model.output_names}


def _load_run(directory: str) -> Any:
    from kspec.runtime.api import load
    from kspec.runtime.checkpoint import read_metadata

    model_dir = Path(directory) / "model"
    model = load(read_metadata(model_dir)["spec"])
    model.load_weights(model_dir)
    return model


def fit(args: argparse.Namespace, out: Any) -> None:
    from kspec.runtime.api import load
    from kspec.runtime.checkpoint import save_variables
    from kspec.runtime.training.callbacks import CSVLogger
    from kspec.runtime.training.checkpoints import ModelCheckpoint, restore_latest

    model = load(Path(args.spec))
    if model.spec.compile is None:
        raise DataError(f"{args.spec}: the spec has no `compile:` section (optimizer, loss)")
    model.init(args.seed)
    x, y = _xy(model, args.data)
    val = _xy(model, args.val) if args.val else None
    run = Path(args.out)
    initial_epoch = 0
    if args.resume:
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
    save_variables(run / "model", model.variables, model.spec)
    out.print(f"model: {run / 'model'}")


def evaluate(args: argparse.Namespace, out: Any) -> None:
    model = _load_run(args.dir)
    x, y = _xy(model, args.data)
    logs = model.evaluate(x, y, batch_size=args.batch_size, return_dict=True)
    out.print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))


def predict(args: argparse.Namespace, out: Any) -> None:
    import numpy as np

    model = _load_run(args.dir)
    try:
        x = np.load(args.input)
    except (OSError, ValueError) as exc:
        raise DataError(f"{args.input}: cannot read an array ({exc})") from None
    y = model.predict(x, batch_size=args.batch_size)
    np.save(args.output, y if not isinstance(y, list) else y[0])
    out.print(f"wrote {args.output} {np.shape(y if not isinstance(y, list) else y[0])}")


def add_commands(sub: Any, checked: Any) -> None:
    """Register fit / evaluate / predict on the CLI's subparsers; `checked(fn)` runs `fn`
    printing SpecErrors as located lines."""

    def runner(fn: Any) -> Any:
        def run(args: argparse.Namespace, out: Any, err: Any) -> int:
            try:
                return checked(lambda: fn(args, out))
            except (DataError, CheckpointError, ValueError) as exc:
                err.print(f"error: {exc}", markup=False)
                return 1

        return run

    f = sub.add_parser("fit", help="train a spec with a `compile:` section on .npz arrays")
    f.add_argument("spec", metavar="SPEC")
    f.add_argument("--data", required=True, help=".npz with arrays named as inputs and outputs")
    f.add_argument("--val", help="validation .npz (same names)")
    f.add_argument("--epochs", type=int, default=1)
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--out", required=True, metavar="DIR", help="run directory")
    f.add_argument("--resume", action="store_true", help="continue from DIR's last checkpoint")
    f.add_argument("--seed", type=seed, default=0)
    f.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    f.set_defaults(run=runner(fit))
    e = sub.add_parser("evaluate", help="loss and metrics of a trained run on .npz arrays")
    e.add_argument("dir", metavar="DIR")
    e.add_argument("--data", required=True)
    e.add_argument("--batch-size", type=int, default=32)
    e.set_defaults(run=runner(evaluate))
    p = sub.add_parser("predict", help="predictions of a trained run for a .npy input")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--input", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(run=runner(predict))
