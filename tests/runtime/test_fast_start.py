"""A fast start (issue 13, item 4): `kspec validate` never imports JAX, optax, Orbax or numpy,
nor the layer families a spec does not use, nor scans plugins; init is one jitted program; a
restore runs no initializer; the CLI keeps compiled programs on disk between runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import kspec
from kspec.compiler import CompiledModel

ROOT = Path(__file__).resolve().parents[2]
KSPEC = Path(sys.executable).parent / "kspec"

# distinct weight shapes in every layer: op by op, each would compile its own programs
SPEC = """\
kspec: 1
name: shapes
inputs: {image: {shape: [8, 8, 1]}}
layers:
  - {type: Conv2D, filters: 3, kernel_size: 3, activation: relu}
  - {type: BatchNormalization}
  - {type: Conv2D, filters: 5, kernel_size: 2}
  - {type: Flatten}
  - {type: Dense, units: 7, kernel_initializer: orthogonal}
  - {type: Dense, units: 2}
"""


def test_validate_imports_no_jax_optax_orbax_numpy_and_scans_no_plugins(tmp_path: Path) -> None:
    spec = tmp_path / "model.yaml"
    spec.write_text(SPEC)
    code = textwrap.dedent(
        f"""
        import sys
        from kspec.runtime.cli import main
        status = main(["validate", {str(spec)!r}])
        import kspec.schemas.custom as custom
        heavy = sorted(
            m for m in ("jax", "jaxlib", "optax", "orbax", "numpy", "rich.table", "rich.pretty")
            if m in sys.modules
        )
        # only the families the spec uses: convolution, normalization, core
        unused = sorted(
            m for m in sys.modules
            if m.rpartition(".")[2] in ("recurrent", "attention", "transformer", "merge")
        )
        print("heavy:", heavy, "scanned:", custom._PLUGINS is not None, "status:", status)
        print("unused families:", unused)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "model.yaml: ok (6 nodes; outputs (None, 2))" in result.stdout
    assert "heavy: [] scanned: False status: 0" in result.stdout, result.stdout
    assert "unused families: []" in result.stdout, result.stdout


def test_validate_of_an_unknown_type_still_names_the_plugins(tmp_path: Path) -> None:
    """Plugins are looked up when a type is unknown (and only then)."""
    spec = tmp_path / "model.yaml"
    spec.write_text("kspec: 1\ninputs: {x: [2]}\nlayers: [{type: Denze, units: 2}]\n")
    with pytest.raises(kspec.SpecError, match=r"did you mean 'Dense'.*plugins"):
        kspec.validate(spec)


def _compiles(fn: object) -> int:
    """How many XLA programs `fn()` compiles, or loads from the tests' compilation cache
    (tests/conftest.py) where another test compiled the same program first."""
    count = 0
    programs = (
        "/jax/core/compile/backend_compile_duration",
        "/jax/compilation_cache/cache_retrieval_time_sec",
    )

    def listen(event: str, duration: float, **kwargs: object) -> None:
        nonlocal count
        count += event in programs

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        fn()  # type: ignore[operator]
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    return count


def test_init_of_a_fresh_model_is_one_program() -> None:
    model = kspec.load(SPEC)
    assert _compiles(lambda: model.init(3)) == 1
    assert model.get_layer("dense").get_weights()[0].shape == (125, 7)


def test_restore_runs_no_initializer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained = kspec.load(SPEC)
    trained.init(5)
    trained.save_weights(tmp_path / "ckpt")
    concrete: list[bool] = []
    original = CompiledModel.init

    def spy(self: CompiledModel, key: jax.Array) -> object:
        concrete.append(not isinstance(key, jax.core.Tracer))
        return original(self, key)

    monkeypatch.setattr(CompiledModel, "init", spy)
    restored = kspec.load(SPEC)
    restored.load_weights(tmp_path / "ckpt")
    loaded = kspec.load_checkpoint(tmp_path / "ckpt")
    assert not any(concrete), "a restore ran the initializers on real arrays"
    for model in (restored, loaded):
        for got, want in zip(model.get_weights(), trained.get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_cli_keeps_compiled_programs_between_runs(tmp_path: Path) -> None:
    spec = tmp_path / "model.yaml"
    spec.write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env |= {"KSPEC_CACHE_DIR": str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}

    def build(*flags: str) -> set[str]:
        command = [str(KSPEC), *flags, "build", str(spec), "-o", str(tmp_path / "out")]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        cache = tmp_path / "cache" / "jax"
        return {p.name for p in cache.iterdir()} if cache.exists() else set()

    assert build("--no-compile-cache") == set()
    first = build()
    assert first, "the first run wrote no compiled program"
    assert build() == first, "the second run compiled programs the first had cached"
