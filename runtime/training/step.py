"""The compiled training recipe and its two pure, jitted steps.

`train_step(params, state, opt_state, metrics, x, y, w, counters)`: forward in training mode
(dropout key `fold_in(PRNGKey(seed), iteration)` from `counters = [seed, iteration]`, made
inside the program), the weighted sum of output losses + the layers' added losses
(regularization), gradients wrt the trainable layers' params only, the optax update, then
the weight constraints (as Keras: after the update). `test_step` is the forward pass in
inference mode with the same losses and metrics. Losses and metrics see the outputs in
float32 whatever the dtype policy; behind a loss scale (`loss_scale.py`, `mixed_float16`)
the gradients are those of the scaled loss and the logged loss is the unscaled one. Both
accumulate the epoch's metric sums in their `metrics` argument (every metric's sums packed
into one vector) and return the running results as one vector, so one jitted call per batch
does everything and reading the logs is one transfer. `train_donating` is the same step with
params, state, optimizer state and metric states donated (their buffers reused for the
results, no new allocation per step): `fit` runs it on arrays it owns (copied once when it
starts, so references callers kept stay valid); `train_on_batch` runs `train`, since callers
may still hold the arrays it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from kspec.compiler import CompiledModel
from kspec.runtime.training.loss_scale import current_scale, loss_scale_optimizer
from kspec.runtime.training.losses import LossFn, canonical_loss_name, get_loss, reduce_loss
from kspec.runtime.training.metrics import Metric, get_metric, mean_metric
from kspec.runtime.training.optimizers import get_optimizer
from kspec.runtime.training.sharding import DataParallel, data_parallel

Array = jax.Array
Batch = dict[str, Array]


def output_names(compiled: CompiledModel) -> list[str]:
    return [str(ref) for ref in compiled.graph.outputs]


def _per_output(value: Any, names: list[str], what: str, default: Any) -> list[Any]:
    """A setting for all outputs (one value), per output (list) or by output name (mapping)."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"{what} names unknown output(s) {unknown}; outputs: {names}")
        return [value.get(n, default) for n in names]
    if isinstance(value, list | tuple) and not what.endswith("metrics"):
        if len(value) != len(names):
            raise ValueError(f"{what} has {len(value)} entries for {len(names)} output(s) {names}")
        return list(value)
    return [value] * len(names)


@dataclass
class Recipe:
    """What `compile` fixed: optimizer, one loss and weight per output, metric identifiers
    (`weighted_metric_ids`: those weighted by sample_weight / class_weight, as Keras')."""

    optimizer: optax.GradientTransformation
    losses: list[LossFn | None]
    loss_weights: list[float]
    metric_ids: list[list[Any]]
    names: list[str]
    weighted_metric_ids: list[list[Any]]
    parallel: DataParallel
    loss_names: list[str | None]
    """Each output's Keras loss name (None for none or a callable): the label checks'."""


def _loss_name(spec: Any) -> str | None:
    plain = _plain(spec)
    name = plain.get("type") if isinstance(plain, Mapping) else plain
    return canonical_loss_name(name) if isinstance(name, str) else None


def _metric_lists(metrics: Any, names: list[str], what: str) -> list[list[Any]]:
    value = metrics if isinstance(metrics, Mapping) else list(metrics or [])
    return [list(m) for m in _per_output(value, names, what, [])]


def make_recipe(
    compiled: CompiledModel,
    optimizer: Any,
    loss: Any,
    metrics: Any,
    loss_weights: Any,
    weighted_metrics: Any = None,
    sharding: Any = None,
    auto_scale_loss: bool = True,
) -> Recipe:
    """The recipe `compile` fixes. As Keras' `compile(auto_scale_loss=True)`, a model whose
    `dtype_policy` is `mixed_float16` trains behind a dynamic loss scale (`loss_scale.py`)."""
    names = output_names(compiled)
    per_output = _per_output(loss, names, "loss", None)
    losses = [None if spec is None else get_loss(_plain(spec)) for spec in per_output]
    if all(fn is None for fn in losses):
        raise ValueError("compile needs a loss for at least one output")
    weights = _per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights", 1.0)
    transform = get_optimizer(optimizer)
    if auto_scale_loss and compiled.spec.dtype_policy == "mixed_float16":
        transform = loss_scale_optimizer(transform)
    return Recipe(
        transform,
        losses,
        [float(w) for w in weights],
        _metric_lists(metrics, names, "metrics"),
        names,
        _metric_lists(weighted_metrics, names, "weighted_metrics"),
        _parallel(compiled, sharding),
        [_loss_name(spec) for spec in per_output],
    )


