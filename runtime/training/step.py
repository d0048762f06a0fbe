"""The compiled training recipe and its two pure, jitted steps.

`train_step(params, state, opt_state, metrics, x, y, w, rng)`: forward in training mode, the
weighted sum of output losses + the layers' added losses (regularization), gradients wrt the
trainable layers' params only, the optax update, then the weight constraints (as Keras: after
the update). `test_step` is the forward pass in inference mode with the same losses and
metrics. Both accumulate the epoch's metric sums in their `metrics` argument, so one jitted
call per batch does everything, and the program is reused for every batch of the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

from kspec.compiler import CompiledModel
from kspec.runtime.training.losses import LossFn, get_loss, reduce_loss
from kspec.runtime.training.metrics import Metric, get_metric, mean_metric
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
    if isinstance(value, list | tuple) and what != "metrics":
        if len(value) != len(names):
            raise ValueError(f"{what} has {len(value)} entries for {len(names)} output(s) {names}")
        return list(value)
    return [value] * len(names)


@dataclass
class Recipe:
    """What `compile` fixed: optimizer, one loss and weight per output, metric identifiers."""

    optimizer: optax.GradientTransformation
    losses: list[LossFn | None]
    loss_weights: list[float]
    metric_ids: list[list[Any]]
    names: list[str]


def make_recipe(
    compiled: CompiledModel, optimizer: Any, loss: Any, metrics: Any, loss_weights: Any
) -> Recipe:
    from kspec.runtime.training.optimizers import get_optimizer

    names = output_names(compiled)
    losses = [
        None if spec is None else get_loss(_plain(spec))
        for spec in _per_output(loss, names, "loss", None)
    ]
    if all(fn is None for fn in losses):
        raise ValueError("compile needs a loss for at least one output")
    weights = _per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights", 1.0)
    metric_ids = _per_output(
        metrics if isinstance(metrics, Mapping) else list(metrics or []), names, "metrics", []
    )
    return Recipe(
        get_optimizer(optimizer),
        losses,
        [float(w) for w in weights],
        [list(m) for m in metric_ids],
        names,
    )


def _plain(spec: Any) -> Any:
    """A `LossSpec` from a spec's `compile:` section as the mapping `get_loss` takes."""
    return spec.model_dump(exclude_none=True) if hasattr(spec, "model_dump") else spec


@dataclass
class Steps:
    """The jitted steps for one model + recipe, and the metric objects they accumulate."""

    train: Any
    test: Any
    metrics: list[tuple[int, Metric]]  # (output index, metric); index -1: a loss tracker
    trainable: list[str]

    def init_metrics(self) -> list[Any]:
        return [m.init() for _, m in self.metrics]

    def results(self, states: Sequence[Any]) -> dict[str, float]:
        return {m.name: float(m.result(s)) for (_, m), s in zip(self.metrics, states, strict=True)}


def _tracker(name: str) -> Metric:
    return mean_metric(name, lambda t, p: p)


def build_steps(
    compiled: CompiledModel,
    recipe: Recipe,
    y_shapes: Sequence[tuple[int, ...]],
    parallel: DataParallel | None = None,
) -> Steps:
    """Resolve the metrics for these label shapes (Keras picks the `accuracy` variant from
    them) and build the two jitted steps, data-parallel over `parallel`'s mesh (params,
    state, optimizer state and metric sums replicated; see `sharding.py`)."""
    parallel = parallel or data_parallel()
    multi = len(recipe.names) > 1
    metrics: list[tuple[int, Metric]] = [(-1, _tracker("loss"))]
    if multi:
        metrics += [
            (-2 - i, _tracker(f"{n}_loss"))
            for i, n in enumerate(recipe.names)
            if recipe.losses[i] is not None
        ]
    for i, ids in enumerate(recipe.metric_ids):
        pred_shape = tuple(compiled.output_shapes[i])
        for identifier in ids:
            metric = get_metric(identifier, tuple(y_shapes[i]), pred_shape)
            if multi:
                metric = Metric(
                    f"{recipe.names[i]}_{metric.name}", metric.init, metric.update, metric.result
                )
            metrics.append((i, metric))
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
        for (i, metric), state in zip(metrics, states, strict=True):
            if i == -1:
                new.append(metric.update(state, size, total * size, None))
            elif i <= -2:
                new.append(metric.update(state, size, parts[-2 - i] * size, None))
            else:
                # Keras: `metrics` ignore sample weights (only `weighted_metrics` use them)
                new.append(metric.update(state, ys[i], outputs[i], None))
        return new

    def train(params, state, opt_state, metric_states, x, ys, w, rng):
        frozen = {k: v for k, v in params.items() if k not in trainable}

        def objective(weights: dict[str, Any]) -> tuple[Array, Any]:
            variables = {"params": {**frozen, **weights}, "state": state}
            outputs, aux = compiled.apply(variables, x, training=True, rng=rng)
            total, parts = losses(ys, outputs, w)
            return total + aux.loss, (outputs, aux.state, parts)

        weights = {k: v for k, v in params.items() if k in trainable}
        (loss_value, (outputs, new_state, parts)), grads = jax.value_and_grad(
            objective, has_aux=True
        )(weights)
        updates, opt_state = recipe.optimizer.update(grads, opt_state, weights)
        weights = compiled.constrain(optax.apply_updates(weights, updates))
        metric_states = accumulate(metric_states, loss_value, parts, ys, outputs, w)
        return {**frozen, **weights}, new_state, opt_state, metric_states

    def test(params, state, metric_states, x, ys, w):
        outputs, aux = compiled.apply({"params": params, "state": state}, x, training=False)
        total, parts = losses(ys, outputs, w)
        metric_states = accumulate(metric_states, total + aux.loss, parts, ys, outputs, w)
        # replicated, so every host can read the sums; outputs stay split like the batch
        metric_states = jax.lax.with_sharding_constraint(metric_states, parallel.replicated)
        return metric_states, outputs

    train_step = jax.jit(train, out_shardings=parallel.replicated)
    return Steps(train_step, jax.jit(test), metrics, trainable)
