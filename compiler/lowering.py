"""The lowering contract: how one layer type becomes shape rules and pure JAX functions.

A lowering is a frozen bundle of plain functions over the layer's validated spec:

    infer_shape(spec, in_shapes, env) -> out_shapes      # batch and unknown lengths are None
    init(spec, key, in_shapes)        -> LayerWeights    # Keras weight names, shapes, order
    apply(spec, params, inputs, call) -> outputs         # pure; `call` carries training, rng, ...

Shapes, init and apply of one layer live together in `compiler/layers/<family>.py` and share
derived quantities (kernel shape, padding). Lowerings raise `ShapeError` without a location; the
graph walker adds node and place once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, get_args

from kspec.compiler.deferred import Array, jax, when_imported
from kspec.compiler.options import LoweringOptions
from kspec.compiler.precision import AUTOCAST, Precision
from kspec.errors import ShapeError
from kspec.schemas.base import LayerSpec

if TYPE_CHECKING:
    from kspec.compiler.compile import CompiledModel
    from kspec.schemas.model import GraphSpec
Shape = tuple[int | None, ...]
Weights = dict[str, Array]
S = TypeVar("S", bound=LayerSpec)
MaskPolicy = Literal["propagate", "consume", "drop", "error"]
"""What a layer does with a masked input (Keras' `supports_masking`, decided at compile time):

- `propagate`: element-wise; the input's mask is passed on (Dense, Dropout, Activation);
- `consume`: the layer honours the mask (RNNs skip masked steps, pooling averages unmasked ones);
- `drop`: the layer documents that it ignores the mask; its output is unmasked;
- `error`: the layer cannot honour a mask, so a masked input is a compile-time error naming both
  layers (Keras 3 would silently drop the mask). The default: a new layer must opt in.
"""


def abstract_key() -> Any:
    """A PRNG key's shape and dtype under the default PRNG implementation (threefry's `(2,)`,
    rbg's `(4,)`, whichever the program configured): what `jax.eval_shape(init, ...)` needs to
    find weight shapes, without making a key (which compiles and runs a program). A fresh
    function each call: `eval_shape` caches traces by function, not by the PRNG setting."""
    return jax.eval_shape(lambda seed: jax.random.PRNGKey(seed), 0)


@dataclass(frozen=True)
class LayerWeights:
    """A layer's variables: trainable `params` and non-trainable `state` (moving statistics,
    frozen kernels). Keras lists a layer's weights in creation order; that is params then
    state unless `order` (weight names, in creation order) says otherwise."""

    params: Weights = field(default_factory=dict)
    state: Weights = field(default_factory=dict)
    order: tuple[str, ...] | None = None

    def keras_order(self) -> list[tuple[str, str]]:
        """`(group, name)` of every weight, in Keras' `layer.weights` order."""
        groups = {**{n: "state" for n in self.state}, **{n: "params" for n in self.params}}
        return [(groups[n], n) for n in self.order or [*self.params, *self.state]]


when_imported(
    lambda: jax.tree_util.register_dataclass(
        LayerWeights, data_fields=["params", "state"], meta_fields=["order"]
    )
)


@dataclass(frozen=True)
class BuildEnv:
    """What the caller supplies at compile time: Python functions registered for `Lambda`, and
    the lowering options (which form each per-backend choice takes, `compiler/options.py`)."""

    functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    lowering: LoweringOptions = field(default_factory=LoweringOptions)


@dataclass
class LayerCall:
    """Everything one application of a layer may read or record besides params and inputs.

    Mutated only while tracing one apply, never shared between calls, so apply stays pure:
    added losses and new state come back to the caller explicitly.
    """

    training: bool
    rng: Array | None
    masks: list[Array | None]
    state: Weights
    env: BuildEnv
    losses: list[Array] = field(default_factory=list)
    new_state: Weights | None = None

    def add_loss(self, loss: Array) -> None:
        """Add a scalar to the model's training loss (activity regularizers)."""
        self.losses.append(loss)

    def update_state(self, state: Weights) -> None:
        """Replace this layer's state after the call (moving statistics, RNN state)."""
        self.new_state = state

    def need_rng(self, layer: str) -> Array:
        if self.rng is None:
            raise ValueError(f"{layer} in training mode needs an rng: pass apply(..., rng=key)")
        return self.rng


def no_weights(spec: LayerSpec, key: Array, in_shapes: list[Shape]) -> LayerWeights:
    """`init` for layers without variables."""
    return LayerWeights()


def keep_mask(
    spec: LayerSpec, masks: list[Array | None], inputs: list[Array]
) -> list[Array | None]:
    """Mask rule of element-wise layers: the input's mask is the output's."""
    return masks[:1]


def drop_mask(
    spec: LayerSpec, masks: list[Array | None], inputs: list[Array]
) -> list[Array | None]:
    """Mask rule of layers whose output has no time axis to mask."""
    return [None]


WeightRule = tuple[str, Any]
"""`(weight name, rule)`: a regularizer or constraint (a `schemas.fields` model) on a weight."""


