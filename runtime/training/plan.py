"""What one `fit` or `evaluate` run does, resolved once from the Keras-style arguments.

`fit`, `fit_generator`, `evaluate` and `evaluate_generator` differ only in how they spell
their arguments; each builds a `FitPlan` or a `Batches` and hands it to the one loop that
runs it (`TrainingMixin.run_fit` / `run_evaluate`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kspec.runtime.training import data as D
from kspec.runtime.training.callbacks import Callback


def is_iterator(x: Any) -> bool:
    """A Python iterator of batches (a generator), as opposed to arrays."""
    return isinstance(x, Iterator) or (hasattr(x, "__next__") and not hasattr(x, "shape"))


@dataclass(frozen=True)
class Batches:
    """Where an epoch's batches come from: `arrays` (shuffled per epoch when `shuffle`) or a
    `generator` of `(x, y[, sample_weight])`; an epoch ends after `steps` batches or `samples`
    samples (Keras 1 counted samples), or when the arrays are used up."""

    arrays: D.Arrays | None = None
    generator: Any = None
    batch_size: int = 32
    shuffle: bool = False
    steps: int | None = None
    samples: int | None = None
    class_weight: Mapping[int, float] | None = None

    def __post_init__(self) -> None:
        if self.generator is not None and self.steps is None and self.samples is None:
            raise ValueError(
                "a generator has no end: give `steps_per_epoch` (fit) or `steps` / "
                "`validation_steps` (evaluate)"
            )

    @property
    def steps_per_epoch(self) -> int | None:
        if self.steps:
            return self.steps
        return math.ceil(len(self.arrays) / self.batch_size) if self.arrays is not None else None

    def epoch(
        self, epoch: int, seed: int, from_item: Callable[[Any], D.Arrays]
    ) -> Iterator[D.Arrays]:
        """The batches of one epoch; `from_item` turns a generator item into arrays."""
        if self.generator is not None:
            yield from self._generated(from_item)
            return
        assert self.arrays is not None
        order = None
        if self.shuffle:
            order = np.random.default_rng([seed, epoch]).permutation(len(self.arrays))
        source = D.batches(self.arrays, self.batch_size, order)
        yield from (itertools.islice(source, self.steps) if self.steps else source)

    def _generated(self, from_item: Callable[[Any], D.Arrays]) -> Iterator[D.Arrays]:
        seen = 0
        for index in itertools.count():
            if (self.steps is not None and index >= self.steps) or (
                self.samples is not None and seen >= self.samples
            ):
                return
            batch = from_item(next(self.generator))
            seen += len(batch)
            yield batch


@dataclass(frozen=True)
class FitPlan:
    """One training run: its batches, epochs, callbacks and validation batches."""

    batches: Batches
    epochs: int
    initial_epoch: int = 0
    verbose: int = 1
    callbacks: Sequence[Callback] = ()
    validation: Batches | None = None
