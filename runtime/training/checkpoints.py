"""`ModelCheckpoint`: the whole training state (params, layer state, optimizer state, epoch,
step) in an Orbax `CheckpointManager`: keep the last N, or only the best on a monitored metric.
Orbax finalises each step by an atomic rename; kspec then seals it with the sha256 of its files
(`checkpoint_store.seal`). A run killed mid-save leaves the previous sealed step as the latest;
`restore_latest` verifies it and resumes exactly from it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from kspec.errors import CheckpointError
from kspec.runtime import checkpoint_store as store
from kspec.runtime.training.callbacks import Logs, _Monitor


def _train_tree(model: Any) -> Any:
    return {"variables": model.variables, "opt_state": model.optimizer_state}


def _storable(model: Any, epoch: int) -> dict[str, Any]:
    """Orbax cannot store empty dicts or optax's namedtuples portably: store the leaves in
    order, with the step counters; the model's own tree gives the structure back."""
    leaves = jax.tree.leaves(_train_tree(model))
    return {
        "leaves": {f"{i:06d}": np.asarray(leaf) for i, leaf in enumerate(leaves)},
        "epoch": np.asarray(epoch, np.int64),
        "iterations": np.asarray(model.iterations, np.int64),
    }


class ModelCheckpoint(_Monitor):
    """Save the training state into `directory` after every epoch (or only improvements with
    `save_best_only`), keeping `max_to_keep` steps (the best ones when monitoring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        mode: str = "auto",
        max_to_keep: int | None = 3,
    ) -> None:
        super().__init__(monitor, mode, 0.0)
        self.directory = Path(directory).absolute()
        self.verbose, self.save_best_only, self.max_to_keep = verbose, save_best_only, max_to_keep
        self._manager: ocp.CheckpointManager | None = None

    def manager(self) -> ocp.CheckpointManager:
        if self._manager is None:
            if jax.process_index() == 0:
                _remove_unsealed(self.directory)
            best = self.save_best_only
            options = ocp.CheckpointManagerOptions(
                max_to_keep=self.max_to_keep,
                best_fn=(lambda metrics: float(metrics[self.monitor])) if best else None,
                best_mode=self.mode,
                create=True,
            )
            self._manager = ocp.CheckpointManager(self.directory, options=options)
        return self._manager

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self.save_best_only:
            current = self.current(logs, "ModelCheckpoint")
            if current is None or not self.improved(current, self.best):
                return
            self.best = current
        manager = self.manager()
        metrics = {k: float(v) for k, v in logs.items()} if self.save_best_only else None
        manager.save(
            epoch, args=ocp.args.StandardSave(_storable(self.model, epoch)), metrics=metrics
        )
        manager.wait_until_finished()
        if jax.process_index() == 0:
            store.seal(self.directory / str(epoch))
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: saved checkpoint to {self.directory}/{epoch}")

    def on_train_end(self, logs: Logs) -> None:
        self.close()

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()
            self._manager = None


def _remove_unsealed(directory: Path) -> None:
    """Delete the steps a killed run finalized but did not seal: their epochs are run and
    saved again (Orbax refuses to save over an existing step)."""
    if directory.is_dir():
        for step in directory.iterdir():
            if step.name.isdigit() and step.is_dir() and not store.is_sealed(step):
                shutil.rmtree(step)


def restore_latest(model: Any, directory: str | os.PathLike[str]) -> int | None:
    """Load the newest complete training state of `directory` into `model` (compiled with the
    same optimizer); returns the epoch it ended, or None when there is no checkpoint."""
    path = Path(directory).absolute()
    if not path.is_dir():
        return None
    with ocp.CheckpointManager(path) as manager:
        sealed = [s for s in manager.all_steps() if store.is_sealed(path / str(s))]
        if not sealed:
            return None
        step = max(sealed)
        store.verify_sealed(path / str(step))
        template = _train_tree(model)
        leaves, treedef = jax.tree.flatten(template)
        try:
            restored = manager.restore(step, args=ocp.args.StandardRestore())
        except Exception as exc:  # Orbax/TensorStore raise many types for a damaged step
            raise CheckpointError(
                f"{path}/{step}: cannot read the checkpoint ({type(exc).__name__})"
            ) from None
    saved = [restored["leaves"][k] for k in sorted(restored["leaves"])]
    shapes = [np.shape(x) for x in leaves], [np.shape(x) for x in saved]
    if shapes[0] != shapes[1]:
        raise CheckpointError(
            f"{path}/{step}: the checkpoint does not fit this model and optimizer"
        )
    state = treedef.unflatten(
        [jnp.asarray(s, dtype=jnp.asarray(t).dtype) for t, s in zip(leaves, saved, strict=True)]
    )
    model.variables = state["variables"]
    model.optimizer_state = state["opt_state"]
    model._iterations = int(restored["iterations"])
    return int(restored["epoch"])
