"""Scaled dot-product attention as Keras 3's MultiHeadAttention computes it, shared by the
attention layers and the keras-hub transformer blocks.

Two lowerings, chosen at compile time exactly where Keras 3 chooses them
(`MultiHeadAttention._compute_attention`):

- fused: `jax.nn.dot_product_attention` (XLA may pick cuDNN's fused kernel on GPU) for one
  attention axis, no attention dropout and no returned scores;
- einsum: Keras' generalised equations (any `attention_axes`, dropout, scores returned).

They agree except on a query row whose every key is masked: the fused path (like Keras')
averages the values there, the einsum path (like Keras' masked `Softmax`) returns zeros.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

from kspec.compiler.deferred import jax, jnp
from kspec.compiler.dropout import dropped
from kspec.compiler.lowering import Array

_LARGE_NEGATIVE = -1e9  # keras.src.layers.activations.softmax._large_negative_number


@dataclass(frozen=True)
class AttentionPlan:
    """The static choices of one attention call: which axes attend, how scores are scaled,
    whether the fused kernel runs, the causal mask, and attention dropout."""

    axes: tuple[int, ...]
    """Attention axes of the projected `(batch, ..., heads, channels)` tensors."""
    key_dim: int
    fused: bool
    causal: bool = False
    dropout: float = 0.0
    seed: int | None = None
    window: int | None = None
    """Keras' `sliding_window`: key positions j with |i - j| < window only."""

    @property
    def scale(self) -> float:
        return 1.0 / math.sqrt(float(self.key_dim))


def fusable(
    query_rank: int,
    key_dim: int,
    value_dim: int,
    dropout: float,
    scores: bool,
    flash: bool | None = None,
) -> bool:
    """Keras' condition for `ops.dot_product_attention` (rank-3 inputs, no dropout, no scores),
    plus equal key and value head sizes, which `jax.nn.dot_product_attention` requires.

    `flash` (the layer's `flash_attention`) overrides it: False never fuses, True always
    fuses (the schema and shape rule have refused what the fused kernel cannot compute)."""
    if flash is not None:
        return flash
    return query_rank == 3 and dropout == 0.0 and not scores and key_dim == value_dim


def default_axes(query_rank: int, axes: tuple[int, ...] | None) -> tuple[int, ...]:
    """Keras' `_build_attention`: axes of the input (batch = 0), negatives counted from the
    projected rank; default every axis between batch and features."""
    if axes is None:
        return tuple(range(1, query_rank - 1))
    return tuple(a if a >= 0 else query_rank + a for a in axes)


def project(x: Array, kernel: Array, bias: Array | None) -> Array:
    """`einsum("...d,d...->...", x, kernel) + bias`: Keras' EinsumDense projections."""
    y = jnp.tensordot(x, kernel, axes=1)
    return y if bias is None else add_trailing(y, bias)


def project_out(x: Array, kernel: Array, bias: Array | None) -> Array:
    """The output projection: contract heads and channels, `(..., N, H) -> (..., *out)`."""
    y = jnp.tensordot(x, kernel, axes=2)
    return y if bias is None else add_trailing(y, bias)


def add_trailing(y: Array, bias: Array) -> Array:
    """`y + bias` with `bias` aligned to `y`'s trailing axes (explicit broadcast)."""
    return y + bias.reshape((1,) * (y.ndim - bias.ndim) + bias.shape)


def keras_mask(
    query_mask: Array | None,
    value_mask: Array | None,
    key_mask: Array | None,
    attention_mask: Array | None,
    causal: tuple[int, int] | None,
) -> Array | None:
    """`MultiHeadAttention._compute_attention_mask`: query mask `[B, T, 1]`, value and key
    masks `[B, 1, S]`, the causal mask `[1, T, S]` (`causal = (T, S)`) and `attention_mask`,
    all AND-ed; None when there is no mask at all."""
    parts = []
    if query_mask is not None:
        parts.append(query_mask.astype(bool)[..., None])
    for mask in (value_mask, key_mask):
        if mask is not None:
            parts.append(mask.astype(bool)[..., None, :])
    if causal is not None:
        parts.append(causal_mask(*causal))
    if attention_mask is not None:
        parts.append(attention_mask.astype(bool))
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        rank = max(combined.ndim, part.ndim)
        combined = _lift(combined, rank) & _lift(part, rank)
    return combined


def causal_mask(query_length: int, key_length: int) -> Array:
    """`[1, T, S]`, True where key position <= query position (Keras' cumsum rule)."""
    rows = jnp.arange(query_length)[:, None]
    cols = jnp.arange(key_length)[None, :]
    return (rows >= cols)[None]