def _parallel(compiled: CompiledModel, sharding: Any) -> DataParallel:
    """The process-wide data-parallel mesh, or a `batch` by `model` mesh for a declared
    layout `{"model_axis": 2, "params": {"dense_1/kernel": [None, "model"]}}` whose every
    pattern names some `layer/weight` of the model (a typo would silently replicate)."""
    if sharding is None:
        return data_parallel()
    if hasattr(sharding, "model_dump"):  # schemas.training.ShardingSpec
        sharding = sharding.model_dump()
    unknown = sorted(set(sharding) - {"model_axis", "params"})
    if unknown:
        raise ValueError(f"sharding takes model_axis and params. Received: {unknown}")
    layout = dict(sharding.get("params") or {})
    weights = [
        f"{layer}/{name}"
        for layer in compiled.graph.layer_nodes()
        for _, name in compiled.weight_names(layer)
    ]
    unmatched = [p for p in layout if not any(fnmatchcase(w, p) for w in weights)]
    if unmatched:
        raise ValueError(
            f"sharding: {unmatched} match no weight; the model's weights: {', '.join(weights)}"
        )
    return DataParallel(model_axis=sharding["model_axis"], layout=layout)


def _plain(spec: Any) -> Any:
    """A `LossSpec` from a spec's `compile:` section as the mapping `get_loss` takes."""
    return spec.model_dump(exclude_none=True) if hasattr(spec, "model_dump") else spec


@dataclass(frozen=True)
class Tracked:
    """One logged value: the total `loss`, one `output_loss`, or a `metric` of one output
    (fed the sample weights when `weighted`)."""

    kind: Literal["loss", "output_loss", "metric"]
    metric: Metric
    output: int = 0
    weighted: bool = False


@dataclass
class Steps:
    """The jitted steps for one model + recipe, and the metrics they accumulate.

    The metric states travel packed: every tracked metric's sums in one float32 vector, one
    buffer in and one out per step however many metrics there are (`build_steps` unpacks
    them inside the program, where the slices cost nothing). `fresh` is that vector zeroed
    and placed on the mesh, reused by every `train_on_batch` (arrays are immutable and
    `train` never donates, so sharing it is safe).
    """

    train: Any
    train_donating: Any
    test: Any
    tracked: list[Tracked]
    trainable: list[str]
    fresh: Array
    read: Any  # jitted: packed metric states -> results vector
    parallel: DataParallel
    _counters: tuple[tuple[int, int], Array] | None = field(default=None, repr=False)

    def counters(self, seed: int, iteration: int) -> Array:
        """`[seed, iteration]` as one replicated int32 device vector, reused while it is
        current. Python ints given to the jitted step are copied to the device on every call:
        on an H200 the seed and step count cost ~130 us that way, over a tenth of a small
        MLP's step; one vector is one buffer where two scalars were two."""
        if self._counters is None or self._counters[0] != (seed, iteration):
            array = jax.device_put(np.array([seed, iteration], np.int32), self.parallel.replicated)
            self._counters = ((seed, iteration), array)
        return self._counters[1]

    def remember(self, seed: int, iteration: int, array: Array) -> None:
        """Cache the counters a step computed (the next step count) for `counters`."""
        self._counters = ((seed, iteration), array)

    @property
    def names(self) -> list[str]:
        return [t.metric.name for t in self.tracked]

    def logs(self, results: Array) -> dict[str, float]:
        """The results vector a step returned as `{name: value}` (one device-to-host copy)."""
        return dict(zip(self.names, np.asarray(results).tolist(), strict=True))

    def results(self, metrics: Array) -> dict[str, float]:
        """The packed metric states' results as `{name: value}`."""
        return self.logs(self.read(metrics))


def in_float32(outputs: list[Array]) -> list[Array]:
    """Model outputs as losses and metrics see them: floating ones in float32, as Keras'
    losses convert `y_pred` to their float32 dtype whatever the layers' policy."""
    return [y.astype(jnp.float32) if jnp.issubdtype(y.dtype, jnp.floating) else y for y in outputs]


def _tracker(name: str) -> Metric:
    return mean_metric(name, lambda t, p: p)


def _keras_names(tracked: list[Tracked], prefixes: list[str]) -> list[Tracked]:
    """Keras' History keys: `<output>_` before per-output names of multi-output models, and
    `weighted_` before a weighted metric whose name an unweighted one already took."""
    seen: set[str] = set()
    named = []
    for t in tracked:
        prefix = prefixes[t.output] if t.kind == "metric" else ""
        name = prefix + t.metric.name
        if t.weighted and name in seen:
            name = f"{prefix}weighted_{t.metric.name}"
        seen.add(name)
        m = t.metric
        named.append(replace(t, metric=Metric(name, m.init, m.update, m.result)))
    return named


def _tracked(
    compiled: CompiledModel, recipe: Recipe, y_shapes: Sequence[tuple[int, ...]]
) -> list[Tracked]:
    """The loss trackers, then the metrics, then the weighted metrics, in Keras' log order;
    Keras picks the `accuracy` variant from the label and prediction shapes."""
    multi = len(recipe.names) > 1
    tracked = [Tracked("loss", _tracker("loss"))]
    if multi:
        tracked += [
            Tracked("output_loss", _tracker(f"{n}_loss"), i)
            for i, n in enumerate(recipe.names)
            if recipe.losses[i] is not None
        ]
    for weighted, ids_per_output in (
        (False, recipe.metric_ids),
        (True, recipe.weighted_metric_ids),
    ):
        for i, ids in enumerate(ids_per_output):
            shapes = tuple(y_shapes[i]), tuple(compiled.output_shapes[i])
            tracked += [
                Tracked("metric", get_metric(identifier, *shapes), i, weighted)
                for identifier in ids
            ]
    return _keras_names(tracked, [f"{n}_" if multi else "" for n in recipe.names])


