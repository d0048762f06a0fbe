"""The example plugin package (examples/plugins/kspec-mylayers), pip-installed into a temporary
directory and used from subprocesses as a user would: its entry point makes
`type: GatedLinearUnit` valid for the API and the CLI, and a broken plugin breaks nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# slow: subprocesses or whole training runs (`make test` only); one worker runs the module,
# so its fixture is built once
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "plugins" / "kspec-mylayers"
KSPEC = Path(sys.executable).parent / "kspec"
UNKNOWN = """\
kspec: 1
inputs: {x: [8]}
layers:
  - {type: Swish, units: 4}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin installed with pip (offline, no build isolation) into a fresh directory;
    built from a copy, so the build leaves nothing in the source tree."""
    tmp = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(
        PLUGIN, tmp / "src", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    target = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return target


def run(*args: str | Path, site: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(site)}
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def test_plugin_tests_pass_with_the_plugin_installed(site: Path, tmp_path: Path) -> None:
    """The plugin's own tests: conformance checks, a NumPy reference, a spec file."""
    result = run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PLUGIN / "tests",
        site=site, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_cli_knows_the_plugin(site: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(UNKNOWN)
    validate = run(KSPEC, "validate", PLUGIN / "glu.yaml", bad, site=site)
    assert validate.returncode == 1
    assert f"{PLUGIN / 'glu.yaml'}: ok" in validate.stdout
    assert (
        f"{bad}:4:12: error: node 'swish': unknown layer type 'Swish'; installed layer plugins: "
        "kspec-mylayers (GatedLinearUnit)"
    ) in validate.stderr
    plugins = run(KSPEC, "plugins", site=site)
    assert plugins.stdout == (
        "kspec-mylayers (GatedLinearUnit): entry point kspec_mylayers:LOWERINGS\n"
    )
    schema = run(KSPEC, "schema", site=site)
    assert '"GatedLinearUnit": {' in schema.stdout
    explain = run(KSPEC, "explain", "GatedLinearUnit", site=site)
    assert explain.stdout.startswith("custom layer type from kspec-mylayers\nGatedLinearUnit: ")


def test_a_spec_imports_nothing(site: Path) -> None:
    """Validating with the schemas stage alone loads no plugin, whatever the spec names: the
    runtime loads installed plugins at a fixed moment, never because of a `type:`."""
    script = (
        "import sys\n"
        "from kspec.schemas import validate_document\n"
        "from kspec.spec import load_document\n"
        "from kspec.errors import SpecError\n"
        "spec = {'kspec': 1, 'inputs': {'x': [8]}, "
        "'layers': [{'type': 'GatedLinearUnit', 'units': 2}]}\n"
        "try:\n"
        "    validate_document(load_document(spec))\n"
        "except SpecError as exc:\n"
        "    print(exc)\n"
        "print('kspec_mylayers' in sys.modules, 'jax' in sys.modules)\n"
    )
    result = run(sys.executable, "-c", script, site=site)
    assert result.stdout.splitlines() == [
        "error: node 'gated_linear_unit': unknown layer type 'GatedLinearUnit'; "
        "installed layer plugins: kspec-mylayers (not loaded)",
        "False False",
    ]


def test_a_broken_plugin_is_reported_and_breaks_nothing(tmp_path: Path) -> None:
    dist = tmp_path / "kspec_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kspec-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kspec.layers]\nbroken = kspec_broken:LOWERINGS\n")
    validate = run(KSPEC, "validate", ROOT / "examples" / "mlp.yaml", site=tmp_path)
    assert validate.returncode == 0, validate.stderr
    assert validate.stderr == ""  # validate loads plugins only for a type it does not know
    summary = run(KSPEC, "summary", ROOT / "examples" / "mlp.yaml", site=tmp_path)
    assert summary.returncode == 0, summary.stderr
    assert summary.stderr.startswith(
        "warning: layer plugin kspec-broken (entry point 'kspec_broken:LOWERINGS') failed to "
        "load: ModuleNotFoundError: No module named 'kspec_broken'; its layer types are "
        "unavailable"
    )
    plugins = run(KSPEC, "plugins", site=tmp_path)
    assert plugins.returncode == 1
    assert "kspec-broken (failed to load: ModuleNotFoundError" in plugins.stdout
