"""The kspec model directory: one self-describing folder for a whole model.

Layout (docs/model-directory.md):
    kspec-model.json  {"format": 1, "spec": "spec.yaml", "checkpoint": "checkpoint",
                       "optimizer": "optimizer" | null, "iterations": int}
    spec.yaml         the canonical spec, `compile:` section included (a readable copy)
    checkpoint/       the variables (Orbax) with the spec they belong to (`checkpoint.py`)
    optimizer/        the optimizer state and step count (Orbax), when the model was compiled

`kspec build -o`, `kspec fit --out` (as `RUN/model`) and `Model.save` write it; `load_model`
is the one resolver every CLI command and `kspec.load_model` use. The checkpoint's spec (its
sha256 checked) is the source of truth; `spec.yaml` is there to read and diff.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pydantic

from kspec.errors import CheckpointError
from kspec.runtime.checkpoint import save_variables
from kspec.runtime.model_paths import (
    CHECKPOINT,
    FORMAT,
    MANIFEST,
    OPTIMIZER,
    SPEC,
    Located,
    is_model_directory,
    locate,
)
from kspec.schemas import ModelSpec
from kspec.schemas.canonical import to_yaml
from kspec.schemas.training import CompileSpec

if TYPE_CHECKING:
    from kspec.runtime.model import Model

Functions = Mapping[str, Any]


def save_model(model: Model, directory: str | os.PathLike[str]) -> Path:
    """Write `model` (spec with its compile recipe, variables, optimizer state) as a model
    directory. Replaces an earlier model directory there; refuses any other non-empty folder,
    so a typo never overwrites someone's files."""
    target = Path(directory)
    if target.exists() and any(target.iterdir()) and not is_model_directory(target):
        raise CheckpointError(
            f"{target}: the directory is not empty and not a kspec model directory; "
            "choose a new or empty directory"
        )
    target.mkdir(parents=True, exist_ok=True)
    spec = spec_with_recipe(model)
    (target / SPEC).write_text(to_yaml(spec))
    save_variables(target / CHECKPOINT, model.variables, spec)
    # the state is only of use with its recipe, which a load rebuilds from the spec
    optimizer = model._opt_state is not None and spec.compile is not None
    if optimizer:
        _save_optimizer(model, target / OPTIMIZER)
    elif (target / OPTIMIZER).exists():
        shutil.rmtree(target / OPTIMIZER)
    manifest = {
        "format": FORMAT,
        "spec": SPEC,
        "checkpoint": CHECKPOINT,
        "optimizer": OPTIMIZER if optimizer else None,
        "iterations": int(model.iterations),
    }
    staging = target / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    staging.write_text(json.dumps(manifest, indent=2) + "\n")
    staging.replace(target / MANIFEST)  # last: a directory is complete once it has one
    return target


def spec_with_recipe(model: Model) -> ModelSpec:
    """The model's spec with the `compile:` section `model.compile(...)` set (Keras'
    `model.save` keeps the compile config). A recipe holding Python objects (an optax
    transformation, a loss function) cannot be written as data: saved without it, warned."""
    spec: ModelSpec = model.spec
    given = model._compile_args
    if given is None:
        return spec
    data = {k: _plain(v) for k, v in given.items() if v is not None}
    try:
        recipe = CompileSpec.model_validate(data)
    except (pydantic.ValidationError, TypeError):
        warnings.warn(
            "the compile recipe holds Python objects (optimizer, loss or metric functions) "
            "that cannot be saved as data; the model is saved without it: call compile() "
            "again after loading",
            stacklevel=3,
        )
        return spec.model_copy(update={"compile": None})
    return spec.model_copy(update={"compile": recipe})


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _save_optimizer(model: Model, path: Path) -> None:
    leaves = jax.tree.leaves(model._opt_state)
    tree = {
        "leaves": {f"{i:06d}": np.asarray(leaf) for i, leaf in enumerate(leaves)},
        "iterations": np.asarray(model.iterations, np.int64),
    }
    if path.exists():
        shutil.rmtree(path)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path.absolute(), tree)
        checkpointer.wait_until_finished()


def _restore_optimizer(model: Model, path: Path) -> None:
    """The saved optimizer state into `model`, whose recipe (from the spec) gives the tree."""
    model._ready([])
    template, treedef = jax.tree.flatten(model._opt_state)
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            restored = checkpointer.restore(path.absolute())
    except Exception as exc:  # Orbax/TensorStore raise many types for a damaged directory
        raise CheckpointError(
            f"{path}: cannot read the optimizer state ({type(exc).__name__})"
        ) from None
    saved = [restored["leaves"][k] for k in sorted(restored["leaves"])]
    if [np.shape(x) for x in template] != [np.shape(x) for x in saved]:
        raise CheckpointError(f"{path}: the optimizer state does not fit this model's optimizer")
    model._opt_state = treedef.unflatten(
        [jnp.asarray(s, dtype=jnp.asarray(t).dtype) for t, s in zip(template, saved, strict=True)]
    )
    model._iterations = int(restored["iterations"])


def load_model(
    source: str | os.PathLike[str],
    weights: str | os.PathLike[str] | None = None,
    functions: Functions | None = None,
    seed: int = 0,
    optimizer: bool = True,
) -> Model:
    """The whole model (`kspec.load_model`), from what any command takes: a model directory,
    a fit run directory, a checkpoint (`save_weights`), or a spec file (with `weights`: a
    checkpoint or model directory to load; without: fresh variables from `seed`). A model
    saved compiled comes back compiled, its optimizer state and step count restored (unless
    `optimizer=False`: for inference, which does not need them)."""
    from kspec.runtime.api import load
    from kspec.runtime.config import load_checkpoint

    path = Path(source)
    if path.is_dir():
        if weights is not None:
            raise CheckpointError(
                f"{path}: --weights goes with a spec file; a directory brings its own weights"
            )
        located = _located(path)
        model = load_checkpoint(located.checkpoint, functions)
        saved = (located.manifest or {}).get("optimizer")
        if optimizer and saved and located.model_directory is not None:
            _restore_optimizer(model, located.model_directory / saved)
        return model
    if not path.exists():
        raise CheckpointError(f"{path}: no such spec file or model directory")
    model = load(path, functions=functions)
    if weights is None:
        model.init(seed)
        return model
    model.load_weights(_located(Path(weights)).checkpoint)
    return model


def _located(path: Path) -> Located:
    located = locate(path)
    if located is None:
        raise CheckpointError(
            f"{path}: not a kspec model directory (no {MANIFEST}), fit run directory or "
            "checkpoint; give a spec file, or a directory written by kspec build, kspec fit "
            "or model.save"
        )
    return located


def spec_source(source: str | os.PathLike[str]) -> Path | dict[str, Any]:
    """What to compile for a command that needs no weights (`plot`): a spec file as given,
    or the spec a model directory, run directory or checkpoint was saved with."""
    from kspec.runtime.checkpoint import read_metadata

    path = Path(source)
    if not path.is_dir():
        return path
    checkpoint = _located(path).checkpoint
    spec = read_metadata(checkpoint).get("spec")
    if not isinstance(spec, dict):
        raise CheckpointError(f"{checkpoint}: the checkpoint metadata holds no spec")
    return spec
