"""The pipeline's shape holds: imports run one way, `spec` and `schemas` never load JAX, and the
committed JSON Schema is the one the code produces (`make schema` regenerates it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


STAGES = {"kspec.spec": "spec", "kspec.schemas": "schemas", "kspec.compiler": "compiler",
          "kspec.runtime": "runtime"}  # fmt: skip
"""The `package-dir` mapping of pyproject.toml: installed name -> folder in the repo."""


def _installed_layout(into: Path) -> Path:
    """The `kspec` package as it is installed (stages inside it), for tools such as
    import-linter that find subpackages by walking the folder of the root package."""
    package = into / "kspec"
    shutil.copytree(ROOT / "kspec", package, ignore=shutil.ignore_patterns("__pycache__"))
    for name, folder in STAGES.items():
        target = package / name.split(".")[1]
        shutil.copytree(ROOT / folder, target, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def test_import_linter_contracts_hold(tmp_path: Path) -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), "import-linter is in the test extra: pip install -e '.[test]'"
    layout = _installed_layout(tmp_path / "site")
    result = subprocess.run(
        [str(lint_imports), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=layout,
        env={**os.environ, "PYTHONPATH": str(layout)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout, result.stdout


NO_JAX = [
    "import kspec.schemas, kspec.spec",
    "import kspec",
    "import kspec.schemas.canonical; kspec.schemas.canonical.json_schema()",
    "import kspec.spec; kspec.spec.load_document('kspec: 1\\ninputs: {x: [2]}\\nlayers: [F]')",
    "import kspec.errors",
]


@pytest.mark.parametrize("statement", NO_JAX)
def test_spec_and_schemas_never_import_jax(statement: str) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        {statement}
        heavy = sorted(m for m in ("jax", "jaxlib", "orbax", "keras") if m in sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_public_validate_is_lazy_but_works() -> None:
    code = textwrap.dedent(
        """
        import sys
        import kspec
        assert "jax" not in sys.modules
        spec = kspec.validate("kspec: 1\\ninputs: {x: [2]}\\nlayers: [Flatten]")
        assert [n.name for n in spec.layers] == ["flatten"]
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_committed_json_schema_is_fresh() -> None:
    from kspec.schemas.canonical import json_schema

    committed = (ROOT / "schemas" / "kspec.schema.json").read_text()
    assert committed == json.dumps(json_schema(), indent=2) + "\n", (
        "schemas/kspec.schema.json is stale: run `make schema`"
    )


def test_every_layer_family_has_its_parity_file() -> None:
    """`tests/parity/test_<family>.py` for each `compiler/layers/<family>.py` in the registry."""
    from kspec.schemas.registry import FAMILIES

    families = set(FAMILIES)
    missing = sorted(
        f for f in families if not (ROOT / "tests" / "parity" / f"test_{f}.py").exists()
    )
    assert not missing, f"layer families without a parity file: {missing}"
