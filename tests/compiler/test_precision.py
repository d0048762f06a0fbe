"""The node boundary under dtype policies (`compiler/precision.py`): variables made in the
variable dtype, weights of another dtype cast where the layer computes, gradients in the
variables' dtype, state stored back in its own dtype, wrapped layers under their own policy."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import kspec


def _model(layers: list[dict[str, Any]], shape: list[int], **model: Any) -> kspec.Model:
    m = kspec.load({"kspec": 1, "inputs": {"x": {"shape": shape}}, "layers": layers, **model})
    m.init(0)
    return m


def _dtypes(tree: Any) -> set[str]:
    return {str(a.dtype) for a in jax.tree.leaves(tree)}


CONV = [{"type": "Conv2D", "filters": 3, "kernel_size": 3}, {"type": "BatchNormalization"}]


def test_variables_are_made_in_the_variable_dtype() -> None:
    assert _dtypes(_model(CONV, [6, 6, 2], dtype_policy="mixed_bfloat16").variables) == {"float32"}
    assert _dtypes(_model(CONV, [6, 6, 2], dtype_policy="bfloat16").variables) == {"bfloat16"}
    assert _dtypes(_model(CONV, [6, 6, 2], dtype_policy="float16").variables) == {"float16"}


def test_weights_of_another_dtype_are_cast_at_the_node() -> None:
    """bfloat16 weights given to a float32 model (conv_general_dilated refuses mixed operand
    dtypes) run in float32, as the same weights in float32 do."""
    model = _model(CONV, [6, 6, 2])
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 2)).astype(np.float32)
    low = jax.tree.map(lambda a: a.astype(jnp.bfloat16), model.variables)
    y = model.apply(low, x)
    assert y.dtype == jnp.float32
    rounded = jax.tree.map(lambda a: a.astype(jnp.float32), low)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(model.apply(rounded, x)))


def test_mixed_gradients_and_state_stay_float32() -> None:
    """Under mixed_bfloat16 the gradients wrt the float32 variables are float32 and the
    BatchNormalization moving statistics updated in training are stored as float32."""
    model = _model(CONV, [6, 6, 2], dtype_policy="mixed_bfloat16")
    x = jnp.asarray(np.random.default_rng(1).standard_normal((4, 6, 6, 2)), jnp.float32)

    def loss(params: Any) -> Any:
        variables = {"params": params, "state": model.variables["state"]}
        y, aux = model.apply(variables, x, training=True, return_aux=True)
        return jnp.mean(jnp.square(y.astype(jnp.float32))), aux.state

    grads, state = jax.grad(loss, has_aux=True)(model.variables["params"])
    assert _dtypes(grads) == {"float32"}
    assert _dtypes(state) == {"float32"}
    assert not np.allclose(state["batch_normalization"]["moving_mean"], 0.0)


def test_a_wrapped_layer_keeps_its_own_rules() -> None:
    """TimeDistributed(LayerNormalization) under mixed_bfloat16: the wrapper casts its input,
    the LayerNormalization inside reads float32 gamma/beta and normalizes in float32."""
    layers = [{"type": "TimeDistributed", "layer": {"type": "LayerNormalization"}}]
    model = _model(layers, [3, 5], dtype_policy="mixed_bfloat16")
    x = np.random.default_rng(2).standard_normal((2, 3, 5)).astype(np.float32)
    params = model.variables["params"]["time_distributed"]
    params["gamma"] = jnp.full((5,), 1.0 + 2.0**-9)  # bfloat16 rounds it to 1
    y = model.apply(model.variables, x)
    assert y.dtype == jnp.bfloat16
    h = np.asarray(jnp.asarray(x).astype(jnp.bfloat16).astype(jnp.float32))
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-3)
    want = jnp.asarray(h * (1.0 + 2.0**-9), jnp.float32).astype(jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(y, np.float32), np.asarray(want, np.float32))
