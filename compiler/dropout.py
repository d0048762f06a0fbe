"""Dropout's keep masks (Dropout, SpatialDropout, AlphaDropout, recurrent and attention
dropout), drawn from as few random hashes as give the same keep probability.

`jax.random.bernoulli(key, p, shape)` keeps an element when its uniform `u = m / 2^N` (`m`: N =
23 random bits in float32) is below `p` rounded to that float type: it keeps with probability
exactly `P = ceil(p 2^N) / 2^N`. Its random words come from threefry, which hashes a pair of
32-bit words into a pair; JAX's default ("partitionable") layout spends one hash per element
and XORs the pair into one word, so XLA can shard the draw. The packed form takes less:

- where `P 2^k` is a whole number `q` for some k in 1, 2, 4, 8, 16 (the rates 0.5, 0.25,
  0.125, ...: multiples of 1/65536), k bits per element: each word (default layout) is cut
  into 32/k fields, and an element is kept when its field is below `q` (rate 0.25: 16
  elements per word);
- at other rates, bernoulli's draw from both words of each hash (JAX's original layout,
  `jax.threefry_partitionable(False)`, which JAX records per equation): half the hashes, the
  same values whatever the sharding, but a draw XLA cannot split over devices, so each
  computes all of it (the form is for CPU). For the few words of packed fields the default
  layout is the faster one (0.72 against 0.87 ms for the MNIST CNN's (128, 12, 12, 64) mask
  at rate 0.25).

The fields of a word are independent uniform integers, so the mask has bernoulli's
distribution exactly; the draw differs, so one key gives another mask in each form.
"""

from __future__ import annotations

import math

from kspec.compiler.deferred import Array, jax, jnp, np

FIELD_WIDTHS = (1, 2, 4, 8, 16)
"""Bits per element the packed form may use: the widths that tile a 32-bit word."""


def packed_fields(keep: float) -> tuple[int, int] | None:
    """`(k, q)`: keeping a k-bit uniform field when it is below q has exactly the probability
    with which `jax.random.bernoulli(key, keep)` keeps; None where no width up to 16 bits does."""
    dtype = jnp.result_type(float)  # bernoulli's uniform: float32, or float64 under x64
    mantissa = np.finfo(dtype).nmant
    exact = math.ceil(float(np.asarray(keep, dtype)) * 2.0**mantissa)  # P = exact / 2^N
    for width in FIELD_WIDTHS:
        if width <= mantissa and exact % 2 ** (mantissa - width) == 0:
            return width, exact // 2 ** (mantissa - width)
    return None


def keep_mask(rng: Array, keep: float, shape: tuple[int, ...], packed: bool) -> Array:
    """A boolean mask of `shape`, each element True with probability `keep` (as
    `jax.random.bernoulli` realizes it); when `packed`, from fewer hashes (module docstring)."""
    if not packed:
        return jax.random.bernoulli(rng, keep, shape)
    fields = packed_fields(keep)
    if fields is None:
        with jax.threefry_partitionable(False):
            return jax.random.bernoulli(rng, keep, shape)
    width, below = fields
    count = math.prod(shape)
    per_word = 32 // width
    words = jax.random.bits(rng, (-(-count // per_word),), jnp.uint32)
    shifts = jnp.arange(per_word, dtype=jnp.uint32)[None] * np.uint32(width)
    values = (words[:, None] >> shifts) & np.uint32(2**width - 1)
    return (values.reshape(-1)[:count] < np.uint32(below)).reshape(shape)


def dropped(
    x: Array, rate: float, rng: Array, packed: bool, shape: tuple[int, ...] | None = None
) -> Array:
    """Keras' dropout in training: `x / (1 - rate)` where kept, else 0. `shape`: the mask's
    shape when it broadcasts over some axes (Keras' `noise_shape`); default `x.shape`."""
    keep = keep_mask(rng, 1.0 - rate, x.shape if shape is None else shape, packed)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype))
