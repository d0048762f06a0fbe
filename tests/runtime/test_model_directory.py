"""One model directory, accepted everywhere (docs/model-directory.md): `build -o`, `fit --out`
and `Model.save` write it; evaluate, predict, summary, plot, `fit --resume` and
`kspec.load_model` read it, a fit run directory, or a spec plus `--weights`. The CLI runs
in-process (`cli.main`), as the subprocess CLI tests already cover the entry point."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.runtime.cli import main

SPEC = """\
kspec: 1
name: two_heads
inputs:
  x: {shape: [4]}
layers:
  - {type: Dense, name: trunk, units: 3, activation: relu}
  - {type: Dense, name: a, units: 2, inputs: [trunk]}
  - {type: Dense, name: b, units: 1, inputs: [trunk]}
outputs: [a, b]
compile:
  optimizer: {type: adam, learning_rate: 0.01}
  loss: mse
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec, data and one 2-epoch `kspec fit` run, shared by the tests below."""
    root = tmp_path_factory.mktemp("modeldir")
    (root / "m.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    arrays = {"x": (16, 4), "a": (16, 2), "b": (16, 1)}
    np.savez(root / "d.npz", **{k: rng.normal(size=s).astype("f4") for k, s in arrays.items()})
    np.save(root / "x.npy", rng.normal(size=(5, 4)).astype("f4"))
    fit = ["fit", root / "m.yaml", "--data", root / "d.npz", "--out", root / "run"]
    assert main([*map(str, fit), "--epochs", "2", "--verbose", "0"]) == 0
    return root


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fit_prints_a_path_evaluate_accepts(work: Path, capsys: pytest.CaptureFixture) -> None:
    model = kspec.load_model(work / "run")
    x, a, b = (np.load(work / "d.npz")[k] for k in ("x", "a", "b"))
    want = model.evaluate(x, [a, b], return_dict=True)
    logs = " - ".join(f"{k}: {v:.4f}" for k, v in want.items())
    run_model = work / "run" / "model"
    manifest = json.loads((run_model / "kspec-model.json").read_text())
    assert manifest == {
        "format": 1,
        "spec": "spec.yaml",
        "checkpoint": "checkpoint",
        "optimizer": "optimizer",
    }
    assert model.iterations == 2
    for source in (run_model, work / "run"):
        assert cli(capsys, "evaluate", source, "--data", work / "d.npz") == (0, logs + "\n", "")
    spec_and_weights = ("evaluate", work / "m.yaml", "--weights", run_model)
    assert cli(capsys, *spec_and_weights, "--data", work / "d.npz") == (0, logs + "\n", "")


def test_every_command_takes_the_directory(work: Path, capsys: pytest.CaptureFixture) -> None:
    code, summary, _ = cli(capsys, "summary", work / "run")
    assert code == 0 and "Total params: 27 (108 B)" in summary
    code, _, err = cli(capsys, "plot", work / "run" / "model", "-o", work / "g.dot")
    assert (code, err) == (0, "") and '"trunk"' in (work / "g.dot").read_text()
    code, _, _ = cli(capsys, "predict", work / "run", "--input", work / "x.npy", "-o",
                       work / "p.npz")  # fmt: skip
    assert code == 0
    want = kspec.load_model(work / "run").predict(np.load(work / "x.npy"))
    with np.load(work / "p.npz") as got:
        assert sorted(got.files) == ["a", "b"]
        np.testing.assert_array_equal(got["a"], want[0])
        np.testing.assert_array_equal(got["b"], want[1])


def test_fit_refuses_a_used_run_directory(work: Path, capsys: pytest.CaptureFixture) -> None:
    again = ("fit", work / "m.yaml", "--data", work / "d.npz", "--out", work / "run")
    code, _, err = cli(capsys, *again, "--verbose", "0")
    assert code == 1
    assert err == (
        f"error: {work / 'run'}: the run directory is not empty (an earlier run?); pass "
        "--resume to continue it or --overwrite to start again\n"
    )
    other = work / "other.yaml"
    other.write_text(SPEC.replace("units: 3", "units: 5"))
    code, _, err = cli(capsys, "fit", other, *again[2:], "--resume", "--verbose", "0")
    assert code == 1
    assert err == (
        f"error: {work / 'run'}: the run was trained from a different spec (or compile "
        "recipe); use a new --out, or --overwrite to start it again\n"
    )


def test_resume_from_the_run_and_overwrite(work: Path, capsys: pytest.CaptureFixture) -> None:
    run = work / "run2"
    first = ("fit", work / "m.yaml", "--data", work / "d.npz", "--out", run, "--verbose", "0")
    assert cli(capsys, *first, "--epochs", "1")[0] == 0
    code, out, _ = cli(capsys, "fit", run, *first[2:], "--epochs", "2", "--resume")
    assert code == 0 and out.startswith("resuming after epoch 1 (step 1)\n")
    assert kspec.load_model(run).iterations == 2
    (run / "notes.txt").write_text("mine")
    assert cli(capsys, *first, "--epochs", "1", "--overwrite")[0] == 0
    assert kspec.load_model(run).iterations == 1
    assert (run / "notes.txt").read_text() == "mine"  # only kspec's own entries go


def test_save_and_load_model_restore_the_whole_model(tmp_path: Path) -> None:
    model = kspec.load(SPEC.split("compile:")[0])
    model.init(3)
    model.compile(optimizer={"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}, loss="mae")
    rng = np.random.default_rng(1)
    x, ya, yb = rng.normal(size=(8, 4)), rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    model.train_on_batch(x, [ya, yb])
    model.save(tmp_path / "saved")
    loaded = kspec.load_model(tmp_path / "saved")
    assert loaded.spec.compile is not None
    assert loaded.spec.compile.model_dump(exclude_none=True)["loss"] == "mae"
    assert loaded.iterations == 1
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    # the same next step: same optimizer, same momentum slots
    model.train_on_batch(x, [ya, yb])
    loaded.train_on_batch(x, [ya, yb])
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_build_writes_a_model_directory(work: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(capsys, "build", work / "m.yaml", "-o", work / "built")[0] == 0
    built = kspec.load_model(work / "built")
    fresh = kspec.load(work / "m.yaml")
    fresh.init(0)
    for got, want in zip(built.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    code, out, _ = cli(capsys, "evaluate", work / "built", "--data", work / "d.npz")
    assert code == 0 and out.startswith("loss: ")


def test_build_seed_and_batch_size(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`--seed` is the seed of `Model.init`; `--batch-size` the batch the apply is compiled
    and the memory priced for: 1 sample of a 1,000-unit layer fits 1 MiB, 10,000 do not."""
    args = ("build", work / "m.yaml", "-o", tmp_path / "s3", "--seed", "3", "--batch-size", "8")
    code, out, _ = cli(capsys, *args)
    assert code == 0 and "compiled apply for batch 8 in " in out
    built = kspec.load_model(tmp_path / "s3").get_weights()
    kernels = built[::2]  # (biases start at zero whatever the seed)
    for seed, same in ((3, True), (0, False)):
        fresh = kspec.load(work / "m.yaml")
        fresh.init(seed)
        fresh_kernels = fresh.get_weights()[::2]
        equal = [np.array_equal(a, b) for a, b in zip(kernels, fresh_kernels, strict=True)]
        assert equal == [same] * 3, seed
    (tmp_path / "wide.yaml").write_text(
        "kspec: 1\ninputs: {x: [10]}\nlayers: [{type: Dense, units: 1000}]\n"
    )
    wide = ("build", tmp_path / "wide.yaml", "--max-memory", "1M", "-o")
    assert cli(capsys, *wide, tmp_path / "one", "--batch-size", "1")[0] == 0
    code, _, err = cli(capsys, *wide, tmp_path / "many", "--batch-size", "10000")
    assert code == 1 and "at batch size 10000" in err and "--max-memory budget (1.0 MiB)" in err
    assert not (tmp_path / "many").exists()


