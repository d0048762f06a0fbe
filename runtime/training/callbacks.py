"""Keras callbacks on kspec models: the `Callback` protocol, History, EarlyStopping,
ReduceLROnPlateau, LearningRateScheduler, CSVLogger, TerminateOnNaN (ModelCheckpoint lives in
`checkpoints.py`). Semantics follow `keras/src/callbacks/*.py`."""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from kspec.runtime.training.optimizers import get_learning_rate, set_learning_rate
from kspec.runtime.training.sharding import fresh_copy

Logs = dict[str, Any]


class Callback:
    """Override any of the hooks; `self.model` is the kspec Model being trained.

    Batch hooks receive the running loss and metrics only when the callback overrides
    `on_train_batch_end` (computing them costs a device sync per batch).
    """

    model: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: Logs) -> None: ...
    def on_train_end(self, logs: Logs) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: Logs) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Logs) -> None: ...


class CallbackList:
    def __init__(self, callbacks: Sequence[Callback], model: Any) -> None:
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)

    @property
    def wants_batches(self) -> bool:
        return any(
            "on_train_batch_end" in vars(c)  # a LambdaCallback's hook is an instance attribute
            or type(c).on_train_batch_end is not Callback.on_train_batch_end
            for c in self.callbacks
        )

    def __getattr__(self, hook: str) -> Callable[..., None]:
        def call(*args: Any) -> None:
            for callback in self.callbacks:
                getattr(callback, hook)(*args)

        return call


class History(Callback):
    """`history.history[name]` is the list of per-epoch values; `history.epoch` the epochs."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


class _Monitor(Callback):
    """Keras' MonitorCallback: `mode` auto picks max for accuracy/auc-like names."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'. Received: mode={mode}")
        if mode == "auto":
            name = monitor.removeprefix("val_")
            up = any(k in name for k in ("acc", "auc", "precision", "recall"))
            mode = "max" if up else "min"
        self.monitor, self.mode = monitor, mode
        self.min_delta = abs(min_delta) * (1 if mode == "max" else -1)
        self.best: float | None = None

    def improved(self, current: float, reference: float | None) -> bool:
        if reference is None:
            return True
        value = current - self.min_delta
        return value > reference if self.mode == "max" else value < reference

    def current(self, logs: Logs, what: str) -> float | None:
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"{what} conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}",
                stacklevel=3,
            )
        return value


class EarlyStopping(_Monitor):
    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch

    def on_train_begin(self, logs: Logs) -> None:
        self.wait, self.stopped_epoch, self.best = 0, 0, None
        self.best_weights: Any = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        current = self.current(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = fresh_copy(self.model.variables), epoch
        self.wait += 1
        if self.improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = fresh_copy(self.model.variables)  # fit donates its own
            if self.baseline is None or self.improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                best = self.best_epoch + 1
                print(f"Restoring model weights from the end of the best epoch: {best}.")
            self.model.variables = self.best_weights


class ReduceLROnPlateau(_Monitor):
    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received: factor={factor}"
            )
        super().__init__(monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr

    def on_train_begin(self, logs: Logs) -> None:
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        logs["learning_rate"] = get_learning_rate(self.model.optimizer_state)
        current = self.current(logs, "Learning rate reduction")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improved(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = logs["learning_rate"]
                if old > float(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer_state = set_learning_rate(self.model.optimizer_state, new)
                    if self.verbose > 0:
                        print(
                            f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}."
                        )
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """`schedule(epoch, lr) -> new lr`, applied at the start of each epoch."""

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0) -> None:
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        lr = self.schedule(epoch, get_learning_rate(self.model.optimizer_state))
        if not isinstance(lr, int | float):
            raise ValueError(f"the schedule must return a float. Received: {lr!r}")
        self.model.optimizer_state = set_learning_rate(self.model.optimizer_state, float(lr))

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        logs["learning_rate"] = get_learning_rate(self.model.optimizer_state)


class CSVLogger(Callback):
    """One row per epoch: `epoch` then the logs' keys (sorted, as Keras), to `filename`."""

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ):
        self.filename, self.separator, self.append = os.fspath(filename), separator, append

    def on_train_begin(self, logs: Logs) -> None:
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename)
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._writer: Any = None
        self._header = bool(exists)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, ["epoch", *keys], delimiter=self.separator)
            if not self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs[k] for k in keys}})
        self._file.flush()

    def on_train_end(self, logs: Logs) -> None:
        self._file.close()


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch: int, logs: Logs) -> None:
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """Callbacks from plain functions: `LambdaCallback(on_epoch_end=lambda e, logs: ...)`."""

    def __init__(self, **hooks: Callable[..., None]) -> None:
        for name, fn in hooks.items():
            if not hasattr(Callback, name):
                raise ValueError(f"unknown callback hook '{name}'")
            setattr(self, name, fn)
