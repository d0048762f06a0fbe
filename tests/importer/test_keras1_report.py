"""A Keras 1 config's parameter names are renamed by the importer and listed in
`import-report.txt`, one line per rename (layer, old name -> new name), with no deprecation
warning reaching the user (the suite turns warnings into errors: one would fail these tests).

The expected renames are Keras 2's own table of Keras 1 names (keras 2.2.4
`legacy/interfaces.py`: `generate_legacy_interface` for Dense, `conv2d_args_preprocessor`
and the `Conv2D` interface), not kspec's output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import kspec
from kspec.runtime.cli import main
from tests.parity.harness import ATOL, RTOL, random_input

CONV = {"class_name": "Convolution2D", "config": {
    "name": "conv", "nb_filter": 2, "nb_row": 3, "nb_col": 2, "init": "glorot_uniform",
    "activation": "relu", "border_mode": "same", "subsample": [1, 1], "dim_ordering": "tf",
    "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
    "W_constraint": None, "b_constraint": None, "bias": True, "trainable": True,
    "batch_input_shape": [None, 5, 5, 3], "input_dtype": "float32"}}  # fmt: skip
DENSE = {"class_name": "Dense", "config": {
    "output_dim": 2, "init": "glorot_uniform", "activation": "linear", "W_regularizer": None,
    "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
    "b_constraint": None, "bias": True, "input_dim": None, "name": "dense",
    "trainable": True}}  # fmt: skip
KERAS1 = {
    "class_name": "Sequential",
    "keras_version": "1.2.2",
    "backend": "tensorflow",
    "config": [CONV, {"class_name": "Flatten", "config": {"name": "flat"}}, DENSE],
}
"""keras 1.2.2 `model.to_json()` of `Sequential([Convolution2D(2, 3, 2, border_mode='same',
activation='relu', input_shape=(5, 5, 3)), Flatten(), Dense(2)])`."""

TRANSLATION = """\
[translation]
source: {source} (Keras 1.2.2, backend tensorflow)
renamed   conv: Keras 1 names `nb_row`, `nb_col` -> `kernel_size`
renamed   conv: Keras 1 name `nb_filter` -> `filters`
renamed   conv: Keras 1 name `subsample` -> `strides`
renamed   conv: Keras 1 name `border_mode` -> `padding`
renamed   conv: Keras 1 name `dim_ordering` -> `data_format` ('tf' -> 'channels_last')
renamed   conv: Keras 1 name `bias` -> `use_bias`
renamed   conv: Keras 1 name `b_regularizer` -> `bias_regularizer`
renamed   conv: Keras 1 name `b_constraint` -> `bias_constraint`
renamed   conv: Keras 1 name `init` -> `kernel_initializer`
renamed   conv: Keras 1 name `W_regularizer` -> `kernel_regularizer`
renamed   conv: Keras 1 name `W_constraint` -> `kernel_constraint`
mapped    conv: Convolution2D -> Convolution2D
mapped    flat: Flatten -> Flatten
renamed   dense: Keras 1 name `output_dim` -> `units`
renamed   dense: Keras 1 name `init` -> `kernel_initializer`
renamed   dense: Keras 1 name `W_regularizer` -> `kernel_regularizer`
renamed   dense: Keras 1 name `b_regularizer` -> `bias_regularizer`
renamed   dense: Keras 1 name `W_constraint` -> `kernel_constraint`
renamed   dense: Keras 1 name `b_constraint` -> `bias_constraint`
renamed   dense: Keras 1 name `bias` -> `use_bias`
mapped    dense: Dense -> Dense

"""


def test_renames_are_report_lines_not_warnings(tmp_path: Path) -> None:
    src = tmp_path / "keras1.json"
    src.write_text(json.dumps(KERAS1))
    out = tmp_path / "model"
    assert main(["--no-compile-cache", "import", str(src), "-o", str(out)]) == 0  # no warning
    report = (out / "import-report.txt").read_text()
    start = report.index("[translation]")
    assert report[start : report.index("[weights]")] == TRANSLATION.format(source=src)
    spec = (out / "spec.yaml").read_text()
    assert "kernel_size" in spec and "nb_row" not in spec


def test_renamed_model_computes_the_keras1_layers() -> None:
    model = kspec.from_keras(json.dumps(KERAS1))
    rng = np.random.default_rng(0)
    k, kb, w, b = (rng.normal(0, 0.5, s).astype(np.float32)
                   for s in [(3, 2, 3, 2), (2,), (50, 2), (2,)])  # fmt: skip
    model.set_weights([k, kb, w, b])
    x = random_input((5, 5, 3))
    padded = np.pad(x, ((0, 0), (1, 1), (0, 1), (0, 0)))  # 'same' for a 3 x 2 kernel
    conv = np.stack([np.stack([np.tensordot(padded[:, i:i + 3, j:j + 2], k, 3)
                               for j in range(5)], 1) for i in range(5)], 1) + kb  # fmt: skip
    expected = np.maximum(conv, 0).reshape(len(x), -1) @ w + b
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)
