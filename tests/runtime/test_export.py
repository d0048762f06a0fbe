"""`kspec.export` / `kspec export`: StableHLO artifacts that load and run without kspec.

Every bundled example (plus a null-length LSTM, a baked and a train-mode export) is exported
once (module fixture); one subprocess in which `import kspec` fails runs the loader code block
of docs/export.md, verbatim, on all of them, and its results are compared with `predict`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from jax.extend.core import Primitive
from jax.interpreters import mlir

import kspec
from kspec.runtime.build import build
from kspec.runtime.checkpoint import save_variables
from kspec.runtime.export import lower
from kspec.runtime.export_cli import load_source
from kspec.runtime.export_shapes import arg_specs
from kspec.runtime.export_verify import verify_export

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
DOC = ROOT / "docs" / "export.md"
KSPEC = Path(sys.executable).parent / "kspec"

TEXT_LSTM = {
    "kspec": 1,
    "name": "text_lstm",
    "inputs": {"words": {"shape": [None], "dtype": "int32"}},
    "layers": [
        {"type": "Embedding", "input_dim": 50, "output_dim": 8, "mask_zero": True},
        {"type": "LSTM", "units": 6},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}
BN_DROPOUT = {
    "kspec": 1,
    "name": "bn_dropout",
    "inputs": {"x": {"shape": [5]}},
    "layers": [
        {"type": "Dense", "units": 4},
        {"type": "BatchNormalization"},
        {"type": "Dropout", "rate": 0.5},
    ],
}
LENGTHS = ((3, 5), (2, 11))  # (batch, length) for the null-length LSTM

DRIVER = """
import json, sys
import jax
import numpy as np

for case in json.loads(sys.argv[1]):
    fn = load_exported(case["dir"])
    with np.load(case["inputs"]) as data:
        inputs = {name: data[name] for name in data.files}
    if case["rng"] is None:
        results = {"outputs": fn(inputs)}
    else:
        outputs, state = fn(inputs, jax.random.PRNGKey(case["rng"]))
        results = {"outputs": outputs, "state": state}
    flat = {f"{g}/{n}": np.asarray(a) for g, arrays in results.items() for n, a in arrays.items()}
    np.savez(case["out"], **flat)
try:
    import kspec
except ImportError:
    print("kspec is not importable")
"""


def loader_snippet() -> str:
    """The first code block under "## Loading without kspec" in docs/export.md, verbatim."""
    section = DOC.read_text().split("## Loading without kspec", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def sample(model: kspec.Model, batch: int, length: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, spec in model.spec.inputs.items():
        shape = (batch, *(length if d is None else d for d in spec.shape))
        if np.dtype(spec.dtype).kind == "i":
            words = rng.integers(1, 8, size=shape)
            words[0, shape[1] // 2 :] = 0  # padding: masked steps
            inputs[name] = words.astype(spec.dtype)
        else:
            inputs[name] = rng.normal(size=shape).astype(spec.dtype)
    return inputs


def run_kspec_free(cases: list[dict[str, Any]], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys\nsys.modules['kspec'] = None\n" + loader_snippet() + DRIVER
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-c", code, json.dumps(cases)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def add_case(cases: list, root: Path, key: str, directory: Path, inputs: dict, rng=None) -> None:
    np.savez(root / f"{key}.in.npz", **inputs)
    cases.append(
        {
            "key": key,
            "dir": str(directory),
            "inputs": str(root / f"{key}.in.npz"),
            "out": str(root / f"{key}.out.npz"),
            "rng": rng,
        }
    )


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Export every case once (no verify step: the comparisons below are the check), run the
    kspec-free loader over all of them in one subprocess; return models, dirs and results."""
    root = tmp_path_factory.mktemp("exports")
    models, dirs, inputs, cases = {}, {}, {}, []
    sources = {p.stem: p for p in EXAMPLES} | {"text_lstm": TEXT_LSTM, "bn_dropout": BN_DROPOUT}
    sources["mlp_bfloat16"] = {**yaml.safe_load((ROOT / "examples" / "mlp.yaml").read_text()),
                               "dtype_policy": "bfloat16"}  # fmt: skip
    for name, source in sources.items():
        model = kspec.load(source)
        model.init(1)
        models[name] = model
        dirs[name] = root / name
        kspec.export(model, dirs[name], verify=False, training=name == "bn_dropout")
    dirs["mlp_baked"] = root / "mlp_baked"
    kspec.export(models["mlp"], dirs["mlp_baked"], bake_weights=True, verify=False)
    for name in [p.stem for p in EXAMPLES] + ["mlp_baked", "mlp_bfloat16"]:
        model = models[name.removesuffix("_baked")]
        inputs[name] = sample(model, 3, 0, seed=len(cases))
        add_case(cases, root, f"{name}.3", dirs[name], inputs[name])
        add_case(cases, root, f"{name}.1", dirs[name], {k: v[:1] for k, v in inputs[name].items()})
    for batch, length in LENGTHS:
        key = f"text_lstm.{length}"
        inputs[key] = sample(models["text_lstm"], batch, length, seed=length)
        add_case(cases, root, key, dirs["text_lstm"], inputs[key])
    inputs["bn_dropout"] = sample(models["bn_dropout"], 6, 0, seed=0)
    for seed in (0, 1):
        add_case(cases, root, f"bn_dropout.{seed}", dirs["bn_dropout"], inputs["bn_dropout"], seed)
    ran = run_kspec_free(cases, root)
    assert ran.returncode == 0, ran.stderr
    assert "kspec is not importable" in ran.stdout
    results = {}
    for case in cases:
        with np.load(case["out"]) as data:
            results[case["key"]] = {k: data[k] for k in data.files}
    return {"models": models, "dirs": dirs, "inputs": inputs, "results": results}


