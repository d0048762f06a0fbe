"""Keras 1/2 training names kept for old code: fit_generator, evaluate_generator,
predict_generator, predict_classes, predict_proba. They translate their arguments and run
the same loops as `fit` / `evaluate` (`TrainingMixin.run_fit` / `run_evaluate`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from kspec.runtime.training.callbacks import Callback, History
from kspec.runtime.training.keras_args import keras1_generator_args, keras_result
from kspec.runtime.training.plan import Batches, FitPlan
from kspec.runtime.training.trainer import TrainingMixin


class LegacyMixin(TrainingMixin):
    """Methods Keras 3 dropped, on top of Keras 3's training API."""

    predict: Any

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
        batches = Batches(
            generator=generator, steps=steps_per_epoch, samples=samples, class_weight=class_weight
        )
        validation = None
        if validation_data is not None:
            validation = self._batches(validation_data, 32, validation_steps, val_samples)
        plan = FitPlan(
            batches, epochs, initial_epoch, int(verbose), tuple(callbacks or ()), validation
        )
        return self.run_fit(plan)

    def evaluate_generator(self, generator: Any, steps: int | None = None, **keras1: Any) -> Any:
        _, _, samples = keras1_generator_args(  # Keras 1: evaluate_generator(g, val_samples)
            {k: v for k, v in keras1.items() if k in ("val_samples", "max_q_size")}, 1
        )
        if steps is None and samples is None:
            raise ValueError("evaluate_generator needs steps")
        batches = Batches(generator=generator, steps=steps, samples=samples)
        return keras_result(self.run_evaluate(batches), False)

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
        return self.predict(x, batch_size=batch_size, verbose=verbose)  # type: ignore[attr-defined]

    def predict_classes(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """Keras 2 Sequential: argmax for several units, `p > 0.5` for one."""
        proba = np.asarray(self.predict(x, batch_size=batch_size, verbose=verbose))  # type: ignore[attr-defined]
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")
