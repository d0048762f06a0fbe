"""Dtype policies at the node boundary: Keras 3's autocasting, decided in one place.

Keras 3 (`keras/src/layers/layer.py`, `keras/src/dtype_policies/dtype_policy.py`): a layer
creates its variables in the policy's variable dtype; when called, it casts its floating
inputs to the compute dtype (unless the layer turns `autocast` off) and reads its variables in
the compute dtype (unless a variable was created with `autocast=False`). Lowerings therefore
compute in whatever dtype they are given; `apply_with_policy` casts around each call, and a
lowering that Keras keeps in float32 says so by its `Lowering.precision` declaration rather
than by casting itself:

- `AUTOCAST` (the default): inputs and weights in the compute dtype (Dense, Conv, LSTM, ...;
  RMSNormalization too, which then computes in float32 inside, as Keras' op does).
- `FLOAT32_WEIGHTS`: inputs cast, weights read as stored (BatchNormalization: its variables
  are `autocast=False`; its statistics are computed in float32 inside the lowering).
- `UNCAST`: inputs and weights as they come (the layer's `self.autocast = False`):
  LayerNormalization and GroupNormalization compute in float32 inside, Embedding gathers
  from its float32 table with integer ids.
- `WRAPPER`: inputs cast, weights left to the wrapped layer, which applies its own policy
  (TimeDistributed, Bidirectional: Keras casts at the wrapper's call and the inner call).
- `SUBMODEL`: nothing cast in or out (Keras' Functional converts its inputs to its `Input`
  dtypes, not to its policy, and returns what its layers made); each inner node applies its
  own policy.

Every other layer's floating outputs leave in its compute dtype (Keras casts them explicitly
where a layer computed in float32), and new state is stored back in the variables' dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from kspec.schemas.base import LayerSpec

if TYPE_CHECKING:
    from kspec.compiler.lowering import Array, LayerCall, LayerWeights, Lowering, Shape, Weights


@dataclass(frozen=True)
class Policy:
    """A Keras 3 `DTypePolicy`: the dtype variables are stored in and the one layers compute
    in (`mixed_bfloat16`: float32 and bfloat16)."""

    name: str
    compute: jnp.dtype
    variable: jnp.dtype


_F32, _BF16, _F16 = jnp.dtype("float32"), jnp.dtype("bfloat16"), jnp.dtype("float16")
POLICIES: dict[str, Policy] = {
    "float32": Policy("float32", _F32, _F32),
    "bfloat16": Policy("bfloat16", _BF16, _BF16),
    "float16": Policy("float16", _F16, _F16),
    "mixed_bfloat16": Policy("mixed_bfloat16", _BF16, _F32),
    "mixed_float16": Policy("mixed_float16", _F16, _F32),
}
"""Every policy a spec may name (`schemas.precision.DTypePolicyName`)."""


def policy_of(spec: LayerSpec) -> Policy:
    """The policy of a layer spec; None (a spec outside any model) is Keras' float32."""
    return POLICIES[getattr(spec, "dtype", None) or "float32"]


@dataclass(frozen=True)
class Precision:
    """How a layer meets its dtype policy: Keras' per-layer `autocast` and per-variable
    `add_weight(autocast=...)`. Computing statistics in float32 is the lowering's own code
    (`result_type(x, float32)`), as it is Keras' op's."""

    cast_inputs: bool = True
    """Floating inputs to the compute dtype (Keras `layer.autocast`)."""
    cast_weights: bool = True
    """Params and state read in the compute dtype (variables made with `autocast=True`)."""
    cast_outputs: bool = True
    """Floating outputs in the compute dtype (Keras' layers cast them where they computed in
    float32; a Functional returns what its layers made)."""
    holds_layers: bool = False
    """The weights are those of layers held inside (wrappers, sub-models), each created and
    read under the inner layer's own policy."""


AUTOCAST = Precision()
FLOAT32_WEIGHTS = Precision(cast_weights=False)
UNCAST = Precision(cast_inputs=False, cast_weights=False)
WRAPPER = Precision(cast_weights=False, holds_layers=True)
SUBMODEL = Precision(cast_inputs=False, cast_weights=False, cast_outputs=False, holds_layers=True)


def _cast(x: Any, dtype: jnp.dtype) -> Any:
    """`x` in `dtype` if it is a floating array of another dtype; anything else unchanged
    (integer ids, boolean masks, None)."""
    if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating) and x.dtype != dtype:
        return x.astype(dtype)
    return x


def cast_tree(tree: Any, dtype: jnp.dtype) -> Any:
    """Every floating leaf of `tree` in `dtype`."""
    return jax.tree.map(lambda x: _cast(x, dtype), tree)


def _like(new: Weights, old: Weights) -> Weights:
    """`new` state with each entry back in the dtype the stored variable has."""
    return {k: _cast(v, old[k].dtype) if k in old else v for k, v in new.items()}


def apply_with_policy(
    lowering: Lowering[Any], spec: LayerSpec, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """`lowering.apply` under the layer's dtype policy and the lowering's `precision`: what
    Keras' `Layer.__call__` and its autocast scope do around `call`."""
    policy, precision = policy_of(spec), lowering.precision
    stored = call.state
    if precision.cast_inputs:
        inputs = [_cast(x, policy.compute) for x in inputs]
    if precision.cast_weights:
        params, call.state = cast_tree(params, policy.compute), cast_tree(stored, policy.compute)
    outputs = lowering.apply(spec, params, inputs, call)
    if call.new_state is not None:
        call.new_state = _like(call.new_state, stored)
    call.state = stored
    return [_cast(y, policy.compute) for y in outputs] if precision.cast_outputs else outputs


def init_with_policy(
    lowering: Lowering[Any], spec: LayerSpec, key: Array, in_shapes: list[Shape]
) -> LayerWeights:
    """`lowering.init` with the variables in the policy's variable dtype (Keras `add_weight`
    with the default dtype): float32 under the mixed policies, bfloat16 under `bfloat16`.
    A layer holding others leaves its weights as the inner layers' policies made them."""
    weights = lowering.init(spec, key, in_shapes)
    if lowering.precision.holds_layers:
        return weights
    return cast_tree(weights, policy_of(spec).variable)
