"""Bad data is one `kspec.DataError` at the boundary, in Keras' words, before anything compiles:
inputs (shape, rank, dtype kind), labels (against the loss and the output), batch sizes, and
the CLI's data files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import kspec
from kspec.runtime.cli import main
from tests.parity.harness import keras_side

SPEC = {
    "kspec": 1,
    "name": "unet",
    "inputs": {"image": [6, 6, 1]},
    "layers": [
        {"type": "Conv2D", "filters": 2, "kernel_size": 3, "name": "conv1"},
        {"type": "Flatten"},
        {"type": "Dense", "units": 4, "activation": "softmax", "name": "head"},
    ],
    "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
}
WHERE = "error: Input 'image' of model 'unet' is incompatible"
X = np.zeros((8, 6, 6, 1), np.float32)


@pytest.fixture(scope="module")
def model() -> kspec.Model:
    return kspec.load(SPEC)


def _error(call: object) -> str:
    with pytest.raises(kspec.DataError) as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, ValueError)  # what Keras raises for the same mistakes
    return str(info.value)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (np.zeros((32, 8, 8, 1)), "expected shape (None, 6, 6, 1), received (32, 8, 8, 1) "
         "(it feeds node 'conv1')"),
        (np.zeros((6, 6, 1)), "expected shape (None, 6, 6, 1), received (6, 6, 1) (it feeds "
         "node 'conv1'); one sample needs a batch axis: x[None]"),
        (np.zeros((4, 6, 6)), "expected shape (None, 6, 6, 1), received (4, 6, 6) (it feeds "
         "node 'conv1'); add the trailing axis: x[..., None]"),
        (np.array(3.0), "expected shape (None, 6, 6, 1), received () (it feeds node 'conv1'); "
         "a batch of samples is needed, not a scalar"),
        (np.array(["a", "b"]), "expected float32 values, received strings (it feeds node "
         "'conv1')"),
    ],
    ids=["dims", "no_batch_axis", "rank", "scalar", "strings"],
)  # fmt: skip
def test_predict_checks_inputs(model: kspec.Model, x: np.ndarray, expected: str) -> None:
    assert _error(lambda: model.predict(x)) == f"{WHERE}: {expected}"


def test_fit_evaluate_and_generators_check_inputs(model: kspec.Model) -> None:
    bad = np.zeros((8, 5, 5, 1), np.float32)
    message = (
        f"{WHERE}: expected shape (None, 6, 6, 1), received (8, 5, 5, 1) (it feeds node 'conv1')"
    )
    assert _error(lambda: model.fit(bad, np.zeros(8), verbose=0)) == message
    assert _error(lambda: model.evaluate(bad, np.zeros(8))) == message
    generator = ((bad, np.zeros(8)) for _ in range(3))
    assert _error(lambda: model.fit(generator, steps_per_epoch=2, verbose=0)) == message


def test_integer_inputs_refuse_floats() -> None:
    spec = {"kspec": 1, "name": "words", "inputs": {"ids": {"shape": [3], "dtype": "int32"}},
            "layers": [{"type": "Embedding", "input_dim": 5, "output_dim": 2}]}  # fmt: skip
    words = kspec.load(spec)
    assert _error(lambda: words.predict(np.full((2, 3), 1.5))) == (
        "error: Input 'ids' of model 'words' is incompatible: expected integer values (int32), "
        "received float64 (it feeds node 'embedding'); pass x.astype('int32')"
    )
    assert words.predict(np.ones((2, 3), np.int64)).shape == (2, 3, 2)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_batch_size_must_be_positive(model: kspec.Model, batch_size: object) -> None:
    expected = f"error: batch_size must be a positive integer. Received: batch_size={batch_size!r}"
    assert _error(lambda: model.predict(X, batch_size=batch_size)) == expected
    assert _error(lambda: model.fit(X, np.zeros(8), batch_size=batch_size, verbose=0)) == expected
    assert _error(lambda: model.evaluate(X, np.zeros(8), batch_size=batch_size)) == expected


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        (np.eye(4)[np.arange(8) % 4], "shape (8, 4) looks one-hot, but "
         "'sparse_categorical_crossentropy' takes class ids of shape (None,); use loss "
         "'categorical_crossentropy', or pass y.argmax(-1)"),
        (np.arange(8) - 2, "class ids must be in [0, 4) for an output of 4 classes. Received: "
         "ids from -2 to 5"),
        (np.full(8, 0.5), "class ids must be whole numbers. Received: float64"),
        (np.zeros((8, 3)), "shape (8, 3) does not fit the output's shape (None, 4); "
         "'sparse_categorical_crossentropy' takes class ids of shape (None,)"),
        (np.array(["a"] * 8), "expected numbers, received strings"),
    ],
    ids=["one_hot", "out_of_range", "fractional", "shape", "strings"],
)  # fmt: skip
def test_sparse_labels(model: kspec.Model, y: np.ndarray, expected: str) -> None:
    message = f"error: labels for output 'head': {expected}"
    assert _error(lambda: model.fit(X, y, verbose=0)) == message
    assert _error(lambda: model.evaluate(X, y)) == message


def test_nan_labels_are_an_error(model: kspec.Model) -> None:
    y = np.zeros(8)
    y[[1, 5]] = np.nan
    assert _error(lambda: model.fit(X, y, verbose=0)) == (
        "error: labels for output 'head' contain NaN (2 of 8 values): the loss would be NaN; "
        "drop or fill those samples"
    )


def test_class_ids_for_categorical_crossentropy() -> None:
    model = kspec.load(
        {**SPEC, "compile": {"optimizer": "sgd", "loss": "categorical_crossentropy"}}
    )
    assert _error(lambda: model.fit(X, np.arange(8) % 4, verbose=0)) == (
        "error: labels for output 'head': shape (8,) looks like class ids, but "
        "'categorical_crossentropy' takes one-hot labels of shape (None, 4); use loss "
        "'sparse_categorical_crossentropy', or one-hot encode the labels"
    )


def test_regression_labels_squeezed_or_expanded_as_keras() -> None:
    """(N,) labels for an (N, 1) output: Keras expands them (no (N, N) broadcast)."""
    spec = {"kspec": 1, "inputs": {"x": [3]}, "layers": [{"type": "Dense", "units": 1}],
            "compile": {"optimizer": "sgd", "loss": "mse"}}  # fmt: skip
    model = kspec.load(spec)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 3)).astype(np.float32), rng.normal(size=10).astype(np.float32)
    with keras_side():
        keras_model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        keras_model.layers[0].set_weights([rng.normal(size=(3, 1)), rng.normal(size=1)])
        keras_model.compile(optimizer="sgd", loss="mse")
        expected = keras_model.evaluate(x, y, batch_size=4, verbose=0)
    model.set_weights(keras_model.get_weights())
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=4), expected, rtol=1e-5)
    assert _error(lambda: model.evaluate(x, np.zeros((10, 2)))) == (
        "error: labels for output 'dense': shape (10, 2) does not match the output's shape "
        "(None, 1) (loss 'mean_squared_error')"
    )


def test_cli_refuses_bad_counts_and_wrong_validation_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "m.json"
    spec.write_text(json.dumps(SPEC))
    np.savez(tmp_path / "d.npz", image=X, head=np.zeros(8))
    np.savez(tmp_path / "v.npz", image=np.zeros((4, 3, 3, 1)), head=np.zeros(4))
    for flag in ("--epochs", "--batch-size"):
        with pytest.raises(SystemExit) as info:
            main(["fit", str(spec), "--data", str(tmp_path / "d.npz"), "--out",
                  str(tmp_path / "run"), flag, "0"])  # fmt: skip
        assert info.value.code == 2
        assert f"argument {flag}: must be at least 1. Received: 0" in capsys.readouterr().err
    args = ["fit", str(spec), "--data", str(tmp_path / "d.npz"), "--val", str(tmp_path / "v.npz"),
            "--out", str(tmp_path / "run"), "--verbose", "0"]  # fmt: skip
    assert main(args) == 1
    assert capsys.readouterr().err.strip() == (
        f"{WHERE}: expected shape (None, 6, 6, 1), received (4, 3, 3, 1) (it feeds node 'conv1')"
    )


def test_cli_data_files_that_cannot_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """FIFOs and devices are refused before they are opened (no hang); damaged files, wrong
    arrays and unwritable outputs are one error line each, bounded in time."""
    run = tmp_path / "run"
    kspec.load(SPEC).save_weights(run / "model")
    os.mkfifo(tmp_path / "pipe.npy")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not a zip")
    np.save(tmp_path / "x.npy", X)
    cases = {
        str(tmp_path / "pipe.npy"): f"error: {tmp_path / 'pipe.npy'}: not a regular file; give an "
        ".npy or .npz file",
        "/dev/zero": "error: /dev/zero: not a regular file; give an .npy or .npz file",
        str(tmp_path / "bad.npz"): f"error: {tmp_path / 'bad.npz'}: cannot read arrays (",
    }
    started = time.monotonic()
    for source, expected in cases.items():
        assert main(["evaluate", str(run), "--data", source]) == 1
        assert capsys.readouterr().err.startswith(expected)
        assert main(["predict", str(run), "--input", source, "-o", str(tmp_path / "y.npy")]) == 1
        assert capsys.readouterr().err.startswith(expected)
    missing = tmp_path / "missing" / "y.npy"
    assert main(["predict", str(run), "--input", str(tmp_path / "x.npy"), "-o", str(missing)]) == 1
    assert capsys.readouterr().err == f"error: {missing}: No such file or directory\n"
    assert time.monotonic() - started < 60
