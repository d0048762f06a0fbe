"""docs/jax.md runs as written, and Model methods never keep traced values (issue 13,
item 8); `model(x)` is Keras' call with the current weights, `apply` the pure function
(item 6)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kspec

DOC = Path(__file__).resolve().parents[2] / "docs" / "jax.md"
SPEC = "kspec: 1\ninputs: {x: [3]}\nlayers: [{type: Dense, units: 2}, {type: Dense, units: 4}]\n"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def test_docs_jax_code_blocks_run() -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 7, "docs/jax.md lost its examples"
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        # CPU backends cannot reuse donated buffers and say so; the page explains it
        warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)


def test_jitted_init_keeps_nothing_and_predict_still_works() -> None:
    model = kspec.load(SPEC)
    traced = jax.jit(model.init)(jax.random.PRNGKey(7))
    x = np.random.default_rng(0).random((4, 3), np.float32)
    out = model.predict(x)  # on a poisoned model: a dead tracer error
    np.testing.assert_allclose(out, model.apply(model.variables, x), rtol=1e-6)
    np.testing.assert_allclose(model.apply(traced, x), model.apply(model.init(7), x), rtol=1e-6)


def test_keeping_traced_variables_is_a_clear_error() -> None:
    model = kspec.load(SPEC)
    model.init(0)

    def keep(variables: object) -> jax.Array:
        model.variables = variables  # type: ignore[assignment]
        return jnp.zeros(())

    with pytest.raises(ValueError, match=r"cannot keep traced values on the model"):
        jax.jit(keep)(model.variables)
    model.predict(np.zeros((1, 3), np.float32))  # still usable


def test_calling_a_model_on_arrays_uses_its_current_weights() -> None:
    """Keras: `model(x)` is the forward pass with the model's own weights."""
    model = kspec.load(SPEC)
    model.init(1)
    weights = [np.random.default_rng(i).normal(size=w.shape) for i, w in
               enumerate(model.get_weights())]  # fmt: skip
    model.set_weights(weights)
    x = np.random.default_rng(9).random((2, 3), np.float32)
    want = (x @ weights[0] + weights[1]) @ weights[2] + weights[3]
    np.testing.assert_allclose(model(x), want, rtol=1e-5)
    np.testing.assert_allclose(model(x, training=False), want, rtol=1e-5)
    other = model.compiled.init(jax.random.PRNGKey(3))
    assert not np.allclose(model.apply(other, x), want)  # apply: the variables it is given


def test_calling_a_model_with_variables_points_to_apply() -> None:
    model = kspec.load(SPEC)
    with pytest.raises(TypeError, match=r"for given variables call model\.apply\(variables, x\)"):
        model(model.variables, np.zeros((1, 3), np.float32))


def test_a_program_that_configures_another_prng_works() -> None:
    """Embedding code may set `jax_default_prng_impl` (rbg keys have shape (4,), threefry's
    (2,)): shapes, init, training-mode apply and fit take the program's keys."""
    spec = SPEC.replace("layers: [", "layers: [{type: Dropout, rate: 0.5}, ")
    kspec.load(spec).init(0)  # threefry first: nothing traced under it may be reused
    with jax.default_prng_impl("rbg"):
        model = kspec.load(spec)
        assert model.init(0)["params"]["dense"]["kernel"].shape == (3, 2)
        x = np.ones((4, 3), np.float32)
        a = model.apply(model.variables, x, training=True, rng=jax.random.PRNGKey(1))
        b = model.apply(model.variables, x, training=True, rng=jax.random.PRNGKey(2))
        assert a.shape == (4, 4) and not np.allclose(a, b)
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(x, np.zeros((4, 4), np.float32), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
