"""Making and describing a model's variables without side effects on the model.

`init_program` is the one jitted program a fresh init runs; `abstract_variables` gives the
shapes a restore checks against without creating anything; `keepable` refuses traced values,
which are dead once their `jax.jit` / `grad` / `vmap` trace ends.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from kspec.compiler import CompiledModel, Variables, abstract_key


def init_program(compiled: CompiledModel) -> Any:
    """`compiled.init` from a seed (or a key) as one jitted program: run op by op, making the
    key and every weight of every initializer would each compile a program of its own."""

    order: dict[str, Any] = {}

    def init(seed: int | jax.Array) -> Variables:
        is_key = jnp.shape(seed) != ()
        variables = compiled.init(seed if is_key else jax.random.PRNGKey(seed))
        order["keys"] = _skeleton(variables)  # traced once per input type: the same keys
        return variables

    program = jax.jit(init)

    def run(seed: int | jax.Array) -> Variables:
        """jit hands dicts back with sorted keys; give them back in creation order (layers
        in graph order, weights in Keras order), as an unjitted init would."""
        return _in_order(program(seed), order["keys"])  # type: ignore[no-any-return]

    return run


def _skeleton(tree: Any) -> Any:
    return {k: _skeleton(v) for k, v in tree.items()} if isinstance(tree, dict) else None


def _in_order(tree: Any, skeleton: Any) -> Any:
    if not isinstance(skeleton, dict):
        return tree
    return {k: _in_order(tree[k], sub) for k, sub in skeleton.items()}


def abstract_variables(compiled: CompiledModel, current: Variables | None) -> Variables:
    """The variables' shapes and dtypes (`jax.ShapeDtypeStruct` leaves), creating none."""
    if current is not None:
        return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), current)
    order: dict[str, Any] = {}

    def init(key: jax.Array) -> Variables:
        variables = compiled.init(key)
        order["keys"] = _skeleton(variables)
        return variables

    return _in_order(jax.eval_shape(init, abstract_key()), order["keys"])  # type: ignore[no-any-return]


def traced(tree: Any) -> bool:
    """Whether `tree` holds tracers (values of a jit/grad/vmap trace)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(tree))


def keepable(variables: Variables) -> Variables:
    """`variables`, if a model may keep them; a clear error for traced ones."""
    if traced(variables):
        raise ValueError(
            "cannot keep traced values on the model (inside jax.jit, grad or vmap): there, "
            "use the pure model.apply(variables, ...) and return the variables"
        )
    return variables
