"""`kspec import SRC -o DIR` and `kspec export-keras MODEL -o model.keras`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_import(args: argparse.Namespace, out: Any) -> None:
    from kspec.runtime.keras_io.importer import REPORT, import_keras, write_directory

    imported = import_keras(Path(args.source), spec=Path(args.spec) if args.spec else None)
    directory = write_directory(imported, Path(args.output))
    weights = "fresh weights (seed 0)" if imported.fresh else "the file's weights"
    out.print(f"{args.source}: imported '{imported.model.name}' with {weights}", highlight=False)
    out.print(f"model directory: {directory}", highlight=False)
    out.print(f"report:          {directory / REPORT}", highlight=False)


def run_export_keras(args: argparse.Namespace, out: Any) -> None:
    from kspec.runtime.export_cli import load_source

    model, origin = load_source(Path(args.source), args.seed)
    model.to_keras_file(args.output)
    out.print(f"{model.name}: {origin}", highlight=False)
    out.print(f"wrote {args.output} (keras.saving.load_model opens it)", highlight=False)


def add_commands(sub: Any, checked: Callable[[Callable[[], None]], int]) -> None:
    """Register `import` and `export-keras`; `checked(fn)` prints kspec errors."""
    i = sub.add_parser(
        "import", help="a Keras model (.keras, .h5, .json) -> kspec model directory + report"
    )
    i.add_argument("source", metavar="SRC", help=".keras archive, legacy .h5, or JSON config")
    i.add_argument("-o", "--output", required=True, metavar="DIR", help="new model directory")
    i.add_argument("--spec", metavar="SPEC", help="the architecture, for a weights-only .h5")
    i.set_defaults(run=lambda args, out, err: checked(lambda: run_import(args, out)))
    e = sub.add_parser("export-keras", help="a kspec model -> Keras 3 .keras archive")
    e.add_argument("source", metavar="MODEL_DIR|SPEC", help="build/fit/import output, or a spec")
    e.add_argument("-o", "--output", required=True, metavar="FILE.keras")
    e.add_argument("--seed", type=int, default=0, help="init seed for a spec file (default 0)")
    e.set_defaults(run=lambda args, out, err: checked(lambda: run_export_keras(args, out)))
