"""Low-rank adaptation (LoRA) of a layer's main weight, as Keras 3 does it for Dense, Conv and
Embedding: the weight is frozen (a non-trainable variable, still listed first) and
`A @ B * lora_alpha / lora_rank` is learned, with A drawn he_uniform and B starting at zero."""

from __future__ import annotations

from kspec.compiler.deferred import jnp
from kspec.compiler.initializers import initialize
from kspec.compiler.lowering import Array, LayerCall, LayerWeights, Weights
from kspec.schemas.base import LayerSpec
from kspec.schemas.fields import HeUniform


def lora_weights(
    spec: LayerSpec, key: Array, name: str, weight: Array, others: Weights, suffix: str = "kernel"
) -> LayerWeights:
    """`{name: weight, **others}`, or with `spec.lora_rank` the frozen weight plus
    `lora_<suffix>_a` (in, rank) and `lora_<suffix>_b` (rank, out), in Keras' order."""
    if spec.lora_rank is None:
        return LayerWeights({name: weight, **others}, order=(name, *others))
    lora = {
        f"lora_{suffix}_a": initialize(HeUniform(), key, (*weight.shape[:-1], spec.lora_rank)),
        f"lora_{suffix}_b": jnp.zeros((spec.lora_rank, weight.shape[-1]), weight.dtype),
    }
    return LayerWeights({**others, **lora}, {name: weight}, (name, *others, *lora))


def effective_weight(
    spec: LayerSpec, params: Weights, call: LayerCall, name: str, suffix: str = "kernel"
) -> Array:
    """The weight a layer computes with: as stored, or frozen weight + alpha/rank * A @ B."""
    if spec.lora_rank is None:
        return params[name]
    scale = (spec.lora_alpha or spec.lora_rank) / spec.lora_rank
    update = params[f"lora_{suffix}_a"] @ params[f"lora_{suffix}_b"]
    return call.state[name] + scale * update


__all__ = ["effective_weight", "lora_weights"]