def outputs_of(model: kspec.Model, predicted: Any) -> dict[str, np.ndarray]:
    predicted = predicted if isinstance(predicted, list) else [predicted]
    return {f"outputs/{n}": p for n, p in zip(model.output_names, predicted, strict=True)}


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert got[name].shape == value.shape, name
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", [p.stem for p in EXAMPLES] + ["mlp_baked"])
def test_example_runs_without_kspec_at_two_batch_sizes(exports: dict, name: str) -> None:
    model = exports["models"][name.removesuffix("_baked")]
    want = outputs_of(model, model.predict(exports["inputs"][name], batch_size=3))
    assert_same(exports["results"][f"{name}.3"], want)
    assert_same(exports["results"][f"{name}.1"], {k: v[:1] for k, v in want.items()})


def test_bfloat16_policy_exports_its_compute_and_weight_dtypes(exports: dict) -> None:
    """`dtype_policy: bfloat16`: bfloat16 weights (raw 2-byte records in weights.npz, which
    the documented loader views back) and outputs, the same values as `predict`."""
    model, x = exports["models"]["mlp_bfloat16"], exports["inputs"]["mlp_bfloat16"]
    signature = json.loads((exports["dirs"]["mlp_bfloat16"] / "signature.json").read_text())
    assert signature["dtype_policy"] == "bfloat16"
    assert signature["outputs"] == [{"name": "dense_2", "dtype": "bfloat16", "shape": ["b", 10]}]
    assert {w["dtype"] for w in signature["weights"]} == {"bfloat16"}
    want = model.predict(x, batch_size=3)
    got = exports["results"]["mlp_bfloat16.3"]["outputs/dense_2"].view(jnp.bfloat16)
    assert want.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(want, np.float32))


def test_null_length_lstm_runs_at_two_lengths_from_one_artifact(exports: dict) -> None:
    model = exports["models"]["text_lstm"]
    for batch, length in LENGTHS:
        x = exports["inputs"][f"text_lstm.{length}"]
        assert x["words"].shape == (batch, length)
        want = outputs_of(model, model.predict(x, batch_size=batch))
        assert_same(exports["results"][f"text_lstm.{length}"], want)
    signature = json.loads((exports["dirs"]["text_lstm"] / "signature.json").read_text())
    assert signature["inputs"] == [{"name": "words", "dtype": "int32", "shape": ["b", "s1"]}]
    assert signature["outputs"] == [{"name": "dense", "dtype": "float32", "shape": ["b", 3]}]
    assert signature["symbols"] == {"b": "batch (axis 0 of every input)", "s1": "words axis 1"}
    assert signature["constraints"] == []


