"""Numpy data for training: inputs and labels by name, validation splits, class weights,
batches in Keras order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kspec.errors import DataError


@dataclass(frozen=True)
class Arrays:
    """One data set: inputs by model input name, labels per output, optional sample weights."""

    x: dict[str, np.ndarray]
    y: list[np.ndarray]
    w: np.ndarray | None = None

    def __len__(self) -> int:
        return len(next(iter(self.x.values())))

    def take(self, index: np.ndarray | slice) -> Arrays:
        return Arrays(
            {k: v[index] for k, v in self.x.items()},
            [v[index] for v in self.y],
            None if self.w is None else self.w[index],
        )


def named_inputs(x: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    if isinstance(x, Mapping):
        missing = [n for n in names if n not in x]
        if missing:
            raise DataError(f"missing model input(s) {missing}; inputs: {list(names)}")
        return {n: np.asarray(x[n]) for n in names}
    if isinstance(x, list | tuple) and len(names) > 1:
        if len(x) != len(names):
            raise DataError(
                f"the model takes {len(names)} inputs {list(names)}. Received: {len(x)}"
            )
        return {n: np.asarray(v) for n, v in zip(names, x, strict=True)}
    return {names[0]: np.asarray(x)}


def labels(y: Any, names: Sequence[str]) -> list[np.ndarray]:
    if isinstance(y, Mapping):
        missing = [n for n in names if n not in y]
        if missing:
            raise DataError(f"missing labels for output(s) {missing}; outputs: {list(names)}")
        return [np.asarray(y[n]) for n in names]
    if isinstance(y, list | tuple) and len(names) > 1:
        if len(y) != len(names):
            raise DataError(f"the model has {len(names)} outputs {list(names)}. Received: {len(y)}")
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


def class_sample_weights(y: np.ndarray, class_weight: Mapping[int, float]) -> np.ndarray:
    """Keras: the class is argmax of one-hot labels, else the (rounded) label itself."""
    classes = (
        np.argmax(y, axis=-1)
        if y.ndim > 1 and y.shape[-1] > 1
        else np.round(y).reshape(len(y), -1)[:, 0]
    )
    classes = classes.astype(np.int64)
    unknown = sorted(set(np.unique(classes).tolist()) - set(class_weight))
    if unknown:
        raise DataError(f"class_weight has no weight for class(es) {unknown}")
    return np.asarray([class_weight[int(c)] for c in classes], dtype=np.float32)


def make_arrays(
    x: Any,
    y: Any,
    input_names: Sequence[str],
    output_names: Sequence[str],
    sample_weight: Any = None,
    class_weight: Mapping[int, float] | None = None,
) -> Arrays:
    xs, ys = named_inputs(x, input_names), labels(y, output_names)
    arrays = {f"input '{k}'": v for k, v in xs.items()}
    arrays |= {f"labels '{n}'": v for n, v in zip(output_names, ys, strict=True)}
    scalars = [name for name, v in arrays.items() if v.ndim == 0]
    if scalars:
        raise DataError(
            f"{scalars[0]} is a scalar; expected an array with one row per sample (batch first)"
        )
    sizes = {name: len(v) for name, v in arrays.items()}
    if sample_weight is not None and class_weight is not None:
        raise DataError(  # Keras' rule: which of the two would win is a guess
            "give `sample_weight` or `class_weight`, not both; fold the class weights into "
            "the sample weights instead"
        )
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float32)
    if class_weight is not None:
        w = class_sample_weights(ys[0], class_weight)
    if w is not None:
        sizes["sample_weight"] = len(w)
    if len(set(sizes.values())) > 1:
        raise DataError(f"all arrays need the same number of samples. Received: {sizes}")
    return Arrays(xs, ys, w)


def split_validation(data: Arrays, fraction: float) -> tuple[Arrays, Arrays]:
    """Keras: the *last* `fraction` of the samples, taken before any shuffling."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation_split must be in [0, 1). Received: {fraction}")
    split = int(len(data) * (1.0 - fraction))
    if split == 0 or split == len(data):
        raise DataError(f"validation_split={fraction} leaves an empty set of {len(data)} samples")
    return data.take(slice(0, split)), data.take(slice(split, None))


def batches(data: Arrays, batch_size: int, order: np.ndarray | None = None) -> Iterator[Arrays]:
    """Consecutive batches (of `order`, when given); the last one may be smaller."""
    total = len(data)
    for start in range(0, total, batch_size):
        index = (
            slice(start, start + batch_size) if order is None else order[start : start + batch_size]
        )
        yield data.take(index)


def executions(batches: Iterator[Arrays], size: int) -> Iterator[tuple[int, list[Arrays]]]:
    """Keras' `steps_per_execution`: an epoch's batches `size` at a time (the last group may
    be shorter), each with the index of its first step (Keras' `begin_step`)."""
    group: list[Arrays] = []
    begin = 0
    for batch in batches:
        group.append(batch)
        if len(group) == size:
            yield begin, group
            begin, group = begin + size, []
    if group:
        yield begin, group


def from_generator_item(
    item: Any, input_names: Sequence[str], output_names: Sequence[str]
) -> Arrays:
    """A generator's `(x, y)` or `(x, y, sample_weight)` as `Arrays`."""
    if not isinstance(item, tuple) or len(item) not in (2, 3):
        raise DataError(
            "a training generator must yield (x, y) or (x, y, sample_weight). "
            f"Received: {type(item).__name__}"
        )
    return make_arrays(
        item[0], item[1], input_names, output_names, item[2] if len(item) == 3 else None
    )


def pad_batch(array: np.ndarray, size: int) -> np.ndarray:
    """`array` with zero rows appended up to `size` (a last partial batch of `predict`)."""
    padding = [(0, size - len(array))] + [(0, 0)] * (array.ndim - 1)
    return np.pad(array, padding)
