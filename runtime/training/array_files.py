"""The arrays `kspec fit`, `evaluate` and `predict` read and write: `.npy` and `.npz` files.

Apart from the command definitions so that building the CLI's parser (every `kspec` call,
`kspec validate` too) does not import numpy.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from kspec.errors import DataError


def _load(path: str) -> Any:
    """`np.load` of a regular file only: a FIFO would block, `/dev/zero` stream forever."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        raise DataError(f"{path}: cannot read arrays ({exc.strerror})") from None
    if not regular:
        raise DataError(f"{path}: not a regular file; give an .npy or .npz file")
    try:
        return np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read arrays ({exc})") from None


def _npz(path: str, names: list[str], what: str) -> dict[str, np.ndarray]:
    data = _load(path)
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: expected an .npz file of named arrays, found a single array")
    try:
        with data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # a damaged member
        raise DataError(f"{path}: cannot read arrays ({exc})") from None
    missing = [n for n in names if n not in arrays]
    if missing:
        raise DataError(
            f"{path}: no array for {what} {', '.join(missing)} "
            f"(the file has: {', '.join(sorted(arrays)) or 'nothing'})"
        )
    return arrays


def inputs_and_targets(
    model: Any, path: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`--data` / `--val`: an .npz with an array per input name and per output name."""
    arrays = _npz(path, [*model.input_names, *model.output_names], "input/output")
    return {n: arrays[n] for n in model.input_names}, {n: arrays[n] for n in model.output_names}


def model_inputs(model: Any, path: str) -> dict[str, np.ndarray]:
    """`--input`: one array (.npy) for a one-input model, else an .npz by input name."""
    names = model.input_names
    data = _load(path)
    if isinstance(data, np.lib.npyio.NpzFile):
        return {n: a for n, a in _npz(path, names, "input").items() if n in names}
    if len(names) > 1:
        raise DataError(
            f"{path}: one array for a model with {len(names)} inputs ({', '.join(names)}); "
            "give an .npz with one array per input name"
        )
    return {names[0]: data}


def write_outputs(output: Path, arrays: dict[str, np.ndarray]) -> None:
    """One output as `.npy` (or `.npz`), several as `.npz` by output name."""
    if output.suffix == ".npy":
        np.save(output, next(iter(arrays.values())))
    else:
        np.savez(output, **arrays)