@dataclass(frozen=True)
class Lowering(Generic[S]):
    """Shape rule, initializer and pure apply for one layer schema class."""

    spec_type: type[S]
    infer_shape: Callable[[S, list[Shape], BuildEnv], list[Shape]]
    apply: Callable[[S, Weights, list[Array], LayerCall], list[Array]]
    init: Callable[[S, Array, list[Shape]], LayerWeights] = no_weights
    compute_mask: Callable[[S, list[Array | None], list[Array]], list[Array | None]] = keep_mask
    mask: MaskPolicy = "error"
    masks_output: Callable[[S, list[bool]], list[bool]] | None = None
    """Static twin of `compute_mask`: which outputs carry a mask, given which inputs do.
    Default: output 0 is masked when input 0 is and the policy is `propagate`; else none."""
    check_masks: Callable[[S, list[Shape | None], list[bool | None]], None] | None = None
    """Raises `ShapeError` where the inputs' Keras masks (which inputs carry one, arranged by
    call argument like the shapes) cannot apply at these shapes; run with shape inference."""
    governs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Which weights each `*_regularizer` / `*_constraint` field of the schema applies to:
    `{"recurrent_regularizer": ("recurrent_kernel",), ...}` (a test checks every such field
    is declared)."""
    nested_rules: Callable[[S], list[WeightRule]] | None = None
    """The weight rules of layers this one holds (wrappers, sub-models), under its names."""
    wrappable: bool = True
    """Whether `TimeDistributed` may apply it per timestep (folding time into the batch)."""
    couples_rows: bool = False
    """Whether, in inference, one sample's output may depend on the other samples of its
    batch (a `Lambda` can: `x - mean(x, axis=0)`). `predict` then runs a last partial batch
    at its true size, as Keras does, instead of padding it to reuse the compiled program."""
    inner_model: CompiledModel | None = None
    """The compiled graph a sub-model node applies (`summary`, `get_layer` look inside)."""
    precision: Precision = AUTOCAST
    """How the layer meets its dtype policy (`compiler/precision.py`): by default inputs and
    weights in the compute dtype; the layers Keras keeps in float32 declare it here."""

    def __post_init__(self) -> None:
        # A misspelt policy would otherwise act as none of them, silently (plugins declare
        # lowerings too).
        if self.mask not in get_args(MaskPolicy):
            raise ValueError(
                f"the lowering of {self.spec_type.__name__} declares mask={self.mask!r}; "
                f"expected one of {', '.join(map(repr, get_args(MaskPolicy)))}"
            )

    def weight_rules(self, spec: S) -> list[WeightRule]:
        """Every regularizer and constraint `spec` puts on its weights (nested ones too)."""
        own = [
            (weight, rule)
            for name, weights in self.governs.items()
            if (rule := getattr(spec, name)) is not None
            for weight in weights
        ]
        return own + (self.nested_rules(spec) if self.nested_rules else [])

    def output_masked(self, spec: S, in_masked: list[bool], outputs: int) -> list[bool]:
        """Which of the `outputs` tensors carry a mask (compile time, no arrays)."""
        if self.masks_output is not None:
            return self.masks_output(spec, in_masked)
        first = self.mask == "propagate" and bool(in_masked) and in_masked[0]
        return [first] + [False] * (outputs - 1)


def regularized(**weights: str) -> dict[str, tuple[str, ...]]:
    """`Lowering.governs` in Keras' usual pattern, from each rule prefix to the weight it
    governs: `regularized(recurrent="recurrent_kernel")` declares that
    `recurrent_regularizer` and `recurrent_constraint` apply to weight `recurrent_kernel`."""
    return {
        f"{prefix}_{kind}": (weight,)
        for prefix, weight in weights.items()
        for kind in ("regularizer", "constraint")
    }


class Resolve(Protocol):
    """The compiler's lowering lookup, handed to composite layers so they lower the layers
    they hold: any layer spec (built-in, plugin, wrapper, sub-model) -> its lowering."""

    def __call__(self, spec: LayerSpec) -> Lowering[Any]: ...

    def compile(self, spec: GraphSpec) -> CompiledModel:
        """A sub-model's graph, compiled like any model (its mistakes located in it)."""
        ...


@dataclass(frozen=True)
class Composite(Generic[S]):
    """A layer holding other layers (wrappers) or a graph (sub-models): lowered per node, by
    `bind(spec, resolve)`, from the lowerings `resolve` gives the layers inside. The compiler
    passes its lookup in, so any wrappable layer type, plugins included, can be held."""

    spec_type: type[S]
    bind: Callable[[S, Resolve], Lowering[S]]


def expect_rank(spec: LayerSpec, shape: Shape, at_least: int, *, exactly: bool = False) -> None:
    """Raise `ShapeError` unless `shape` (batch included) has the rank `spec`'s layer needs,
    naming the layer by its schema type (as `expect_inputs` does)."""
    ok = len(shape) == at_least if exactly else len(shape) >= at_least
    if not ok:
        need = f"rank {at_least}" if exactly else f"rank >= {at_least}"
        raise ShapeError(
            f"{type(spec).__name__} expects an input of {need}. "
            f"Received: shape={format_shape(shape)}"
        )


def expect_inputs(spec: LayerSpec, shapes: list[Shape], count: int) -> None:
    """Reject a call on other than `count` inputs, naming the layer by its schema type."""
    if len(shapes) != count:
        raise ShapeError(
            f"{type(spec).__name__} takes {count} input(s). Received: {len(shapes)} inputs"
        )


def same_shape(spec: LayerSpec, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    """The shape rule of a one-input layer whose output has its input's shape."""
    expect_inputs(spec, shapes, 1)
    return [shapes[0]]


def format_shape(shape: Shape) -> str:
    """`(None, 28, 28, 1)`, as Keras prints shapes."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def add_bias(y: Array, bias: Array, axis: int = -1) -> Array:
    """`y + bias` along `axis` (the channel axis), broadcast explicitly: kspec runs clean
    under `jax_numpy_rank_promotion="raise"`."""
    shape = [1] * y.ndim
    shape[axis] = bias.shape[0]
    return y + bias.reshape(shape)
