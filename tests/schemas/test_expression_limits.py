"""Lambda expressions are untrusted: every bomb the probes found is a located error, quickly,
and the interpreter evaluates only the branch taken."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

import kspec
from kspec.schemas.expression_limits import (
    MAX_EXPRESSION_CHARS,
    MAX_EXPRESSION_DEPTH,
    MAX_EXPRESSION_NODES,
    MAX_SEQUENCE_LENGTH,
)

SECONDS = 5.0  # of this process's CPU time: what the input costs, whatever the machine's load
"""Bound on each refusal (each takes milliseconds; the margin is for a loaded CI machine)."""


def lambda_spec(expression: str, **arguments: Any) -> str:
    """A one-Lambda spec as YAML text, the expression on line 4."""
    args = f", arguments: {arguments}" if arguments else ""
    return (
        "kspec: 1\ninputs: {x: [4]}\nlayers:\n"
        f"  - {{type: Lambda, expression: '{expression}'{args}}}\n"
    )


def refusal(expression: str, **arguments: Any) -> str:
    started = time.process_time()
    with pytest.raises(kspec.SpecError) as info:
        kspec.validate(lambda_spec(expression, **arguments))
    assert time.process_time() - started < SECONDS
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.location is not None and diagnostic.location.line == 4
    return diagnostic.message


BOMBS = [
    ("x + 10**10**10", "`10 ** 10000000000` is too large: integers may have at most 64 bits"),
    ("x if True else 9**9**9", "`9 ** 387420489` is too large: integers may have at most 64 bits"),
    (
        "where(x > 0, x, 9**9**9)",
        "`9 ** 387420489` is too large: integers may have at most 64 bits",
    ),
    ("power(x, 10**10**10)", "`10 ** 10000000000` is too large: integers may have at most 64 bits"),
    (
        "concatenate([x]*10**8)",
        "`<list of 1 items> * 100000000` is too long: lists may hold at most 1,000 items",
    ),
    ("x + ([0]*400000000)[0]", "`[0] * 400000000` is too long: lists may hold at most 1,000 items"),
    (
        'cast(x, "a"*3000000000)',
        "`'a' * 3000000000` is too long: strs may hold at most 1,000 characters",
    ),
    (
        "x * (2**62 * 2**62)",
        "`4611686018427387904 * 4611686018427387904` is too large: integers "
        "may have at most 64 bits",
    ),
    ("x + [[[0]*100]*100]", "`<list of 1 items> * 100`"),  # nested items are counted
    ("x * (1.5 ** 10**5)", "`1.5 ** 100000`: (34, 'Numerical result out of range')"),
    ("x * (1 // 0)", "`1 // 0`: integer division or modulo by zero"),
    ('cast(x, "%0999999999d" % 1)', "string formatting is not allowed in an expression"),
    ("n = 10**10; x * 10**n", "`10 ** 10000000000` is too large"),
]


@pytest.mark.parametrize(("expression", "message"), BOMBS, ids=[b[0] for b in BOMBS])
def test_constant_bombs_are_located_errors(expression: str, message: str) -> None:
    assert message in refusal(expression)


def test_50000_unary_minuses() -> None:
    message = refusal("-" * 50_000 + "x")
    assert message == (
        f"expression is 50,001 characters long; at most {MAX_EXPRESSION_CHARS:,} are allowed"
    )


def test_20000_term_sum() -> None:
    assert refusal("+".join(["x"] * 20_000)).startswith("expression is 39,999 characters long")


@pytest.mark.parametrize(
    "expression", ["-" * 5_000 + "x", "+".join(["x"] * 4_000), "x" + "[0]" * 2_000]
)
def test_deep_expressions_within_the_length_cap(expression: str) -> None:
    assert refusal(expression) == (
        f"expression nested too deeply (more than {MAX_EXPRESSION_DEPTH})"
    )


def test_node_count_cap() -> None:
    wide = "concatenate([" + ", ".join(["x"] * 1_200) + "])"
    assert refusal(wide) == (
        f"expression has more than {MAX_EXPRESSION_NODES:,} syntax nodes; split it into "
        "several Lambda layers"
    )


def test_runtime_values_are_bounded_too() -> None:
    """A bomb built from `arguments` is only known at shape inference: still a located error."""
    with pytest.raises(kspec.SpecError) as info:
        kspec.validate(lambda_spec("x * 10**n", n=10**10))
    assert "`10 ** 10000000000` is too large: integers may have at most 64 bits" in str(info.value)
    assert str(info.value).startswith("<string>:4:5: error: node 'lambda': Lambda expression")


def test_unused_branch_is_not_evaluated() -> None:
    """`c if cond else d` with a Python condition runs one branch: `[0][5]` never runs."""
    model = kspec.load(lambda_spec("x * 2 if n > 1 else ([0])[5]", n=3))
    variables = model.init(0)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(np.asarray(model.apply(variables, x)), x * 2)


def test_array_condition_still_selects_elementwise() -> None:
    model = kspec.load(lambda_spec("x if x > 2 else -x"))
    x = np.arange(8, dtype=np.float32).reshape(2, 4) - 4
    np.testing.assert_array_equal(np.asarray(model.apply(model.init(0), x)), np.where(x > 2, x, -x))


def test_sequences_at_the_cap_are_fine() -> None:
    model = kspec.load(lambda_spec(f"x + ([0] * {MAX_SEQUENCE_LENGTH})[3] + 2**30"))
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(np.asarray(model.apply(model.init(0), x)), x + 2.0**30)
