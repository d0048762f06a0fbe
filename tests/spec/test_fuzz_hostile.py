"""Fuzzing the probe classes of issue 18: expression bombs, block and include amplification,
huge dimensions. Every case either succeeds or raises one kspec error whose diagnostics are
located (the inputs are text, so they all have a location), within `SECONDS` - never another
exception, a hang or a crash.

In CI each class runs `KSPEC_FUZZ_EXAMPLES` cases (default 20, a few seconds); `make fuzz`
runs 10,000 per class under a memory limit and prints hypothesis' statistics.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kspec
from kspec.compiler.memory import check_memory
from kspec.schemas import validate_document
from kspec.spec import load_document

SECONDS = 10.0  # of this process's CPU time: what the input costs, whatever the machine's load
"""Bound on one case (a refusal takes well under a second on an idle machine)."""

FUZZ = settings(
    max_examples=int(os.environ.get("KSPEC_FUZZ_EXAMPLES", "20")),
    deadline=None,
    derandomize=os.environ.get("KSPEC_FUZZ_EXAMPLES") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def bounded(run: Callable[[], Any], *, located: bool = True) -> None:
    """`run()` succeeds or raises one `SpecError` with located diagnostics, in time."""
    started = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecations and JAX's dtype notes are not the point
        try:
            run()
        except kspec.SpecError as exc:
            assert exc.diagnostics, "a SpecError without diagnostics"
            for d in exc.diagnostics:
                assert d.message and "\x1b" not in str(d)
                if located:
                    assert d.location is not None and d.location.line >= 1, str(d)
    assert time.process_time() - started < SECONDS


# Expression bombs ---------------------------------------------------------------------------

ATOMS = st.sampled_from(
    ["x", "0", "1", "2", "9", "10", "-1", "2.5", "1e308", "True", "False", "None", "'a'",
     "[x]", "[0]", "(x, x)", "[]", "pi", "inf", "10**18", "2**62", "2**63"]
)  # fmt: skip
OPERATORS = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "@", ">", "=="])
FUNCTIONS = st.sampled_from(
    ["power", "concatenate", "cast", "where", "sum", "reshape", "one_hot", "expand_dims",
     "maximum", "stack", "mean", "clip", "transpose", "squeeze", "relu"]
)  # fmt: skip


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, OPERATORS, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"-{e}"),
        st.tuples(FUNCTIONS, st.lists(inner, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
        inner.map(lambda e: f"[{e}]"),
    )


AMPLIFIED = st.one_of(
    st.integers(1, 100_000).map(lambda n: "-" * n + "x"),
    st.integers(1, 30_000).map(lambda n: "+".join(["x"] * n)),
    st.integers(1, 300).map(lambda n: "(" * n + "x" + ")" * n),
    st.integers(1, 3_000).map(lambda n: "x" + "[0]" * n),
    st.tuples(st.integers(2, 99), st.integers(2, 99), st.integers(1, 99)).map(
        lambda t: f"x + {t[0]}**{t[1]}**{t[2]}"
    ),
    st.tuples(st.sampled_from(["[x]", "[0]", "(x,)", "[[0]*10]"]), st.integers(0, 10**12)).map(
        lambda t: f"concatenate({t[0]}*{t[1]})"
    ),
    st.integers(0, 10**10).map(lambda n: f"cast(x, 'a'*{n})"),
    st.integers(0, 10**6).map(lambda n: f"x if x > 0 else 9**9**{n}"),
)
EXPRESSIONS = st.one_of(st.recursive(ATOMS, _compound, max_leaves=10), AMPLIFIED)


def _lambda(expression: str) -> str:
    quoted = expression.replace("'", "''")
    return f"kspec: 1\ninputs: {{x: [4]}}\nlayers:\n  - {{type: Lambda, expression: '{quoted}'}}\n"


@FUZZ
@given(EXPRESSIONS)
def test_expression_bombs(expression: str) -> None:
    bounded(lambda: kspec.validate(_lambda(expression)))


# Block amplification ------------------------------------------------------------------------


@st.composite
def block_specs(draw: st.DrawFn) -> str:
    """Blocks using blocks (up to 40, up to 4 uses each, cycles and unknown names included),
    some taking a `$units` parameter."""
    count = draw(st.integers(1, 40))
    blocks: dict[str, Any] = {}
    for i in range(count):
        layers: list[Any] = []
        for _ in range(draw(st.integers(1, 4))):
            if draw(st.integers(0, 3)):
                layers.append({"block": f"b{draw(st.integers(0, count))}"})
            else:
                layers.append({"type": "Dense", "units": draw(st.sampled_from([2, "$units"]))})
        blocks[f"b{i}"] = {"params": {"units": 3}, "layers": layers}
    uses = [{"block": "b0"}] * draw(st.integers(1, 3))
    spec = {"kspec": 1, "inputs": {"x": [4]}, "blocks": blocks, "layers": uses}
    return yaml.safe_dump(spec, sort_keys=False)


@FUZZ
@given(block_specs())
def test_block_amplification(text: str) -> None:
    bounded(lambda: validate_document(load_document(text)))


# Include amplification ----------------------------------------------------------------------


@st.composite
def include_trees(draw: st.DrawFn) -> list[list[int]]:
    """File i includes the files listed at i (any index: cycles and self-includes too)."""
    count = draw(st.integers(1, 24))
    return [draw(st.lists(st.integers(0, count), max_size=3)) for _ in range(count)]


def _write_includes(root: Path, tree: list[list[int]]) -> Path:
    for i, included in enumerate(tree):
        lines = [f"  - {{type: Model, include: f{j}.yaml}}" for j in included]
        lines = lines or ["  - {type: Dense, units: 2}"]
        (root / f"f{i}.yaml").write_text(
            "kspec: 1\ninputs: {x: [4]}\nlayers:\n" + "\n".join(lines) + "\n"
        )
    return root / "f0.yaml"


@FUZZ
@given(include_trees())
def test_include_amplification(tree: list[list[int]]) -> None:
    with tempfile.TemporaryDirectory() as root:
        top = _write_includes(Path(root), tree)
        bounded(lambda: validate_document(load_document(top)))


# Huge dimensions ----------------------------------------------------------------------------

DIMS = st.one_of(
    st.integers(-3, 12),
    st.sampled_from([2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64, 10**5, 10**9]),
    st.integers(-(2**70), 2**70),
)
LAYERS: list[Callable[[Any], dict[str, Any]]] = [
    lambda d: {"type": "Dense", "units": d},
    lambda d: {"type": "Reshape", "target_shape": [d, -1]},
    lambda d: {"type": "RepeatVector", "n": d},
    lambda d: {"type": "Conv1D", "filters": d, "kernel_size": 1},
    lambda d: {"type": "Embedding", "input_dim": d, "output_dim": 2},
    lambda d: {"type": "Dropout", "rate": 0.5, "seed": d},
    lambda d: {"type": "ZeroPadding1D", "padding": d},
    lambda d: {"type": "UpSampling1D", "size": d},
    lambda d: {"type": "Flatten"},
]


@st.composite
def dimension_specs(draw: st.DrawFn) -> tuple[str, int]:
    shape = draw(st.lists(DIMS, min_size=1, max_size=3))
    layers = [draw(st.sampled_from(LAYERS))(draw(DIMS)) for _ in range(draw(st.integers(1, 3)))]
    spec = {"kspec": 1, "inputs": {"x": shape}, "layers": layers}
    return yaml.safe_dump(spec, sort_keys=False), draw(DIMS)


@FUZZ
@given(dimension_specs())
def test_huge_dimensions(case: tuple[str, int]) -> None:
    """Validation, then pricing at a random batch size against a 1 GiB budget: a located
    validation error, a `LimitError`, or a model that fits."""
    text, batch = case

    def run() -> None:
        compiled = kspec.load(text).compiled
        try:
            check_memory(compiled, max(batch, 1), training=batch % 2 == 0, limit=2**30)
        except kspec.LimitError as exc:
            assert "needs about" in str(exc) or "unroll" in str(exc), str(exc)

    bounded(run)
