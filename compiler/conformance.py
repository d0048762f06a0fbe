"""Conformance checks of one layer type, the same for built-in and custom layers: shape rule vs
`jax.eval_shape`, jit vs eager, spec round trip, invalid shapes raising `ShapeError` (never a
raw JAX error), and optionally the outputs against a NumPy reference.

kspec's own tests run them over tables of `Case`s for every built-in type; a plugin author runs
them on their layer with `kspec.testing.check_layer`. Failures raise `AssertionError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kspec.compiler.compile import compile_model, lowering_of
from kspec.compiler.deferred import jax, jnp
from kspec.compiler.lowering import BuildEnv, LayerCall, Lowering, Shape
from kspec.errors import ShapeError, SpecError
from kspec.schemas import ModelSpec, validate_document
from kspec.schemas.base import LayerSpec
from kspec.schemas.canonical import to_json, to_yaml
from kspec.schemas.registry import layer_class
from kspec.spec import load_document

BATCH = 2
"""The batch size of concrete inputs; unknown lengths (`None`) become 3."""


@dataclass(frozen=True)
class Case:
    """One layer configuration and the shapes (batch axis excluded) of its inputs."""

    params: dict[str, Any]
    shapes: list[list[int | None]]
    training: bool = False
    dtype: str = "float32"
    id: str = ""


@dataclass(frozen=True)
class Invalid:
    """A configuration whose input shapes the layer must reject with a `ShapeError` whose
    message contains `match` (plain text: shapes such as `(None, 4)` need no escaping)."""

    params: dict[str, Any]
    shapes: list[list[int | None]]
    match: str = ""
    id: str = ""


Reference = Callable[[LayerSpec, dict[str, np.ndarray], list[np.ndarray]], list[np.ndarray]]
"""`reference(spec, params, inputs) -> outputs` in NumPy: what the layer computes at inference."""


def layer_spec(
    type_name: str,
    params: dict[str, Any],
    shapes: list[list[int | None]],
    policy: str = "float32",
) -> ModelSpec:
    """A one-layer model of `type_name` over inputs of `shapes` (several inputs: a list),
    under the dtype `policy`."""
    inputs = {f"x{i}": {"shape": shape} for i, shape in enumerate(shapes)}
    layer = {"type": type_name, **params}
    if len(shapes) > 1:
        layer["inputs"] = list(inputs)
    data = {"kspec": 1, "dtype_policy": policy, "inputs": inputs, "layers": [layer]}
    return validate_document(load_document(data))


def _lowered(type_name: str, case: Case) -> tuple[Any, Lowering[Any], list[Shape]]:
    compiled = compile_model(layer_spec(type_name, case.params, case.shapes))
    (node,) = compiled.graph.nodes
    return node.spec, node.lowering, compiled.input_shapes_of(node)


def _concrete(in_shapes: list[Shape]) -> list[tuple[int, ...]]:
    return [(BATCH, *(3 if d is None else d for d in s[1:])) for s in in_shapes]


def _random_inputs(key: jax.Array, in_shapes: list[Shape]) -> list[jax.Array]:
    """Standard normal inputs of the concrete shapes, one key each."""
    shapes = _concrete(in_shapes)
    return [jax.random.normal(jax.random.fold_in(key, i), s) for i, s in enumerate(shapes)]


def _call(training: bool, rng: jax.Array | None, state: dict[str, Any]) -> LayerCall:
    return LayerCall(training=training, rng=rng, masks=[None], state=state, env=BuildEnv())


def check_infer_shape(type_name: str, case: Case) -> None:
    """The shape rule agrees with `jax.eval_shape` of init + apply, batch axis unknown."""
    spec, lowering, in_shapes = _lowered(type_name, case)
    concrete = _concrete(in_shapes)
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
        assert sym[0] is None, "the batch axis stays unknown"
        assert all(d is None or d == r for d, r in zip(sym, real.shape, strict=True))


def _drawn_weights(spec: LayerSpec, lowering: Lowering[Any], in_shapes: list[Shape]) -> Any:
    """The layer's weights at their shapes and dtypes, drawn by NumPy with no initializer run
    (run eagerly, initializers compile a program per weight shape: most of a check's time).
    Params are standard normal * 0.5; state (moving variances, carried states) is uniform in
    [0.5, 1.5], so a variance stays positive; integer leaves are zero."""
    abstract = jax.eval_shape(lambda k: lowering.init(spec, k, in_shapes), jax.random.PRNGKey(0))
    rng = np.random.default_rng(1)

    def draw(leaf: Any, low: float | None) -> np.ndarray:
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            return np.zeros(leaf.shape, leaf.dtype)
        values = (
            rng.normal(0.0, 0.5, leaf.shape)
            if low is None
            else rng.uniform(low, low + 1, leaf.shape)
        )
        return values.astype(leaf.dtype)

    return type(abstract)(
        params=jax.tree.map(lambda leaf: draw(leaf, None), abstract.params),
        state=jax.tree.map(lambda leaf: draw(leaf, 0.5), abstract.state),
        order=abstract.order,
    )


def check_jit(type_name: str, case: Case) -> None:
    """`apply` gives the same outputs under `jax.jit` as eagerly."""
    spec, lowering, in_shapes = _lowered(type_name, case)
    key = jax.random.PRNGKey(1)
    weights = _drawn_weights(spec, lowering, in_shapes)
    xs = _random_inputs(key, in_shapes)
    rng = jax.random.PRNGKey(2) if case.training else None

    def run(weights: Any, xs: list[jax.Array]) -> list[jax.Array]:
        return lowering.apply(spec, weights.params, xs, _call(case.training, rng, weights.state))

    for a, b in zip(run(weights, xs), jax.jit(run)(weights, xs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


def check_round_trip(type_name: str, case: Case) -> None:
    """The canonical spec, written as YAML or JSON, reads back to the same spec."""
    spec = layer_spec(type_name, case.params, case.shapes)
    assert validate_document(load_document(to_yaml(spec))) == spec
    assert validate_document(load_document(to_json(spec))) == spec


def check_policy(type_name: str, case: Case) -> None:
    """Under `mixed_bfloat16` (no arrays: `jax.eval_shape`): the variables are float32, the
    floating outputs bfloat16, the new state in its variables' dtypes, the shapes those of
    float32. Catches a lowering whose dtypes do not follow its inputs (a float32 scan carry
    beside bfloat16 steps, an operand of another dtype)."""
    plain = compile_model(layer_spec(type_name, case.params, case.shapes))
    mixed = compile_model(layer_spec(type_name, case.params, case.shapes, "mixed_bfloat16"))
    rng = jax.random.PRNGKey(0) if case.training else None
    variables = jax.eval_shape(mixed.init, jax.random.PRNGKey(0))
    inputs = {
        name: jax.ShapeDtypeStruct(s, jnp.float32)
        for name, s in zip(
            mixed.graph.inputs, _concrete(list(mixed.input_shapes.values())), strict=True
        )
    }
    outs, aux = jax.eval_shape(
        lambda v, x: mixed.apply(v, x, training=case.training, rng=rng), variables, inputs
    )
    want, _ = jax.eval_shape(
        lambda v, x: plain.apply(v, x, training=case.training, rng=rng), variables, inputs
    )
    floats = {
        str(a.dtype) for a in jax.tree.leaves(variables) if jnp.issubdtype(a.dtype, jnp.floating)
    }
    assert floats <= {"float32"}, f"variables in {floats}"
    for out, ref in zip(outs, want, strict=True):
        assert out.shape == ref.shape
        if jnp.issubdtype(ref.dtype, jnp.floating):
            assert out.dtype == jnp.bfloat16, f"an output in {out.dtype}"
    assert jax.tree.map(lambda a: a.dtype, aux.state) == jax.tree.map(
        lambda a: a.dtype, variables["state"]
    )


def check_invalid(type_name: str, case: Invalid) -> None:
    """The shape rule raises `ShapeError` (not a JAX error), and compiling the model reports
    it once, at the node."""
    spec = layer_spec(type_name, case.params, case.shapes)
    node = spec.layers[0]
    in_shapes: list[Shape] = [(None, *s) for s in case.shapes]
    try:
        lowering_of(node).infer_shape(node, in_shapes, BuildEnv())
    except ShapeError as exc:
        assert case.match in str(exc), f"{exc} does not contain {case.match!r}"
    else:
        raise AssertionError(f"{type_name} accepted input shapes {in_shapes}")
    try:
        compile_model(spec)
    except SpecError as exc:
        (diagnostic,) = exc.diagnostics
        assert diagnostic.node == node.name
        assert case.match in diagnostic.message
    else:
        raise AssertionError(f"compiling {type_name} accepted input shapes {in_shapes}")


def _randomized(key: jax.Array, params: dict[str, Any]) -> dict[str, Any]:
    """`params` with every floating array replaced by standard normal values * 0.5."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, max(len(leaves), 1))
    return jax.tree.unflatten(
        tree,
        [
            0.5 * jax.random.normal(k, leaf.shape, leaf.dtype)
            if jnp.issubdtype(leaf.dtype, jnp.floating)
            else leaf
            for k, leaf in zip(keys, leaves, strict=False)
        ],
    )


def check_reference(
    type_name: str, case: Case, reference: Reference, rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    """Inference outputs equal `reference`'s on random weights and inputs. Every floating
    parameter is drawn anew (standard normal * 0.5): initializers leave biases at zero, and a
    dropped bias add would pass a check made at zero."""
    spec, lowering, in_shapes = _lowered(type_name, case)
    key = jax.random.PRNGKey(3)
    weights = lowering.init(spec, key, in_shapes)
    xs = _random_inputs(key, in_shapes)
    params = _randomized(jax.random.PRNGKey(4), weights.params)
    outs = lowering.apply(spec, params, xs, _call(False, None, weights.state))
    params = {name: np.asarray(w) for name, w in params.items()}
    expected = reference(spec, params, [np.asarray(x) for x in xs])
    for actual, want in zip(outs, expected, strict=True):
        np.testing.assert_allclose(np.asarray(actual), want, rtol=rtol, atol=atol)


def check_layer(
    schema: type[LayerSpec],
    cases: Sequence[Case],
    invalid: Sequence[Invalid] = (),
    reference: Reference | None = None,
) -> None:
    """Every conformance check on a registered layer type, for each case (at least two, so
    shape rules are exercised beyond one configuration)."""
    name = schema.__name__
    if layer_class(name) is not schema:
        raise AssertionError(f"{name} is not registered: call kspec.register_layer first")
    assert len(cases) >= 2, "give at least two cases"
    for case in cases:
        check_infer_shape(name, case)
        check_jit(name, case)
        check_round_trip(name, case)
        check_policy(name, case)
        if reference is not None and not case.training:
            check_reference(name, case, reference)
    for bad in invalid:
        check_invalid(name, bad)