def build_steps(
    compiled: CompiledModel, recipe: Recipe, y_shapes: Sequence[tuple[int, ...]]
) -> Steps:
    """Resolve the metrics for these label shapes and build the two jitted steps over the
    recipe's mesh: the batch split, metric sums replicated, weights and optimizer state
    replicated or where the declared layout puts them (see `sharding.py`)."""
    parallel = recipe.parallel
    tracked = _tracked(compiled, recipe, y_shapes)
    layer_nodes = compiled.graph.layer_nodes()
    trainable = [layer for layer, nodes in layer_nodes.items() if nodes[0].spec.trainable]

    def losses(ys: list[Array], outputs: list[Array], w: Array | None) -> tuple[Array, list[Array]]:
        parts = [
            reduce_loss(fn(ys[i], outputs[i]), w) if fn is not None else jnp.zeros([])
            for i, fn in enumerate(recipe.losses)
        ]
        total = sum(weight * part for weight, part in zip(recipe.loss_weights, parts, strict=True))
        return jnp.asarray(total), parts

    def accumulate(
        states: list[Any],
        total: Array,
        parts: list[Array],
        ys: list[Array],
        outputs: list[Array],
        w: Array | None,
    ) -> list[Any]:
        size = jnp.full((ys[0].shape[0],), 1.0)
        new = []
        for t, state in zip(tracked, states, strict=True):
            if t.kind == "metric":  # Keras: `metrics` ignore sample weights, `weighted_metrics`
                weights = w if t.weighted else None  # use them
                new.append(t.metric.update(state, ys[t.output], outputs[t.output], weights))
            else:
                value = total if t.kind == "loss" else parts[t.output]
                new.append(t.metric.update(state, size, value * size, None))
        return new

    initial = [t.metric.init() for t in tracked]
    # `ravel_pytree`'s layout, packed on the host: run eagerly, its concatenation would
    # compile a program of its own on the first step
    fresh = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(initial)])

    def pack(states: list[Any]) -> Array:
        return ravel_pytree(states)[0]

    def unpack(metrics: Array) -> list[Any]:
        return ravel_pytree(initial)[1](metrics)  # traced: the host zeros fold away

    def read(metrics: Array) -> Array:
        states = unpack(metrics)
        return jnp.stack([t.metric.result(s) for t, s in zip(tracked, states, strict=True)])

    def train(params, state, opt_state, metrics, x, ys, w, counters):
        rng = jax.random.fold_in(jax.random.PRNGKey(counters[0]), counters[1])
        frozen = {k: v for k, v in params.items() if k not in trainable}

        scale = current_scale(opt_state)

        def objective(weights: dict[str, Any]) -> tuple[Array, Any]:
            variables = {"params": {**frozen, **weights}, "state": state}
            outputs, aux = compiled.apply(variables, x, training=True, rng=rng)
            outputs = in_float32(outputs)
            total, parts = losses(ys, outputs, w)
            loss = total + aux.loss
            return (loss if scale is None else loss * scale), (loss, outputs, aux.state, parts)

        weights = {k: v for k, v in params.items() if k in trainable}
        (_, (loss_value, outputs, new_state, parts)), grads = jax.value_and_grad(
            objective, has_aux=True
        )(weights)
        updates, opt_state = recipe.optimizer.update(grads, opt_state, weights)
        weights = compiled.constrain(optax.apply_updates(weights, updates))
        metrics = pack(accumulate(unpack(metrics), loss_value, parts, ys, outputs, w))
        params, new_state, opt_state = parallel.constrain(
            ({**frozen, **weights}, new_state, opt_state)
        )
        logs = jax.lax.with_sharding_constraint(
            (metrics, read(metrics), counters.at[1].add(1)), parallel.replicated
        )
        return params, new_state, opt_state, *logs

    def test(params, state, metrics, x, ys, w):
        outputs, aux = compiled.apply({"params": params, "state": state}, x, training=False)
        scored = in_float32(outputs)
        total, parts = losses(ys, scored, w)
        metrics = pack(accumulate(unpack(metrics), total + aux.loss, parts, ys, scored, w))
        # replicated, so every host can read the sums; outputs stay split like the batch
        return jax.lax.with_sharding_constraint(metrics, parallel.replicated), outputs

    return Steps(
        jax.jit(train),
        jax.jit(train, donate_argnums=(0, 1, 2, 3)),
        jax.jit(test),
        tracked,
        trainable,
        parallel.replicate(fresh),
        jax.jit(read, out_shardings=parallel.replicated),
        parallel,
    )
