"""Every function a Lambda `expression` may call, evaluated against Keras 3 itself.

Each row is an expression written as a Keras user pastes it (`keras.ops.f(...)`); the
reference is that same text run by Python with the real `keras.ops` (test code only: kspec
never runs `eval`). The `ops.` and `K.` spellings, slicing, statements and `arguments` bound
by name are checked on top. A function the schema allows but the table misses fails
`test_every_function_has_a_row`.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.compiler.expressions import evaluate
from kspec.schemas.expressions import FUNCTIONS

RNG = np.random.default_rng(3)
X = RNG.normal(size=(4, 5)).astype(np.float32) * 2.0
Y = RNG.normal(size=(4, 5)).astype(np.float32)
POSITIVE = np.abs(X) + 0.1
IDS = np.array([0, 2, 1, 3], dtype=np.int32)
VARIABLES = {"x": X, "y": Y, "p": POSITIVE, "ids": IDS}

# function -> an expression calling it through `keras.ops`, with non-default arguments.
ROWS = {
    "abs": "abs(x)",
    "exp": "exp(y)",
    "log": "log(p)",
    "log1p": "log1p(p)",
    "sqrt": "sqrt(p)",
    "square": "square(x)",
    "sin": "sin(x)",
    "cos": "cos(x)",
    "tanh": "tanh(x)",
    "sign": "sign(x)",
    "floor": "floor(x)",
    "ceil": "ceil(x)",
    "round": "round(x)",
    "power": "power(p, 1.7)",
    "maximum": "maximum(x, y)",
    "minimum": "minimum(x, y)",
    "clip": "clip(x, -0.5, 1.5)",
    "where": "where(x > y, x, y * 3.0)",
    "sum": "sum(x, axis=1, keepdims=True)",
    "mean": "mean(x, axis=0)",
    "max": "max(x, axis=1)",
    "min": "min(x, axis=-1, keepdims=True)",
    "prod": "prod(x, axis=1)",
    "std": "std(x, axis=1)",
    "var": "var(x, axis=0)",
    "cumsum": "cumsum(x, axis=1)",
    "argmax": "argmax(x, axis=1)",
    "argmin": "argmin(x, axis=0)",
    "concatenate": "concatenate([x, y], axis=0)",
    "stack": "stack([x, y], axis=1)",
    "expand_dims": "expand_dims(x, 1)",
    "squeeze": "squeeze(expand_dims(x, 2), axis=2)",
    "reshape": "reshape(x, (2, 10))",
    "transpose": "transpose(x, (1, 0))",
    "matmul": "matmul(x, transpose(y))",
    "relu": "relu(x)",
    "relu6": "relu6(x * 4.0)",
    "sigmoid": "sigmoid(x)",
    "softplus": "softplus(x)",
    "softsign": "softsign(x)",
    "elu": "elu(x, alpha=0.5)",
    "selu": "selu(x)",
    "gelu": "gelu(x)",
    "silu": "silu(x)",
    "swish": "swish(x)",
    "mish": "mish(x)",
    "hard_sigmoid": "hard_sigmoid(x)",
    "softmax": "softmax(x, axis=0)",
    "log_softmax": "log_softmax(x, axis=-1)",
    "leaky_relu": "leaky_relu(x, negative_slope=0.1)",
    "erf": "erf(x)",
    "l2_normalize": None,  # Keras 2's K.l2_normalize; checked against NumPy below
    "cast": "cast(x, 'int32')",
    "one_hot": "one_hot(ids, 4)",
}


PREFIXES = ("keras.ops", "ops", "K", "backend")
"""The module spellings pasted Keras code calls a function through (`K` is Keras 2's backend)."""

KERAS_HOME = {"mish": "keras.activations"}
"""Where Keras keeps a function that `keras.ops` lacks."""


def _keras_ops_form(
    expression: str, homes: dict[str, str] | None = None, prefix: str = "keras.ops"
) -> str:
    """`f(a, g(b))` -> `keras.ops.f(a, keras.ops.g(b))` (or another `prefix`) for every
    function called."""
    homes = homes or {}
    return re.sub(r"\b([a-z_0-9]+)\(", lambda m: f"{homes.get(m[1], prefix)}.{m[1]}(", expression)


def _keras_value(expression: str) -> np.ndarray:
    reference = _keras_ops_form(expression, KERAS_HOME)
    with jax.numpy_rank_promotion("allow"):
        return np.asarray(eval(reference, {"keras": keras}, dict(VARIABLES)))


def test_every_function_has_a_row() -> None:
    assert set(ROWS) == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(n for n, e in ROWS.items() if e is not None))
def test_function_matches_keras_ops(name: str) -> None:
    expression = ROWS[name]
    assert expression is not None
    expected = _keras_value(expression)
    spellings = [expression] + [_keras_ops_form(expression, prefix=p) for p in PREFIXES]
    for spelling in spellings:
        actual = np.asarray(evaluate(spelling, dict(VARIABLES)))
        assert actual.dtype == expected.dtype, spelling
        np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6, err_msg=spelling)


def test_backend_and_ops_prefixes_and_l2_normalize() -> None:
    expected = X / np.sqrt(np.maximum(np.sum(X * X, axis=1, keepdims=True), 1e-12))
    for spelling in ("K.l2_normalize(x, axis=1)", "ops.l2_normalize(x, axis=1)"):
        np.testing.assert_allclose(evaluate(spelling, dict(VARIABLES)), expected, rtol=1e-6)
    np.testing.assert_allclose(evaluate("K.mean(ops.square(x), axis=1)", dict(VARIABLES)),
                               np.mean(X * X, axis=1), rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "reference"),
    [
        ("x[:, 1:4]", X[:, 1:4]),
        ("x[::2, -1]", X[::2, -1]),
        ("x[:, None, 0]", X[:, None, 0]),
        ("x[..., ::-1]", X[..., ::-1]),
        ("a = x * 2.0\na += y\na - 1.0", X * 2.0 + Y - 1.0),
        ("x ** 2 - 3 * y / 2 + pi", X**2 - 3 * Y / 2 + np.pi),
        ("-x if True else y", -X),
    ],
)
def test_slicing_operators_and_statements(expression: str, reference: np.ndarray) -> None:
    np.testing.assert_allclose(evaluate(expression, dict(VARIABLES)), reference, rtol=1e-6)


def test_arguments_are_bound_by_name_in_a_model() -> None:
    """`arguments` reach the expression under their own names, each with its own value."""
    spec: dict[str, Any] = {
        "kspec": 1,
        "inputs": {"x": [5]},
        "layers": [
            {
                "type": "Lambda",
                "expression": "x * scale + shift - power(x, exponent)",
                "arguments": {"scale": 3.0, "shift": -0.25, "exponent": 2},
            }
        ],
    }
    model = kspec.load(spec)
    np.testing.assert_allclose(model.predict(X), X * 3.0 - 0.25 - X**2, rtol=1e-5, atol=1e-6)


def test_arguments_reach_a_registered_function_as_keywords() -> None:
    """`function:` with `arguments` calls the Python function with them, by name (Keras'
    `Lambda(fn, arguments=...)`)."""
    spec: dict[str, Any] = {
        "kspec": 1,
        "inputs": {"x": [5]},
        "layers": [
            {"type": "Lambda", "function": "affine", "arguments": {"scale": 3.0, "shift": -0.25}}
        ],
    }
    model = kspec.load(spec, functions={"affine": lambda x, scale, shift: x * scale + shift})
    np.testing.assert_allclose(model.predict(X), X * 3.0 - 0.25, rtol=1e-6)
