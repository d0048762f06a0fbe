"""The recurrence of an additive cell (SimpleRNN, LSTM) with its weight gradients batched over
time, for backends where many small matmuls run far below one large one: XLA:CPU
(docs/performance.md).

Autodiff of a `lax.scan` accumulates every weight gradient inside the backward loop: per
timestep, `x_t^T dz_t` for the kernel, `h_{t-1}^T dz_t` for the recurrent kernel and
`dz_t W^T` for the input, each a (batch)-row matmul. Only the state gradients are sequential.
Here a `jax.custom_vjp` keeps the forward pass as it is (the input projected per step: the
faster form on CPU, `rnn_input_projection`), saves each step's pre-activation `z_t` and
previous states, and runs a backward scan that carries only the state gradients: per step, the
vjp of the cell's nonlinear part (`Cell.activate`, masking included) and one matmul, `dz_t
U^T`. The kernel, recurrent kernel, bias and input gradients are then one contraction each
over all (time x batch) rows. Same function, same gradients (summed in another order).

A `custom_vjp` has no forward-mode rule: `jax.jvp` (and `jacfwd`, `hessian`) through this form
raises; `LoweringOptions(rnn_weight_grad="per_step")` is the autodiff form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kspec.compiler.deferred import Array, jax, jnp
from kspec.compiler.layers.recurrent_cells import States, hold_masked, preactivation
from kspec.compiler.lowering import add_bias

Activate = Callable[[Array, States], States]
"""One step's nonlinear part: pre-activation z, previous states -> new states."""


def batched_recurrence(
    activate: Activate,
    weights: tuple[Array, Array | None, Array],
    xs: Array,
    masks: tuple[Array | None, Array | None],
    states: States,
    return_sequences: bool,
    unroll: int,
) -> tuple[States, Array | None]:
    """Final states and (when `return_sequences`) the time-major outputs of the recurrence
    `z_t = x_t W + b + (h_{t-1} * rd) U; states_t = activate(z_t, states_{t-1})`, masked steps
    keeping the previous states. `weights`: (kernel W, bias b or None, recurrent kernel U);
    `xs`: (time, batch, features); `masks`: the timestep mask (time, batch, 1) and the
    recurrent-dropout keep mask rd, each or None."""

    def step(carry: States, x: Array, mask: Array | None, kept: Array | None, weights: Any) -> Any:
        kernel, bias, recurrent = weights
        xw = x @ kernel if bias is None else add_bias(x @ kernel, bias)
        z = preactivation(xw, carry[0], kept, recurrent)
        return z, hold_masked(activate(z, carry), carry, mask)

    def scan(xs: Array, weights: Any, states: States, mask: Any, kept: Any, save: bool) -> Any:
        """(final states, (outputs or None, (z_t, states_{t-1}) per step or None))"""

        def body(carry: States, step_in: tuple[Array, Array | None]) -> tuple[States, Any]:
            z, new = step(carry, *step_in, kept, weights)
            out = new[0] if return_sequences else None
            return new, (out, (z, carry) if save else None)

        return jax.lax.scan(body, states, (xs, mask), unroll=unroll)

    @jax.custom_vjp
    def run(xs: Array, weights: Any, states: States, mask: Any, kept: Any) -> Any:
        final, (ys, _) = scan(xs, weights, states, mask, kept, save=False)
        return final, ys

    def forward(xs: Array, weights: Any, states: States, mask: Any, kept: Any) -> Any:
        final, (ys, saved) = scan(xs, weights, states, mask, kept, save=True)
        return (final, ys), (xs, weights, mask, kept, saved)

    def backward(residuals: Any, cotangents: Any) -> Any:
        xs, (kernel, bias, recurrent), mask, kept, (zs, previous) = residuals
        d_final, d_ys = cotangents

        def body(d_states: States, step_in: Any) -> tuple[States, Array]:
            z, prev, m, dy = step_in
            if dy is not None:  # the step's output is its new h
                d_states = (d_states[0] + dy, *d_states[1:])
            _, vjp = jax.vjp(lambda z, prev: hold_masked(activate(z, prev), prev, m), z, prev)
            dz, d_prev = vjp(d_states)
            dh = dz @ recurrent.T
            dh = dh if kept is None else dh * kept
            return (d_prev[0] + dh, *d_prev[1:]), dz

        step_ins = (zs, previous, mask, d_ys)
        d_states, dzs = jax.lax.scan(body, d_final, step_ins, reverse=True, unroll=unroll)
        h_in = previous[0] if kept is None else previous[0] * kept[None]
        d_weights = (
            jnp.einsum("tbf,tbg->fg", xs, dzs),
            None if bias is None else jnp.sum(dzs, axis=(0, 1)),
            jnp.einsum("tbh,tbg->hg", h_in, dzs),
        )
        return dzs @ kernel.T, d_weights, d_states, None, None

    run.defvjp(forward, backward)
    return run(xs, weights, states, *masks)