def test_fit_val_reports_the_validation_arrays(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`kspec fit --val` logs `val_*` per epoch: those of the same fit in Python with
    `validation_data` (and nothing when `--val` is left out, as the module's run shows)."""
    rng = np.random.default_rng(1)
    val = {"x": (6, 4), "a": (6, 2), "b": (6, 1)}
    np.savez(tmp_path / "v.npz", **{k: rng.normal(size=s).astype("f4") for k, s in val.items()})
    fit = ("fit", work / "m.yaml", "--data", work / "d.npz", "--val", tmp_path / "v.npz")
    assert cli(capsys, *fit, "--out", tmp_path / "run", "--epochs", "2", "--verbose", "0")[0] == 0
    with open(tmp_path / "run" / "history.csv") as file:
        logged = list(csv.DictReader(file))
    model = kspec.load(work / "m.yaml")
    model.init(0)
    with np.load(work / "d.npz") as d, np.load(tmp_path / "v.npz") as v:
        history = model.fit(
            d["x"],
            [d["a"], d["b"]],
            epochs=2,
            verbose=0,
            validation_data=(v["x"], [v["a"], v["b"]]),
        ).history
    val_names = [name for name in history if name.startswith("val_")]
    assert val_names and set(val_names) <= set(logged[0])
    for name in val_names:
        np.testing.assert_allclose([float(r[name]) for r in logged], history[name], rtol=1e-5)
    with open(work / "run" / "history.csv") as file:
        assert not any(name.startswith("val_") for name in next(csv.DictReader(file)))


def test_refusals(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("x")
    code, _, err = cli(capsys, "evaluate", tmp_path / "junk", "--data", work / "d.npz")
    assert code == 1
    assert err.startswith(f"error: {tmp_path / 'junk'}: not a kspec model directory (no kspec")
    model = kspec.load(work / "m.yaml")
    with pytest.raises(kspec.CheckpointError, match="is not empty and not a kspec model"):
        model.save(tmp_path / "junk")
    code, _, err = cli(capsys, "summary", work / "run", "--weights", work / "run")
    assert code == 1 and "--weights goes with a spec file" in err


def test_a_recipe_of_python_objects_is_left_out_with_a_warning(tmp_path: Path) -> None:
    import optax

    model = kspec.load(SPEC.split("compile:")[0])
    model.compile(optimizer=optax.sgd(0.1), loss="mse")
    model.train_on_batch(np.ones((2, 4)), [np.ones((2, 2)), np.ones((2, 1))])
    with pytest.warns(UserWarning, match="the compile recipe holds Python objects"):
        model.save(tmp_path / "saved")
    manifest = json.loads((tmp_path / "saved" / "kspec-model.json").read_text())
    assert manifest["optimizer"] is None and not (tmp_path / "saved" / "optimizer").exists()
    loaded = kspec.load_model(tmp_path / "saved")
    assert loaded.spec.compile is None
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def test_fit_continues_a_model_directory(work: Path, capsys: pytest.CaptureFixture) -> None:
    """`kspec fit DIR` starts from DIR's weights, optimizer state and step count."""
    start = work / "run" / "model"
    args = ("fit", start, "--data", work / "d.npz", "--out", work / "run3", "--verbose", "0")
    assert cli(capsys, *args, "--epochs", "1")[0] == 0
    model = kspec.load_model(start)
    with np.load(work / "d.npz") as data:
        model.fit(data["x"], [data["a"], data["b"]], epochs=1, verbose=0)
    continued = kspec.load_model(work / "run3")
    assert continued.iterations == model.iterations == 3
    for got, want in zip(continued.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_kspec_import_writes_a_model_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import keras

    source = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    source.set_weights([np.arange(6, dtype="f4").reshape(3, 2), np.array([1, -1], "f4")])
    source.save(tmp_path / "m.keras")
    assert cli(capsys, "import", tmp_path / "m.keras", "-o", tmp_path / "imported")[0] == 0
    assert (tmp_path / "imported" / "kspec-model.json").is_file()
    loaded = kspec.load_model(tmp_path / "imported")
    for got, want in zip(loaded.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
