"""Conformance of every layer over the registry: schema <-> lowering, shapes vs `jax.eval_shape`,
jit vs no-jit, spec round trip, and shape errors that are `ShapeError`s, never raw JAX errors.

A new layer family extends `CASES` (valid params and input shapes) and `INVALID` (shapes it must
reject); `test_every_layer_type_has_cases` fails until it does.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kspec.compiler import compile_model
from kspec.compiler.lowering import BuildEnv, LayerCall, Shape
from kspec.compiler.registry import LOWERINGS
from kspec.errors import ShapeError, SpecError
from kspec.schemas import LAYER_TYPES, ModelSpec, validate_document
from kspec.schemas.canonical import to_json, to_yaml
from kspec.spec import load_document
from tests import conformance
from tests.conformance.cases import Case, Invalid

BATCH = 2
# Keras 1 layer types (`Merge`) warn on every load; the warning itself is tested with the layer.
pytestmark = pytest.mark.filterwarnings("ignore::kspec.errors.KspecDeprecationWarning")


def _collect() -> tuple[dict[str, list[Case]], dict[str, list[Invalid]]]:
    """Merge the tables of every module in tests/conformance/."""
    cases: dict[str, list[Case]] = {}
    invalid: dict[str, list[Invalid]] = {}
    for module_info in pkgutil.iter_modules(conformance.__path__):
        if module_info.name == "cases":
            continue
        module = importlib.import_module(f"tests.conformance.{module_info.name}")
        cases |= module.CASES
        invalid |= module.INVALID
    return cases, invalid


CASES, INVALID = _collect()


def _spec(type_name: str, params: dict[str, Any], shapes: list[list[int | None]]) -> ModelSpec:
    inputs = {f"x{i}": {"shape": shape} for i, shape in enumerate(shapes)}
    layer = {"type": type_name, **params}
    if len(shapes) > 1:
        layer["inputs"] = list(inputs)
    return validate_document(load_document({"kspec": 1, "inputs": inputs, "layers": [layer]}))


def _call(training: bool, rng: jax.Array | None, state: dict[str, Any]) -> LayerCall:
    return LayerCall(training=training, rng=rng, masks=[None], state=state, env=BuildEnv())


def _ids(table: dict[str, list[Any]]) -> list[tuple[str, Any]]:
    return [
        pytest.param(t, c, id=f"{t}-{c.id or i}")
        for t, cases in table.items()
        for i, c in enumerate(cases)
    ]


# Registry -----------------------------------------------------------------------------------------


def test_every_schema_has_exactly_one_lowering() -> None:
    assert set(LOWERINGS) == set(LAYER_TYPES)
    assert all(lowering.spec_type is cls for cls, lowering in LOWERINGS.items())


def test_every_layer_type_has_cases() -> None:
    names = {cls.__name__ for cls in LAYER_TYPES}
    assert set(CASES) == names, "add conformance cases for each new layer type"
    assert set(INVALID) == names, "add invalid-shape cases (or an empty list) for each type"
    assert all(len(CASES[n]) >= 2 for n in names)


# Each valid case ---------------------------------------------------------------------------------


def _lowered(type_name: str, case: Case) -> tuple[Any, Any, list[Shape]]:
    compiled = compile_model(_spec(type_name, case.params, case.shapes))
    (node,) = compiled.graph.nodes
    return node.spec, node.lowering, compiled.input_shapes_of(node)


@pytest.mark.parametrize(("type_name", "case"), _ids(CASES))
def test_infer_shape_matches_eval_shape(type_name: str, case: Case) -> None:
    spec, lowering, in_shapes = _lowered(type_name, case)
    concrete = [(BATCH, *(3 if d is None else d for d in s[1:])) for s in in_shapes]
    symbolic = lowering.infer_shape(spec, in_shapes, BuildEnv())
    exact = lowering.infer_shape(spec, concrete, BuildEnv())
    key = jax.random.PRNGKey(0)
    weights = jax.eval_shape(lambda k: lowering.init(spec, k, in_shapes), key)
    xs = [jax.ShapeDtypeStruct(s, jnp.float32) for s in concrete]
    rng = key if case.training else None
    outs = jax.eval_shape(
        lambda w, xs: lowering.apply(spec, w.params, xs, _call(case.training, rng, w.state)),
        weights,
        xs,
    )
    assert [tuple(o.shape) for o in outs] == [tuple(s) for s in exact]
    for sym, real in zip(symbolic, outs, strict=True):
        assert len(sym) == len(real.shape)
        assert sym[0] is None  # the batch axis stays unknown
        assert all(d is None or d == r for d, r in zip(sym, real.shape, strict=True))


@pytest.mark.parametrize(("type_name", "case"), _ids(CASES))
def test_jit_equals_no_jit(type_name: str, case: Case) -> None:
    spec, lowering, in_shapes = _lowered(type_name, case)
    concrete = [(BATCH, *(3 if d is None else d for d in s[1:])) for s in in_shapes]
    key = jax.random.PRNGKey(1)
    weights = lowering.init(spec, key, in_shapes)
    xs = [jax.random.normal(jax.random.fold_in(key, i), s) for i, s in enumerate(concrete)]
    rng = jax.random.PRNGKey(2) if case.training else None

    def run(weights: Any, xs: list[jax.Array]) -> list[jax.Array]:
        return lowering.apply(spec, weights.params, xs, _call(case.training, rng, weights.state))

    eager = run(weights, xs)
    jitted = jax.jit(run)(weights, xs)
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("type_name", "case"), _ids(CASES))
def test_spec_round_trip(type_name: str, case: Case) -> None:
    spec = _spec(type_name, case.params, case.shapes)
    assert validate_document(load_document(to_yaml(spec))) == spec
    assert validate_document(load_document(to_json(spec))) == spec


# Invalid shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("type_name", "case"), _ids(INVALID))
def test_invalid_shapes_raise_shape_error(type_name: str, case: Invalid) -> None:
    spec = _spec(type_name, case.params, case.shapes)
    node = spec.layers[0]
    lowering = LOWERINGS[type(node)]
    in_shapes = [(None, *s) for s in case.shapes]
    with pytest.raises(ShapeError, match=case.match):
        lowering.infer_shape(node, in_shapes, BuildEnv())
    with pytest.raises(SpecError) as info:
        compile_model(spec)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.node == node.name
    assert case.match in diagnostic.message