def test_training_export_returns_train_mode_outputs_and_state(exports: dict) -> None:
    """Dense -> BatchNormalization -> Dropout(0.5) in train mode, against numpy: batch
    statistics normalize, moving stats move by (1 - momentum), dropout zeroes or doubles."""
    model, x = exports["models"]["bn_dropout"], exports["inputs"]["bn_dropout"]["x"]
    dense = model.variables["params"]["dense"]
    h = x @ np.asarray(dense["kernel"]) + np.asarray(dense["bias"])
    mean, var = h.mean(0), h.var(0)
    normalized = (h - mean) / np.sqrt(var + 1e-3)
    runs = [exports["results"][f"bn_dropout.{seed}"] for seed in (0, 1)]
    for run in runs:
        np.testing.assert_allclose(
            run["state/state/batch_normalization/moving_mean"], 0.01 * mean, rtol=1e-5, atol=1e-7
        )
        np.testing.assert_allclose(
            run["state/state/batch_normalization/moving_variance"],
            0.99 + 0.01 * var,
            rtol=1e-5,
        )
        y = run["outputs/dropout"]
        kept = y != 0
        np.testing.assert_allclose(y[kept], 2 * normalized[kept], rtol=1e-4, atol=1e-5)
        assert 0 < kept.mean() < 1
    assert not np.array_equal(runs[0]["outputs/dropout"] != 0, runs[1]["outputs/dropout"] != 0)
    signature = json.loads((exports["dirs"]["bn_dropout"] / "signature.json").read_text())
    assert signature["function"] == "training"
    assert signature["arguments"] == ["weights", "inputs", "rng"]
    assert signature["results"] == ["outputs", "state"]
    assert signature["rng"] == {"name": "rng", "dtype": "uint32", "shape": [2]}
    assert [s["name"] for s in signature["state"]] == [
        "state/batch_normalization/moving_mean",
        "state/batch_normalization/moving_variance",
    ]


