"""Hostile and broken files: each a clear `KerasImportError` naming the file (and layer),
read within bounds, and nothing written by `kspec import`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from kspec.errors import KerasImportError
from kspec.runtime.keras_io.importer import import_keras
from tests.importer.legacy_files import randn, write_weights

DENSE = """
kspec: 1
name: d
inputs: {x: {shape: [3]}}
layers: [{type: Dense, name: dense_1, units: 2}]
"""


def dense_file(path: Path, kernel_shape: tuple[int, ...] = (3, 2), count: int = 2) -> Path:
    rng = np.random.default_rng(0)
    weights = [("dense_1/kernel:0", randn(rng, *kernel_shape)), ("dense_1/bias:0", randn(rng, 2))]
    return write_weights(path, [("dense_1", weights[:count])], "2.2.4", "tensorflow")


def test_weights_only_file_loads(tmp_path: Path) -> None:
    file = dense_file(tmp_path / "w.h5")
    model = import_keras(file, spec=DENSE).model
    with h5py.File(file) as f:
        np.testing.assert_array_equal(model.get_weights()[0], f["dense_1/dense_1/kernel:0"][()])


def test_weight_count_mismatch(tmp_path: Path) -> None:
    file = dense_file(tmp_path / "w.h5", count=1)
    with pytest.raises(KerasImportError) as caught:
        import_keras(file, spec=DENSE)
    assert str(caught.value) == (
        f"error: {file}: layer 'dense_1' (Keras layer 'dense_1', group 'dense_1'): expects 2 "
        "weight(s) [(3, 2), (2,)], the file has 1 [(3, 2)]"
    )


def test_weight_shape_mismatch(tmp_path: Path) -> None:
    file = dense_file(tmp_path / "w.h5", kernel_shape=(4, 2))
    with pytest.raises(
        KerasImportError,
        match=r"layer 'dense_1'.*weight shapes differ: "
        r"#0 is \(4, 2\) there, \(3, 2\) here",
    ):
        import_keras(file, spec=DENSE)


def test_truncated_h5(tmp_path: Path) -> None:
    file = dense_file(tmp_path / "w.h5")
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(KerasImportError, match=r"w.h5: not a readable HDF5 file"):
        import_keras(file, spec=DENSE)


def test_non_keras_h5(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["images"] = np.zeros((2, 2))
    with pytest.raises(KerasImportError, match=r"data.h5: not a Keras weights file"):
        import_keras(tmp_path / "data.h5", spec=DENSE)


def test_external_link_refused(tmp_path: Path) -> None:
    dense_file(tmp_path / "other.h5")
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = [b"dense_1"]
        f["dense_1"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/dense_1")
    with pytest.raises(KerasImportError, match="'dense_1' in / links outside the file; refused"):
        import_keras(tmp_path / "w.h5", spec=DENSE)


def test_huge_dataset_refused_before_reading(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = [b"dense_1"]
        g = f.create_group("dense_1")
        g.attrs["weight_names"] = [b"k", b"b"]
        g.create_dataset("k", shape=(40_000, 40_000), dtype="f4")  # 6.4 GB, never allocated
        g.create_dataset("b", data=np.zeros(2, "f4"))
    message = (
        r"dense_1/k would read 6,400,000,000 bytes of weights, more than twice what the "
        r"model needs \(32 bytes\)"
    )
    with pytest.raises(KerasImportError, match=message):
        import_keras(tmp_path / "w.h5", spec=DENSE)


def keras_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_traversal_refused(tmp_path: Path) -> None:
    file = keras_zip(tmp_path / "m.keras", {"config.json": b"{}", "../../evil.sh": b"x"})
    with pytest.raises(KerasImportError, match=r"member '../../evil.sh' is not a plain relative"):
        import_keras(file, spec=DENSE)


def test_zip_bomb_refused(tmp_path: Path) -> None:
    bomb = b"\0" * (80 * 2**20)  # deflates to ~80 KB
    file = keras_zip(tmp_path / "m.keras", {"config.json": b"{}", "model.weights.h5": bomb})
    assert file.stat().st_size < 2**20
    with pytest.raises(KerasImportError, match=r"model.weights.h5 decompresses to more than"):
        import_keras(file, spec=DENSE)


def test_corrupt_zip(tmp_path: Path) -> None:
    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    with pytest.raises(KerasImportError, match=r"m.keras: not a readable zip archive"):
        import_keras(tmp_path / "m.keras", spec=DENSE)


def test_zip_without_config(tmp_path: Path) -> None:
    file = keras_zip(tmp_path / "m.keras", {"readme.txt": b"hi"})
    with pytest.raises(KerasImportError, match=r"not a Keras archive \(no config.json"):
        import_keras(file, spec=DENSE)


@pytest.mark.slow
def test_cli_failure_writes_nothing(tmp_path: Path) -> None:
    file = dense_file(tmp_path / "w.h5", kernel_shape=(4, 2))
    (tmp_path / "spec.yaml").write_text(DENSE)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "kspec.runtime.cli",
            "import",
            str(file),
            "-o",
            str(tmp_path / "out"),
            "--spec",
            str(tmp_path / "spec.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert "weight shapes differ" in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml", "w.h5"]


@pytest.mark.slow
def test_cli_bytecode_lambda_refused_nothing_written(tmp_path: Path) -> None:
    """A Keras 2 `to_json()` with a Lambda carrying marshalled bytecode (`function` as
    [code, defaults, closure] with `function_type: lambda`, keras 2.2.4 `Lambda.get_config`)."""
    import json

    code = "4wEAAAAAAAAAAQAAAAIAAABTAAAAcwgAAAB8AGQBFABTACkC"  # marshal of `lambda x: x * 2`
    config = {
        "class_name": "Sequential",
        "keras_version": "2.2.4",
        "backend": "tensorflow",
        "config": {"name": "s", "layers": [
            {"class_name": "Dense", "config": {"name": "dense_1", "units": 2,
                                               "batch_input_shape": [None, 3]}},
            {"class_name": "Lambda", "config": {
                "name": "evil", "function": [code, None, None],
                "function_type": "lambda", "output_shape": None, "arguments": {}}},
        ]},
    }  # fmt: skip
    (tmp_path / "model.json").write_text(json.dumps(config))
    run = subprocess.run(
        [sys.executable, "-m", "kspec.runtime.cli", "import", str(tmp_path / "model.json"),
         "-o", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "evil" in run.stderr and "bytecode" in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
