"""`kspec plot`: DOT text written by kspec itself, rendered by Graphviz's `dot` when present
and written as a .dot fallback, with a message, when not."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from kspec.runtime.api import check
from kspec.runtime.plot import to_dot
from tests.cli_in_process import run_cli as run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HAS_DOT = shutil.which("dot") is not None
MULTI = """\
kspec: 1
name: multi
inputs: {seq: [5, 3]}
layers:
  - {type: LSTM, name: lstm, units: 4, return_state: true}
  - {type: Dense, name: head, units: 2, inputs: ["lstm:2"]}
outputs: [lstm, head]
"""


def test_dot_of_a_shared_layer_graph() -> None:
    lines = to_dot(check(EXAMPLES / "siamese.yaml")).splitlines()
    assert lines[0] == 'digraph "siamese" {'
    for expected in [
        '  "left" [label="left\\nInput\\n(None, 16)", shape=ellipse];',
        '  "right" [label="right\\nInput\\n(None, 16)", shape=ellipse];',
        '  "encoder" [label="encoder\\nDense (shared)\\n(None, 8)", style=filled, '
        'fillcolor="#fde9c4"];',
        '  "encoder_right" [label="encoder_right\\nDense (shares encoder)\\n(None, 8)", '
        'style=filled, fillcolor="#fde9c4"];',
        '  "distance" [label="distance\\nLambda\\n(None, 8)"];',
        '  "same" [label="same\\nDense\\n(None, 1)", peripheries=2];',
        '  "left" -> "encoder";',
        '  "right" -> "encoder_right";',
        '  "encoder" -> "distance";',
        '  "encoder_right" -> "distance";',
        '  "distance" -> "same";',
    ]:
        assert expected in lines
    assert lines[-1] == "}"


def test_dot_of_a_multi_output_node_labels_its_tensors(tmp_path: Path) -> None:
    spec = tmp_path / "multi.yaml"
    spec.write_text(MULTI)
    lines = to_dot(check(spec)).splitlines()
    assert (
        '  "lstm" [label="lstm\\nLSTM\\n0: (None, 4)\\n1: (None, 4)\\n2: (None, 4)", '
        "peripheries=2];" in lines
    )
    assert '  "lstm" -> "head" [label="lstm:2"];' in lines
    assert '  "seq" -> "lstm";' in lines


def test_plot_dot_output(tmp_path: Path) -> None:
    out = tmp_path / "model.dot"
    result = run("plot", EXAMPLES / "siamese.yaml", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}\n"
    assert out.read_text() == to_dot(check(EXAMPLES / "siamese.yaml"))


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is not installed")
@pytest.mark.parametrize("suffix, magic", [("png", b"\x89PNG\r\n\x1a\n"), ("svg", b"<?xml")])
def test_plot_renders_with_graphviz(tmp_path: Path, suffix: str, magic: bytes) -> None:
    out = tmp_path / f"model.{suffix}"
    result = run("plot", EXAMPLES / "resnet_small.yaml", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}\n"
    data = out.read_bytes()
    assert data.startswith(magic)
    if suffix == "svg":
        assert b"block1_add" in data and b"(None, 32, 32, 16)" in data


def test_plot_without_graphviz_writes_the_dot_and_says_how_to_render(tmp_path: Path) -> None:
    out = tmp_path / "model.png"
    # only the venv's bin on PATH: no `dot`, whether or not Graphviz is installed
    result = run(
        "plot", EXAMPLES / "siamese.yaml", "-o", out, path=str(Path(sys.executable).parent)
    )
    assert result.returncode == 0, result.stderr
    dot = tmp_path / "model.dot"
    assert result.stdout == f"wrote {dot} (Graphviz DOT text)\n"
    assert result.stderr == (
        f"warning: Graphviz is not installed (no 'dot' program on PATH), so {out} was not "
        f"rendered; install it (apt-get install graphviz, brew install graphviz) and run: "
        f"dot -Tpng {dot} -o {out}\n"
    )
    assert not out.exists()
    assert dot.read_text() == to_dot(check(EXAMPLES / "siamese.yaml"))


def test_plot_rejects_an_unknown_format(tmp_path: Path) -> None:
    result = run("plot", EXAMPLES / "mlp.yaml", "-o", tmp_path / "model.pdf")
    assert result.returncode == 1
    assert result.stderr == (
        f"error: expected -o to end in .svg, .png or .dot. Received: {tmp_path / 'model.pdf'}\n"
    )


def test_plot_of_an_invalid_spec_prints_located_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kspec: 1\ninputs: {x: [3]}\nlayers:\n  - {type: Dense, unit: 2}\n")
    result = run("plot", bad, "-o", tmp_path / "model.dot")
    assert result.returncode == 1
    assert result.stderr == (
        f"{bad}:4:19: error: node 'dense': unknown parameter `unit` (did you mean `units`?)\n"
    )
    assert not (tmp_path / "model.dot").exists()
