"""BatchNormalization state in a hand-written training loop (the docs/normalization.md example)
and global batch statistics when the batch is sharded across devices."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import kspec

SPEC = """
kspec: 1
inputs: {x: [3]}
layers:
  - {type: Dense, units: 8}
  - {type: BatchNormalization, momentum: 0.9}
  - {type: Activation, activation: relu}
  - {type: Dense, units: 1}
"""


def _train(model: kspec.Model, x: np.ndarray, y: np.ndarray, steps: int) -> tuple[Any, list]:
    """The docs example: optax updates the params, the new BatchNorm state is carried along."""
    optimizer = optax.adam(1e-2)
    variables = model.init(0)
    params, state = variables["params"], variables["state"]
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params: Any, state: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> Any:
        def loss_fn(params: Any) -> tuple[jax.Array, Any]:
            variables = {"params": params, "state": state}
            pred, aux = model.apply(variables, x, training=True, return_aux=True)
            return jnp.mean(jnp.square(pred - y)) + aux.loss, aux.state

        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = model.compiled.constrain(optax.apply_updates(params, updates))
        return params, state, opt_state, loss

    history = [(params, state)]
    losses = []
    for _ in range(steps):
        params, state, opt_state, loss = step(params, state, opt_state, x, y)
        history.append((params, state))
        losses.append(float(loss))
    return history, losses


def test_optax_loop_carries_batchnorm_state_and_learns() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32) * 2.0 + 1.0
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    model = kspec.load(SPEC)
    history, losses = _train(model, x, y, steps=20)
    assert losses[-1] < 0.5 * losses[0]
    # After one step the moving mean is 0.9 * 0 + 0.1 * (batch mean of the first Dense's output),
    # computed here from the params the step started from.
    params0, state0 = history[0]
    hidden = x @ np.asarray(params0["dense"]["kernel"]) + np.asarray(params0["dense"]["bias"])
    state1 = history[1][1]["batch_normalization"]
    np.testing.assert_allclose(
        np.asarray(state1["moving_mean"]), 0.1 * hidden.mean(0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(state1["moving_variance"]), 0.9 + 0.1 * hidden.var(0), rtol=1e-5
    )
    # The state keeps moving on every step; inference uses the carried state.
    means = [np.asarray(s["batch_normalization"]["moving_mean"]) for _, s in history]
    assert all(not np.allclose(a, b) for a, b in itertools.pairwise(means))
    assert np.all(np.asarray(state0["batch_normalization"]["moving_mean"]) == 0.0)


SHARDED = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import kspec

assert jax.device_count() == 2, jax.devices()
model = kspec.load({"kspec": 1, "inputs": {"x": [3]},
                    "layers": [{"type": "BatchNormalization", "momentum": 0.0}]})
variables = model.init(0)
# The two halves of the batch have different statistics: per-device moments would differ.
x = np.concatenate([np.zeros((4, 3)), np.full((4, 3), 2.0)]).astype(np.float32)
mesh = Mesh(np.array(jax.devices()), ("data",))
x_sharded = jax.device_put(x, NamedSharding(mesh, P("data")))
assert len(x_sharded.addressable_shards) == 2
run = jax.jit(lambda v, x: model.apply(v, x, training=True, return_aux=True))
y, aux = run(variables, x_sharded)
state = aux.state["batch_normalization"]
np.testing.assert_allclose(np.asarray(state["moving_mean"]), x.mean(0), rtol=1e-6)
np.testing.assert_allclose(np.asarray(state["moving_variance"]), x.var(0), rtol=1e-6)
np.testing.assert_allclose(np.asarray(y), (x - 1.0) / np.sqrt(1.0 + 1e-3), rtol=1e-5)
print("global")
"""


def test_sharded_batch_gets_global_statistics() -> None:
    """`synchronized` needs no code: under jit, a batch sharded over devices (SPMD) reduces
    over the whole batch."""
    env = {
        **os.environ,
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
    }
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SHARDED)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "global"
