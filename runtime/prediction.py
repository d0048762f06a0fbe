"""`Model.predict`: numpy batches through one jitted apply, checked at the boundary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from kspec.errors import DataError
from kspec.runtime.data_checks import check_batch_size, check_inputs
from kspec.runtime.training.data import pad_batch
from kspec.runtime.training.progress import StepsProgress
from kspec.runtime.training.sharding import data_parallel

if TYPE_CHECKING:
    from kspec.compiler import CompiledModel, Variables

Inputs = jax.Array | np.ndarray | Sequence[Any] | Mapping[str, Any]


class PredictionMixin:
    """Batched inference for `Model` (which provides the compiled model, its variables and
    `_named_inputs`)."""

    compiled: CompiledModel
    variables: Variables

    def _named_inputs(self, inputs: tuple[Inputs, ...]) -> dict[str, Any]:
        raise NotImplementedError

    _placed: Variables | None = None
    """The variables object `_placed_variables` last found on every device already."""

    @cached_property
    def _predict_step(self) -> Any:
        return jax.jit(lambda variables, inputs: self.compiled.apply(variables, inputs)[0])

    def _placed_variables(self) -> Variables:
        """The variables on every device, checked once per variables object: a check of
        every weight on each call was a tenth of a small model's `predict` at batch size 1.
        A copy (several devices) is not remembered, so assigning into it cannot go stale."""
        variables = self.variables
        if variables is self._placed:
            return variables
        placed = data_parallel().replicate(variables)
        if placed is variables:
            self._placed = variables
        return placed

    def predict(self, *inputs: Inputs, batch_size: int = 32, verbose: int | str = 0) -> Any:
        """Numpy in, numpy out, in batches of `batch_size` through one jitted function.

        Inputs are checked against the spec first (`DataError`). The last partial batch is
        padded to `batch_size`, so every batch reuses one compiled program, unless a node
        couples the rows of a batch (`Lowering.couples_rows`: a Lambda); then it runs at its
        true size, as in Keras, so `x - mean(x, axis=0)` gives Keras' result. Each batch is
        split over all devices (`training/sharding.py`).
        `verbose`: 0 silent (the default: a library call prints nothing), 1 or "auto" a
        progress bar, 2 one line at the end, as Keras prints them.
        """
        batch_size = check_batch_size(batch_size)
        named = {k: np.asarray(v) for k, v in self._named_inputs(inputs).items()}
        check_inputs(self.compiled, named)
        lengths = {k: len(v) for k, v in named.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"all inputs need the same number of samples. Received: {lengths}")
        total = next(iter(lengths.values()))
        if total == 0:
            one = {k: jax.ShapeDtypeStruct((1, *v.shape[1:]), v.dtype) for k, v in named.items()}
            shapes = jax.eval_shape(self._predict_step, self.variables, one)
            empty = [np.zeros((0, *s.shape[1:]), s.dtype) for s in shapes]
            return empty[0] if len(empty) == 1 else empty
        chunks: list[list[np.ndarray]] = []
        parallel = data_parallel()
        variables = self._placed_variables()
        progress = StepsProgress(verbose, -(-total // batch_size))
        for step, start in enumerate(range(0, total, batch_size)):
            batch = {k: v[start : start + batch_size] for k, v in named.items()}
            size = len(next(iter(batch.values())))
            if size < batch_size and total > batch_size and self._may_pad(size):
                batch = {k: pad_batch(v, batch_size) for k, v in batch.items()}
            outputs = self._predict_step(variables, parallel.shard(batch))
            chunks.append([parallel.local_rows(o)[:size] for o in outputs])
            progress.step(step)
        progress.close()
        merged = [np.concatenate(parts) for parts in zip(*chunks, strict=True)]
        return merged[0] if len(merged) == 1 else merged

    def _may_pad(self, size: int) -> bool:
        """Pad a last partial batch (one compiled program for all batches) unless a node
        couples the rows of a batch; on several hosts, always when the local devices do not
        divide it."""
        if data_parallel().multi_host and size % jax.local_device_count():
            return True
        return not self.compiled.couples_rows()
