"""A conformance case against Keras 3: the same one-layer model on both sides, Keras' weights
randomised and copied into kspec, outputs compared (tests/parity/harness.py)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from kspec.compiler.conformance import BATCH
from tests.conformance.cases import KerasReference
from tests.parity.harness import assert_parity, keras_side


def _inputs(row: KerasReference) -> list[np.ndarray]:
    """Standard normal inputs (ids below `input_dim` for an integer case), unknown lengths 3."""
    rng = np.random.default_rng(0)
    arrays = []
    for shape in row.case.shapes:
        concrete = (BATCH, *(3 if d is None else d for d in shape))
        if row.case.dtype.startswith("int"):
            ids = rng.integers(0, row.case.params["input_dim"], concrete)
            arrays.append(ids.astype(row.case.dtype))
        else:
            arrays.append(rng.standard_normal(concrete).astype(np.float32))
    return arrays


def _keras_model(row: KerasReference) -> keras.Model:
    layer = (
        row.keras_layer()
        if row.keras_layer is not None
        else getattr(keras.layers, row.type_name)(**row.case.params)
    )
    inputs = [keras.Input(tuple(s), dtype=row.case.dtype) for s in row.case.shapes]
    if row.positional:
        outputs: Any = layer(*inputs)
    else:
        outputs = layer(inputs if len(inputs) > 1 else inputs[0])
    return keras.Model(inputs, outputs)


def check_against_keras(row: KerasReference) -> None:
    """`row.case` in kspec equals Keras' layer at inference, every weight random."""
    keras.utils.set_random_seed(0)
    shapes = row.case.shapes
    inputs = {f"x{i}": {"shape": s, "dtype": row.case.dtype} for i, s in enumerate(shapes)}
    layer = {"type": row.type_name, **row.case.params}
    if len(shapes) > 1:
        layer["inputs"] = list(inputs)
    spec = {"kspec": 1, "inputs": inputs, "layers": [layer]}
    with keras_side():
        model = _keras_model(row)
    data = _inputs(row)
    assert_parity(spec, model, data if len(data) > 1 else data[0])