@pytest.mark.parametrize("name", [p.stem for p in EXAMPLES])
def test_signature_describes_the_artifact(exports: dict, name: str) -> None:
    model, directory = exports["models"][name], exports["dirs"][name]
    signature = json.loads((directory / "signature.json").read_text())
    assert signature["format"] == 1 and signature["model"] == model.name
    assert signature["function"] == "inference" and signature["weights_baked"] is False
    assert signature["inputs"] == [
        {"name": n, "dtype": s.dtype, "shape": ["b", *s.shape]}
        for n, s in model.spec.inputs.items()
    ]
    assert signature["outputs"] == [
        {"name": n, "dtype": "float32", "shape": ["b", *shape[1:]]}
        for n, shape in zip(model.output_names, model.compiled.output_shapes, strict=True)
    ]
    with np.load(directory / "weights.npz") as stored:
        listed = [
            {"name": k, "dtype": str(stored[k].dtype), "shape": list(stored[k].shape)}
            for k in stored.files
        ]
    assert signature["weights"] == listed
    names = {f"{group}/{layer}/{w}" for layer, group, w in model.compiled.keras_weights()}
    assert {w["name"] for w in listed} == names
    canonical = json.dumps(model.get_config(), sort_keys=True).encode()
    assert signature["spec_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert signature["kspec_version"] == kspec.__version__
    assert signature["jax_version"] == jax.__version__
    exported = jax.export.deserialize(bytearray((directory / "model.jax").read_bytes()))
    assert signature["platforms"] == list(exported.platforms)
    assert signature["platforms"][0] == "cpu"
    assert signature["calling_convention_version"] == exported.calling_convention_version
    assert signature["weights_file"] == "weights.npz" and signature["checkpoint"] == "checkpoint"


def test_checkpoint_beside_the_artifact_holds_the_same_weights(exports: dict) -> None:
    model = exports["models"]["siamese"]
    again = kspec.load_checkpoint(exports["dirs"]["siamese"] / "checkpoint")
    for mine, theirs in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_baked_weights_are_in_the_program(exports: dict) -> None:
    baked, args = exports["dirs"]["mlp_baked"], exports["dirs"]["mlp"]
    signature = json.loads((baked / "signature.json").read_text())
    assert signature["weights_baked"] is True and signature["weights"] == []
    assert signature["arguments"] == ["inputs"]
    assert signature["weights_file"] is None and signature["checkpoint"] is None
    assert sorted(p.name for p in baked.iterdir()) == ["model.jax", "signature.json"]
    weight_bytes = sum(w.nbytes for w in exports["models"]["mlp"].get_weights())
    assert (baked / "model.jax").stat().st_size > weight_bytes
    assert (args / "model.jax").stat().st_size < weight_bytes / 100


def test_null_dimension_gets_the_least_size_the_layers_need(tmp_path: Path) -> None:
    """A valid Conv1D (kernel 3) then MaxPooling1D(2) needs 4 steps: `s1 >= 4`; the export
    verifies (at lengths 11 and 16) and refuses 3 steps."""
    model = kspec.load(
        {
            "kspec": 1,
            "inputs": {"x": {"shape": [None, 2]}},
            "layers": [
                {"type": "Conv1D", "filters": 3, "kernel_size": 3},
                {"type": "MaxPooling1D", "pool_size": 2},
                {"type": "GlobalAveragePooling1D"},
            ],
        }
    )
    model.init(0)
    assert arg_specs(model.compiled).least == {"s1": 4}
    kspec.export(model, tmp_path / "out", platforms=["cpu"])
    signature = json.loads((tmp_path / "out" / "signature.json").read_text())
    assert signature["constraints"] == ["s1 >= 4"]
    exported = jax.export.deserialize(bytearray((tmp_path / "out" / "model.jax").read_bytes()))
    with np.load(tmp_path / "out" / "weights.npz") as stored:
        weights = dict(stored)
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(
        exported.call(weights, {"x": x})["global_average_pooling1d"],
        model.predict(x),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match=r"^Error refining shapes"):  # jax.export's refusal
        exported.call(weights, {"x": x[:, :3]})
    assert exported.call(weights, {"x": x[:, :4]})["global_average_pooling1d"].shape == (2, 3)


def test_lengths_get_a_symbol_each_unless_the_layers_need_them_equal(tmp_path: Path) -> None:
    def two_sequences(merge: list[dict[str, Any]]) -> kspec.Model:
        return kspec.load(
            {
                "kspec": 1,
                "inputs": {"a": {"shape": [None, 3]}, "b": {"shape": [None, 3]}},
                "layers": merge,
            }
        )

    separate = two_sequences(
        [
            {"type": "LSTM", "name": "la", "units": 2, "inputs": ["a"]},
            {"type": "LSTM", "name": "lb", "units": 2, "inputs": ["b"]},
            {"type": "Concatenate", "inputs": ["la", "lb"]},
        ]
    )
    added = two_sequences([{"type": "Add", "inputs": ["a", "b"]}, {"type": "LSTM", "units": 2}])
    shapes = {}
    for name, model in (("separate", separate), ("added", added)):
        kspec.export(model, tmp_path / name, platforms=["cpu"])  # verified at two lengths
        signature = json.loads((tmp_path / name / "signature.json").read_text())
        shapes[name] = ([i["shape"] for i in signature["inputs"]], signature["symbols"])
    assert shapes["separate"] == (
        [["b", "s1", 3], ["b", "s2", 3]],
        {"b": "batch (axis 0 of every input)", "s1": "a axis 1", "s2": "b axis 1"},
    )
    assert shapes["added"] == (
        [["b", "s1", 3], ["b", "s1", 3]],
        {"b": "batch (axis 0 of every input)", "s1": "a axis 1, b axis 1"},
    )


def test_fixed_batch_size(tmp_path: Path) -> None:
    model = kspec.load(EXAMPLES[0].parent / "siamese.yaml")
    model.init(0)
    kspec.export(model, tmp_path / "out", batch_size=2, platforms=["cpu"])
    signature = json.loads((tmp_path / "out" / "signature.json").read_text())
    assert [i["shape"] for i in signature["inputs"]] == [[2, 16], [2, 16]]
    assert signature["symbols"] == {}
    with pytest.raises(kspec.ExportError, match=r"^error: the batch size must be at least 1\. "):
        kspec.export(model, tmp_path / "zero", batch_size=0)


_TIMES_TWO = Primitive("times_two_cpu_only")
_TIMES_TWO.def_abstract_eval(lambda x: x)
_TIMES_TWO.def_impl(lambda x: 2 * x)
mlir.register_lowering(
    _TIMES_TWO, mlir.lower_fun(lambda x: 2 * x, multiple_results=False), platform="cpu"
)


def test_platforms_that_do_not_lower_are_left_out_unless_named() -> None:
    fn = jax.jit(lambda x: _TIMES_TWO.bind(x))
    args = (jax.ShapeDtypeStruct((3,), jnp.float32),)
    exported, failed = lower(fn, args, (["cpu", "cuda", "tpu"], False))
    assert exported.platforms == ("cpu",)
    assert sorted(failed) == ["cuda", "tpu"]
    assert "times_two_cpu_only" in failed["cuda"]
    with pytest.raises(kspec.ExportError, match=r"^error: cannot export for cuda, tpu: cuda: "):
        lower(fn, args, (["cpu", "cuda", "tpu"], True))


def test_platforms_asked_for(tmp_path: Path, exports: dict) -> None:
    model = exports["models"]["siamese"]
    result = kspec.export(model, tmp_path / "cpu", platforms=["cpu"], verify=False)
    assert result.platforms == ("cpu",) and result.failed_platforms == {}
    with pytest.raises(kspec.ExportError) as caught:
        kspec.export(model, tmp_path / "bad", platforms=["cpu", "gpu"])
    assert str(caught.value) == "error: unknown platform(s) gpu; known: cpu, cuda, rocm, tpu"
    assert not (tmp_path / "bad").exists()


def test_verify_names_the_output_that_differs(exports: dict) -> None:
    """An artifact checked against a model with other weights fails with the output named."""
    model = kspec.load(ROOT / "examples" / "siamese.yaml")
    model.init(7)  # the artifact holds init(1)'s weights
    with pytest.raises(kspec.ExportError) as caught:
        verify_export(exports["dirs"]["siamese"], model, arg_specs(model.compiled), False)
    assert str(caught.value).startswith(
        f"error: verification failed at batch 1: 'outputs/{model.output_names[0]}' differs "
        "from kspec's result by up to "
    )
    assert str(caught.value).endswith(" (rtol 1e-05)")


def test_a_failed_verify_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kspec.runtime import export as export_module

    def fail(*args: Any) -> None:
        raise kspec.ExportError("verification failed")

    monkeypatch.setattr(export_module, "verify_export", fail)
    model = kspec.load(ROOT / "examples" / "siamese.yaml")
    with pytest.raises(kspec.ExportError, match="verification failed"):
        kspec.export(model, tmp_path / "out", platforms=["cpu"])
    assert list(tmp_path.iterdir()) == []


def test_output_directory_rules(tmp_path: Path, exports: dict) -> None:
    model = exports["models"]["siamese"]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(kspec.ExportError) as caught:
        kspec.export(model, tmp_path / "taken", verify=False)
    assert str(caught.value) == (
        f"error: {tmp_path / 'taken'}: the directory is not empty and holds no earlier export "
        "(no signature.json); choose a new or empty directory"
    )
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    again = tmp_path / "again"
    kspec.export(model, again, platforms=["cpu"], verify=False, mlir=True)
    kspec.export(model, again, platforms=["cpu"], verify=False, bake_weights=True)
    assert sorted(p.name for p in again.iterdir()) == ["model.jax", "signature.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "taken"]


def test_sources_build_run_checkpoint_and_spec(tmp_path: Path, exports: dict) -> None:
    model = exports["models"]["siamese"]
    save_variables(tmp_path / "run" / "model", model.variables, model.spec)
    for directory in (tmp_path / "run", tmp_path / "run" / "model"):
        loaded, origin = load_source(directory, 0)
        assert origin == f"weights from {tmp_path / 'run' / 'model'}"
        np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    loaded, origin = load_source(ROOT / "examples" / "siamese.yaml", 3)
    assert origin.startswith("fresh weights (seed 3): ")
    with pytest.raises(kspec.ExportError) as caught:
        load_source(tmp_path, 0)
    assert str(caught.value).startswith(f"error: {tmp_path}: not a kspec model directory (")


def kspec_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "COLUMNS": "200"}
    result = subprocess.run(
        [str(KSPEC), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_cli_exports_a_build_directory(tmp_path: Path) -> None:
    build(ROOT / "examples" / "siamese.yaml", tmp_path / "built")
    result = kspec_cli(
        "export", "built", "-o", "out", "--mlir", "--training", "--platforms", "cpu", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("siamese: weights from built/checkpoint\n")
    assert re.search(r"exported for cpu in \d+\.\d\ds; verified in \d+\.\d\ds$", result.stdout)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["checkpoint", "model.jax", "model.mlir", "signature.json", "weights.npz"]
    assert "stablehlo." in (tmp_path / "out" / "model.mlir").read_text()
    signature = json.loads((tmp_path / "out" / "signature.json").read_text())
    assert signature["function"] == "training" and signature["platforms"] == ["cpu"]


def test_cli_exports_a_spec_file(tmp_path: Path) -> None:
    spec = ROOT / "examples" / "siamese.yaml"
    result = kspec_cli(
        "export",
        spec,
        "-o",
        "out",
        "--bake-weights",
        "--batch-size",
        "2",
        "--seed",
        "3",
        "--no-verify",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"siamese: fresh weights (seed 3): {spec} is a spec, not a trained model\n"
    )
    assert re.search(r"exported for cpu, .* in \d+\.\d\ds; not verified$", result.stdout.rstrip())
    signature = json.loads((tmp_path / "out" / "signature.json").read_text())
    assert signature["weights_baked"] is True
    assert [i["shape"] for i in signature["inputs"]] == [[2, 16], [2, 16]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothere"], "error: nothere: no such file or directory"),
        (
            ["."],
            "error: .: not a kspec model directory (expected a model directory, with "
            "kspec-model.json; a `kspec fit --out` run, with model/; or a checkpoint, with "
            "CURRENT)",
        ),
    ],
    ids=["missing", "not_a_model"],
)
def test_cli_bad_sources(tmp_path: Path, args: list[str], message: str) -> None:
    result = kspec_cli("export", *args, "-o", "out", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert not (tmp_path / "out").exists()


def test_cli_help_lists_the_flags(tmp_path: Path) -> None:
    result = kspec_cli("export", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for flag in (
        "--platforms",
        "--bake-weights",
        "--training",
        "--mlir",
        "--no-verify",
        "--batch-size",
        "--seed",
        "-o OUT",
    ):
        assert flag in result.stdout


def test_verify_reports_an_artifact_that_does_not_run(exports: dict, tmp_path: Path) -> None:
    """weights.npz that no longer fits the program: the verify step says so, no traceback."""
    model = exports["models"]["siamese"]
    broken = tmp_path / "broken"
    kspec.export(model, broken, platforms=["cpu"], verify=False)
    with np.load(broken / "weights.npz") as stored:
        weights = {k: stored[k] for k in stored.files}
    weights["params/same/kernel"] = np.zeros((3, 1), np.float32)
    np.savez(broken / "weights.npz", **weights)
    with pytest.raises(kspec.ExportError) as caught:
        verify_export(broken, model, arg_specs(model.compiled), False)
    assert str(caught.value).startswith(
        "error: verification failed at batch 1: the artifact did not run (ValueError: "
    )
