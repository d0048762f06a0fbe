"""Data checked against the spec at the boundary, before anything compiles: each input's rank,
fixed dims and dtype kind, each label array against its output and loss, batch sizes.

A mistake here is one `DataError` in Keras' words ("Input 'image' of model 'unet' is
incompatible: expected shape (None, 16, 16, 1), received (32, 28, 28, 1)") naming the node
that consumes the input, with the fix when there is an obvious one, instead of a `zip()`
error, a raw `dot_general` TypeError or a silently broadcast loss. Value checks (class ids in
range, NaN labels) scan numpy arrays once per call on the host; generator batches get the
shape checks only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kspec.compiler import CompiledModel
from kspec.errors import DataError

_INTEGER_KINDS = "biu"
_NUMERIC_KINDS = "biuf"
_KIND_NAMES = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers",
               "M": "datetimes", "m": "time deltas"}  # fmt: skip
_SPARSE = "sparse_categorical_crossentropy"
_ONE_HOT = ("categorical_crossentropy", "categorical_hinge", "kl_divergence")


def check_batch_size(batch_size: Any, what: str = "batch_size") -> int:
    """A positive integer batch size (Keras' default 32 for None)."""
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise DataError(f"{what} must be a positive integer. Received: {what}={batch_size!r}")
    if batch_size <= 0:
        raise DataError(f"{what} must be a positive integer. Received: {what}={batch_size}")
    return int(batch_size)


def check_inputs(compiled: CompiledModel, named: Mapping[str, np.ndarray]) -> None:
    """Every input array fits its declared shape (batch axis first) and dtype kind."""
    for name, array in named.items():
        declared = compiled.spec.inputs[name]
        expected = (declared.batch_size, *declared.shape)
        kind = array.dtype.kind
        wants_int = np.dtype(declared.dtype).kind in _INTEGER_KINDS
        if kind not in _NUMERIC_KINDS and array.dtype.name != "bfloat16":
            found = _KIND_NAMES.get(kind, array.dtype.name)
            raise DataError(
                f"{_where(compiled, name)}: expected {declared.dtype} values, received {found}"
                f"{_feeds(compiled, name)}"
            )
        if wants_int and kind == "f":
            raise DataError(
                f"{_where(compiled, name)}: expected integer values ({declared.dtype}), "
                f"received {array.dtype.name}{_feeds(compiled, name)}; "
                f"pass x.astype('{declared.dtype}')"
            )
        if not _fits(array.shape, expected):
            raise DataError(
                f"{_where(compiled, name)}: expected shape {_shape(expected)}, received "
                f"{_shape(array.shape)}{_feeds(compiled, name)}"
                f"{_shape_hint(array.shape, expected)}"
            )


def _where(compiled: CompiledModel, name: str) -> str:
    return f"Input '{name}' of model '{compiled.spec.name}' is incompatible"


def _feeds(compiled: CompiledModel, name: str) -> str:
    """Which node the input feeds, for the message (a scan of the graph: only on error)."""
    feeds = _first_consumer(compiled, name)
    return f" (it feeds node '{feeds}')" if feeds else ""


def _first_consumer(compiled: CompiledModel, name: str) -> str | None:
    for node in compiled.graph.nodes:
        if any(ref.node == name for ref in node.inputs):
            return node.name
    return None


def _fits(shape: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    return len(shape) == len(expected) and all(
        e is None or e == d for d, e in zip(shape, expected, strict=True)
    )


def _shape(shape: Sequence[int | None]) -> str:
    return str(tuple(shape))


def _shape_hint(shape: tuple[int, ...], expected: tuple[int | None, ...]) -> str:
    if not shape:
        return "; a batch of samples is needed, not a scalar"
    if _fits((1, *shape), expected):
        return "; one sample needs a batch axis: x[None]"
    if len(shape) == len(expected) - 1 and expected[-1] == 1 and _fits((*shape, 1), expected):
        return "; add the trailing axis: x[..., None]"
    return ""


def conform_labels(
    compiled: CompiledModel,
    names: Sequence[str],
    ys: Sequence[np.ndarray],
    loss_names: Sequence[str | None],
    values: bool,
) -> list[np.ndarray]:
    """Labels checked against each output's shape and loss (values too, when `values`), with
    a rank that differs by a trailing 1 made equal, as Keras' `squeeze_or_expand_to_same_rank`
    does (else `mse` of (N,) labels and an (N, 1) output would broadcast to (N, N))."""
    return [
        _one_label(name, y, tuple(shape), loss, values)
        for name, y, shape, loss in zip(names, ys, compiled.output_shapes, loss_names, strict=True)
    ]


def _one_label(
    name: str, y: np.ndarray, output: tuple[int | None, ...], loss: str | None, values: bool
) -> np.ndarray:
    where = f"labels for output '{name}'"
    if y.dtype.kind not in _NUMERIC_KINDS:
        found = _KIND_NAMES.get(y.dtype.kind, y.dtype.name)
        raise DataError(f"{where}: expected numbers, received {found}")
    if y.ndim == 0:
        raise DataError(f"{where}: expected one label per sample, received a scalar")
    if values and y.dtype.kind == "f" and np.isnan(y).any():
        count = int(np.isnan(y).sum())
        raise DataError(
            f"{where} contain NaN ({count} of {y.size} values): the loss would be NaN; "
            "drop or fill those samples"
        )
    if loss is None:
        return y
    if loss == _SPARSE:
        return _sparse_label(where, y, output, values)
    if (
        loss in _ONE_HOT
        and output[-1] not in (None, 1)
        and _fits((*y.shape, 1), output[:-1] + (1,))
    ):
        raise DataError(
            f"{where}: shape {_shape(y.shape)} looks like class ids, but '{loss}' takes one-hot "
            f"labels of shape {_shape(output)}; use loss 'sparse_categorical_crossentropy', or "
            "one-hot encode the labels"
        )
    if y.ndim == len(output) - 1 and output[-1] == 1:
        y = y[..., None]
    elif y.ndim == len(output) + 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if not _fits(y.shape, output):
        raise DataError(
            f"{where}: shape {_shape(y.shape)} does not match the output's shape "
            f"{_shape(output)} (loss '{loss}')"
        )
    return y


def _sparse_label(
    where: str, y: np.ndarray, output: tuple[int | None, ...], values: bool
) -> np.ndarray:
    classes = output[-1]
    if _fits(y.shape, output) and classes not in (None, 1):
        raise DataError(
            f"{where}: shape {_shape(y.shape)} looks one-hot, but "
            f"'sparse_categorical_crossentropy' takes class ids of shape {_shape(output[:-1])}; "
            "use loss 'categorical_crossentropy', or pass y.argmax(-1)"
        )
    if not (_fits(y.shape, output[:-1]) or _fits(y.shape, (*output[:-1], 1))):
        raise DataError(
            f"{where}: shape {_shape(y.shape)} does not fit the output's shape {_shape(output)}; "
            f"'sparse_categorical_crossentropy' takes class ids of shape {_shape(output[:-1])}"
        )
    if values and classes is not None and y.size:
        if y.dtype.kind == "f" and not np.all(np.floor(y) == y):
            raise DataError(f"{where}: class ids must be whole numbers. Received: {y.dtype}")
        low, high = y.min(), y.max()
        if low < 0 or high >= classes:
            raise DataError(
                f"{where}: class ids must be in [0, {classes}) for an output of {classes} "
                f"classes. Received: ids from {low:g} to {high:g}"
            )
    return y