def window_mask(query_length: int, key_length: int, window: int) -> Array:
    """`[1, T, S]`, True where |query position - key position| < window (Keras'
    `_compute_sliding_window_mask`: a symmetric band)."""
    rows = jnp.arange(query_length)[:, None]
    cols = jnp.arange(key_length)[None, :]
    return (jnp.abs(rows - cols) < window)[None]


def _lift(mask: Array, rank: int) -> Array:
    return mask.reshape((1,) * (rank - mask.ndim) + mask.shape)


def _and(mask: Array | None, band: Array) -> Array:
    """`mask & band` for a `[1, T, S]` band (causal or sliding window) on sequences."""
    return band if mask is None else _lift(mask, 3) & band


def attend(
    plan: AttentionPlan,
    query: Array,
    key: Array,
    value: Array,
    mask: Array | None,
    *,
    training: bool = False,
    rng: Array | None = None,
    packed_dropout: bool = False,
) -> tuple[Array, Array | None]:
    """Attention over projected `query (B, ..., N, Hk)`, `key`, `value (B, ..., N|K, Hv)`:
    the output `(B, ..., N, Hv)` and, on the einsum path, the probabilities. A `key`/`value`
    with fewer heads than `query` is shared by groups of query heads (grouped-query).
    `packed_dropout`: the form of the attention dropout's mask (`LoweringOptions.dropout_mask`)."""
    if plan.fused:
        if mask is not None:
            mask = _expand(mask, 4, plan.axes)
        band = None if plan.window is None else (plan.window - 1, plan.window - 1)
        out = jax.nn.dot_product_attention(
            query,
            key,
            value,
            mask=mask,
            scale=plan.scale,
            is_causal=plan.causal,
            local_window_size=band,
        )
        return out, None
    repeats = query.shape[-2] // key.shape[-2]
    if repeats > 1:
        key, value = jnp.repeat(key, repeats, axis=-2), jnp.repeat(value, repeats, axis=-2)
    positions = (query.shape[1], key.shape[1])
    if plan.causal:
        mask = _and(mask, causal_mask(*positions))
    if plan.window is not None:
        mask = _and(mask, window_mask(*positions, plan.window))
    dot, combine, rank = _equations(query.ndim, plan.axes)
    scores = jnp.einsum(dot, key, query * jnp.asarray(plan.scale, query.dtype))
    if mask is not None:
        mask = _expand(mask, rank, plan.axes)
        scores = jnp.where(mask, scores, jnp.asarray(_LARGE_NEGATIVE, scores.dtype))
    norm = tuple(range(rank - len(plan.axes), rank))
    probs = jax.nn.softmax(scores, axis=norm)
    if mask is not None:
        probs = jnp.where(mask, probs, jnp.zeros((), probs.dtype))
    kept = probs
    if training and plan.dropout > 0.0:
        kept = dropout(probs, plan.dropout, plan.seed, rng, packed_dropout)
    return jnp.einsum(combine, kept, value), probs


def dropout(x: Array, rate: float, seed: int | None, rng: Array | None, packed: bool) -> Array:
    """Keras' Dropout in training: keep with probability `1 - rate`, scale by `1/(1-rate)`;
    `packed`: the mask's form (`LoweringOptions.dropout_mask`)."""
    if rng is None:
        raise ValueError("attention dropout in training mode needs an rng: pass rng=key")
    if seed is not None:
        rng = jax.random.fold_in(rng, seed)
    return dropped(x, rate, rng, packed)


def _expand(mask: Array, rank: int, axes: tuple[int, ...]) -> Array:
    """Keras' `_masked_softmax`: insert axes at the heads position until `rank`."""
    position = -len(axes) * 2 - 1
    while mask.ndim < rank:
        mask = jnp.expand_dims(mask, position)
    return mask


def _equations(rank: int, axes: tuple[int, ...]) -> tuple[str, str, int]:
    """Keras' `_build_attention_equation` for projected tensors of `rank`: the query-key
    product, the combination with values, and the rank of the scores."""
    letters = string.ascii_lowercase
    target = letters[:rank]
    batch = [i for i in range(rank) if i not in axes and i != rank - 1]
    source, offset = "", rank
    for i in range(rank):
        if i in batch or i == rank - 1:
            source += target[i]
        else:
            source += letters[offset]
            offset += 1
    product = "".join(
        [target[i] for i in batch] + [target[i] for i in axes] + [source[i] for i in axes]
    )
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def scores_shape(
    query: tuple[int | None, ...], key: tuple[int | None, ...], axes: tuple[int, ...]
) -> tuple[int | None, ...]:
    """Shape of the probabilities for projected query and key shapes (see `_equations`)."""
    rank = len(query)
    batch = [i for i in range(rank) if i not in axes and i != rank - 1]
    return tuple([query[i] for i in batch] + [query[i] for i in axes] + [key[i] for i in axes])
