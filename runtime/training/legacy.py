"""Keras 1/2 training names kept for old code: fit_generator, evaluate_generator,
predict_generator, predict_classes, predict_proba, and Keras 1 argument names (warned)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from kspec.errors import KspecDeprecationWarning
from kspec.runtime.training.callbacks import Callback, History


def renamed(old: str, new: str, note: str = "") -> None:
    warnings.warn(
        f"`{old}` is a Keras 1 name; use `{new}` instead{note}",
        KspecDeprecationWarning,
        stacklevel=3,
    )


def is_iterator(x: Any) -> bool:
    return isinstance(x, Iterator) or (hasattr(x, "__next__") and not hasattr(x, "shape"))


class LegacyMixin:
    """Methods Keras 3 dropped; they drive the same loops as `fit` / `evaluate`."""

    _fit_loop: Any
    _evaluate_logs: Any
    _data: Any
    predict: Any
    predict_on_batch: Any

    def fit_generator(
        self,
        generator: Any,
        steps_per_epoch: int | None = None,
        epochs: int = 1,
        verbose: int = 1,
        callbacks: Sequence[Callback] | None = None,
        validation_data: Any = None,
        validation_steps: int | None = None,
        class_weight: Any = None,
        max_queue_size: int = 10,
        workers: int = 1,
        use_multiprocessing: bool = False,
        shuffle: bool = True,
        initial_epoch: int = 0,
        **keras1: Any,
    ) -> History:
        """Train on batches drawn from any Python iterator of `(x, y[, sample_weight])`."""
        epochs, samples, val_samples = keras1_generator_args(keras1, epochs)
        if validation_data is not None and not is_iterator(validation_data):
            validation_data = self._data(*validation_data)
        return self._fit_loop(
            generator,
            None,
            32,
            epochs,
            int(verbose),
            callbacks,
            validation_data,
            False,
            initial_epoch,
            steps_per_epoch,
            validation_steps,
            None,
            class_weight,
            samples,
            val_samples,
        )

    def evaluate_generator(self, generator: Any, steps: int | None = None, **keras1: Any) -> Any:
        _, samples, _ = keras1_generator_args(
            {k: v for k, v in keras1.items() if k in ("val_samples", "max_q_size")}, 1
        )
        if steps is None and samples is None:
            raise ValueError("evaluate_generator needs steps")
        return keras_result(self._evaluate_logs(generator, 32, steps, samples), False)

    def predict_generator(self, generator: Any, steps: int, **keras1: Any) -> Any:
        keras1_generator_args({k: v for k, v in keras1.items() if k == "max_q_size"}, 1)
        parts = []
        for item in itertools.islice(generator, steps):
            x = item[0] if isinstance(item, tuple) else item
            out = self.predict_on_batch(x)
            parts.append(out if isinstance(out, list) else [out])
        merged = [np.concatenate(p) for p in zip(*parts, strict=True)]
        return merged[0] if len(merged) == 1 else merged

    def predict_proba(self, x: Any, batch_size: int = 32, verbose: int = 0) -> Any:
        """Keras 2 Sequential: the predicted probabilities (`predict`)."""
        return self.predict(x, batch_size=batch_size)  # type: ignore[attr-defined]

    def predict_classes(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """Keras 2 Sequential: argmax for several units, `p > 0.5` for one."""
        proba = np.asarray(self.predict(x, batch_size=batch_size))  # type: ignore[attr-defined]
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")


def keras_result(logs: dict[str, float], return_dict: bool) -> Any:
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def keras1_generator_args(keras1: dict[str, Any], epochs: int) -> tuple[int, Any, Any]:
    """Keras 1 generator arguments: nb_epoch, samples_per_epoch (samples, not batches),
    nb_val_samples, val_samples, max_q_size (accepted; batches are drawn synchronously)."""
    known = {"nb_epoch", "samples_per_epoch", "nb_val_samples", "val_samples", "max_q_size"}
    unknown = sorted(set(keras1) - known)
    if unknown:
        raise TypeError(f"unexpected argument(s) {', '.join(unknown)}")
    if "nb_epoch" in keras1:
        renamed("nb_epoch", "epochs")
        epochs = keras1["nb_epoch"]
    samples = keras1.get("samples_per_epoch")
    if samples is not None:
        renamed("samples_per_epoch", "steps_per_epoch", " (it counts batches, not samples)")
    val_samples = keras1.get("nb_val_samples", keras1.get("val_samples"))
    for old in ("nb_val_samples", "val_samples"):
        if old in keras1:
            renamed(
                old,
                "validation_steps" if old == "nb_val_samples" else "steps",
                " (it counts batches, not samples)",
            )
    if "max_q_size" in keras1:
        renamed("max_q_size", "max_queue_size")
    return epochs, samples, val_samples
