"""`TrainingMixin`: Keras' training API on `Model` (compile, fit, evaluate, *_on_batch),
driving the jitted steps of `step.py`; the Keras 1/2 methods (`legacy.py`) build on it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from kspec.compiler import check_memory
from kspec.runtime.data_checks import check_batch_size, check_inputs, conform_labels
from kspec.runtime.memory_budget import max_memory
from kspec.runtime.training import data as D
from kspec.runtime.training.callbacks import Callback, CallbackList, History
from kspec.runtime.training.keras_args import check_execution, keras_result, renamed
from kspec.runtime.training.plan import Batches, FitPlan, is_iterator
from kspec.runtime.training.progress import Progress, verbosity
from kspec.runtime.training.sharding import data_parallel, fresh_copy
from kspec.runtime.training.step import Recipe, Steps, build_steps, make_recipe, output_names


class TrainingMixin:
    """Adds Keras' training methods to `Model` (which provides `compiled`, `variables`)."""

    compiled: Any
    variables: Any
    _variables: Any
    input_names: list[str]
    stop_training: bool = False
    _recipe: Recipe | None = None
    _steps: Steps | None = None
    _opt_state: Any = None
    _compile_args: dict[str, Any] | None = None
    _iterations: int = 0
    _seed: int = 0
    _steps_per_execution: int = 1
    _stepped: tuple[Any, ...] = (None, None, None)
    """The params, state and optimizer state the last train step returned (placed by it):
    while the model holds exactly these objects, the next step skips `place`'s check."""

    # Setup ---------------------------------------------------------------------------------

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None,
        loss_weights: Sequence[float] | Mapping[str, float] | None = None,
        seed: int = 0,
        weighted_metrics: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None,
        sharding: Mapping[str, Any] | None = None,
        jit_compile: bool | str = "auto",
        steps_per_execution: int = 1,
        auto_scale_loss: bool = True,
    ) -> None:
        """Fix the optimizer (name, `{"type": ..., ...}` or optax), losses, metrics.

        As in Keras, `jit_compile` ("auto" or True: every step is one XLA program, always so
        here; `False` is an error) and `steps_per_execution` are accepted: `fit` runs that
        many steps per execution, and its batch callbacks and progress fire once per
        execution, at Keras 3's `begin_step` / `end_step` indices.

        `weighted_metrics` are metrics weighted by `sample_weight` / `class_weight` (plain
        `metrics` ignore them, as in Keras 3). `sharding` splits big layers' weights over a
        `model` mesh axis: `{"model_axis": 2, "params": {"dense_1/kernel": [None, "model"]}}`
        (see docs/training.md). Resets the optimizer state; `seed` drives dropout in `fit`.
        `auto_scale_loss`: under `dtype_policy: mixed_float16` the optimizer runs behind
        Keras' dynamic loss scale (docs/precision.md).
        """
        if loss is None:
            raise ValueError("compile needs a `loss` (a Keras name such as 'mse', or a callable)")
        check_execution(jit_compile, steps_per_execution)
        self._recipe = make_recipe(
            self.compiled,
            optimizer,
            loss,
            metrics,
            loss_weights,
            weighted_metrics,
            sharding,
            auto_scale_loss,
        )
        self._compile_args = {  # what `save` writes as the spec's `compile:` section
            "optimizer": optimizer,
            "loss": loss,
            "metrics": metrics,
            "loss_weights": loss_weights,
            "weighted_metrics": weighted_metrics,
            "sharding": sharding,
        }
        self._steps, self._opt_state, self._iterations, self._seed = None, None, 0, seed
        self._steps_per_execution = steps_per_execution

    @property
    def output_names(self) -> list[str]:
        return output_names(self.compiled)

    @property
    def optimizer_state(self) -> Any:
        self._ready([])
        return self._opt_state

    @optimizer_state.setter
    def optimizer_state(self, value: Any) -> None:
        self._opt_state = value

    @property
    def iterations(self) -> int:
        return self._iterations

    def _ready(self, y_shapes: Sequence[tuple[int, ...]]) -> Steps:
        if self._recipe is None:
            spec = self.compiled.spec.compile
            if spec is None:
                raise RuntimeError(
                    "the model is not compiled: call model.compile(optimizer, loss) first "
                    "or add a `compile:` section to the spec"
                )
            self.compile(
                spec.optimizer,
                spec.loss,
                spec.metrics,
                spec.loss_weights,
                weighted_metrics=spec.weighted_metrics,
                sharding=spec.sharding,
            )
        assert self._recipe is not None
        if self._steps is None and y_shapes:
            self._steps = build_steps(self.compiled, self._recipe, y_shapes)
        if self._opt_state is None:
            trainable = self._trainable_layers()
            params = self.variables["params"]
            # one program: run eagerly, an optimizer's zeros compile one per weight shape
            self._opt_state = jax.jit(self._recipe.optimizer.init)(
                {k: v for k, v in params.items() if k in trainable}
            )
        return self._steps  # type: ignore[return-value]

    def _trainable_layers(self) -> set[str]:
        return {
            layer
            for layer, nodes in self.compiled.graph.layer_nodes().items()
            if nodes[0].spec.trainable
        }

    def _data(
        self,
        x: Any,
        y: Any,
        sample_weight: Any = None,
        class_weight: Any = None,
        values: bool = True,
    ) -> D.Arrays:
        """Arrays by name, checked against the spec and the losses (`data_checks.py`);
        `values=False` for generator batches: shapes only, no scan of every value."""
        arrays = D.make_arrays(
            x, y, self.input_names, self.output_names, sample_weight, class_weight
        )
        return self._checked(arrays, values)

    def _checked(self, arrays: D.Arrays, values: bool) -> D.Arrays:
        check_inputs(self.compiled, arrays.x)
        self._ready([])
        assert self._recipe is not None
        ys = conform_labels(
            self.compiled, self.output_names, arrays.y, self._recipe.loss_names, values
        )
        return D.Arrays(arrays.x, ys, arrays.w)

    # One batch -----------------------------------------------------------------------------

    def _train_batch(
        self, steps: Steps, batch: D.Arrays, metrics: jax.Array, donate: bool = False
    ) -> tuple[jax.Array, jax.Array]:
        """One jitted call: the packed metric states after this batch and their results.

        The metric states are always placed already (`steps.fresh` or a previous step's
        output); params and optimizer state are checked unless they are the objects the
        previous step returned, since users may assign them.
        The dropout key is made inside the step from the seed and step count, passed as one
        device vector (the step returns the next one). `donate`: the step reuses the
        buffers of the weights, optimizer and metric states (the caller owns them: `fit`).
        """
        parallel = steps.parallel
        variables, opt_state = self.variables, self._opt_state
        current = (variables["params"], variables["state"], opt_state)
        if any(now is not then for now, then in zip(current, self._stepped, strict=True)):
            variables, opt_state = parallel.place((variables, opt_state))
        x, y, w = parallel.shard((batch.x, batch.y, batch.w))
        step = steps.train_donating if donate else steps.train
        params, state, self._opt_state, metrics, results, following = step(
            variables["params"],
            variables["state"],
            opt_state,
            metrics,
            x,
            y,
            w,
            steps.counters(self._seed, self._iterations),
        )
        # a jitted step's outputs are concrete arrays: `Model.variables`' check for traced
        # values (a walk over every leaf) would find nothing
        self._variables = {"params": params, "state": state}
        self._stepped = (params, state, self._opt_state)
        self._iterations += 1
        steps.remember(self._seed, self._iterations, following)
        return metrics, results

    def _test_batch(self, steps: Steps, batch: D.Arrays, metrics: jax.Array) -> jax.Array:
        parallel = steps.parallel
        variables = parallel.place(self.variables)
        x, y, w = parallel.shard((batch.x, batch.y, batch.w))
        metrics, _ = steps.test(variables["params"], variables["state"], metrics, x, y, w)
        return metrics

    def train_on_batch(
        self,
        x: Any,
        y: Any,
        sample_weight: Any = None,
        class_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """One optimizer step on this batch; returns this batch's loss (and metrics), which
        Keras 3 computes with its metrics reset before each call."""
        batch = self._data(x, y, sample_weight, class_weight)
        steps = self._ready([v.shape for v in batch.y])
        _, results = self._train_batch(steps, batch, steps.fresh)
        return keras_result(steps.logs(results), return_dict)

    def test_on_batch(
        self, x: Any, y: Any, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        batch = self._data(x, y, sample_weight)
        steps = self._ready([v.shape for v in batch.y])
        return keras_result(steps.results(self._test_batch(steps, batch, steps.fresh)), return_dict)

    def predict_on_batch(self, *x: Any) -> Any:
        parallel = data_parallel()
        inputs = {k: np.asarray(v) for k, v in self._named_inputs(x).items()}  # type: ignore[attr-defined]
        check_inputs(self.compiled, inputs)
        variables = self._placed_variables()  # type: ignore[attr-defined]
        outputs = self._predict_step(variables, parallel.shard(inputs))  # type: ignore[attr-defined]
        arrays = [parallel.local_rows(o) for o in outputs]
        return arrays[0] if len(arrays) == 1 else arrays

    # Loops ---------------------------------------------------------------------------------

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = 1,
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        nb_epoch: int | None = None,
    ) -> History:
        """Train for `epochs` (Keras semantics); returns the `History`."""
        if nb_epoch is not None:
            renamed("nb_epoch", "epochs")
            epochs = nb_epoch
        batch_size = check_batch_size(batch_size)
        validation_batch_size = check_batch_size(
            validation_batch_size or batch_size, "validation_batch_size"
        )
        # priced before anything is allocated
        check_memory(self.compiled, batch_size, training=True, limit=max_memory())
        if is_iterator(x):
            batches = Batches(
                generator=x, batch_size=batch_size, steps=steps_per_epoch, class_weight=class_weight
            )
        else:
            train = self._data(x, y, sample_weight, class_weight)
            if validation_data is None and validation_split:
                train, validation_data = D.split_validation(train, validation_split)
            batches = Batches(train, None, batch_size, shuffle, steps_per_epoch)
        validation = None
        if validation_data is not None:
            validation = self._batches(validation_data, validation_batch_size, validation_steps)
        plan = FitPlan(
            batches,
            epochs,
            initial_epoch,
            verbosity(verbose),
            tuple(callbacks or ()),
            validation,
        )
        return self.run_fit(plan)

    def _batches(
        self, data: Any, batch_size: int, steps: int | None, samples: int | None = None
    ) -> Batches:
        """Evaluation batches from a generator, `Arrays`, or an `(x, y[, w])` tuple."""
        if is_iterator(data):
            return Batches(generator=data, batch_size=batch_size, steps=steps, samples=samples)
        arrays = data if isinstance(data, D.Arrays) else self._data(*data)
        return Batches(arrays, batch_size=batch_size, steps=steps)

    def run_fit(self, plan: FitPlan) -> History:
        """The training loop of every `fit` form: epochs of train steps, then validation."""
        history = History()
        cbs = CallbackList([*plan.callbacks, history], self)
        progress = Progress(plan.verbose, plan.epochs, plan.batches.steps_per_epoch)
        self.stop_training = False
        cbs.on_train_begin({})
        owned = False
        for epoch in range(plan.initial_epoch, plan.epochs):
            cbs.on_epoch_begin(epoch, {})
            progress.epoch_begin(epoch)
            states, results = None, None
            size = self._steps_per_execution
            for begin, group in D.executions(self._epoch(plan.batches, epoch), size):
                cbs.on_train_batch_begin(begin, {})
                for batch in group:
                    steps = self._ready([v.shape for v in batch.y])
                    if not owned:  # the arrays fit donates are its own copies
                        self.variables, self._opt_state = fresh_copy(
                            (self.variables, self._opt_state)
                        )
                        owned = True
                    states = fresh_copy(steps.fresh) if states is None else states
                    states, results = self._train_batch(steps, batch, states, donate=True)
                logs = steps.logs(results) if progress.wants_batches or cbs.wants_batches else {}
                progress.batch_end(begin + len(group) - 1, logs)
                cbs.on_train_batch_end(begin + size - 1, logs)  # Keras' end_step, as given
                if self.stop_training:
                    break
            if results is None:
                raise ValueError("fit got no training data: the epoch had no batches")
            assert self._steps is not None
            logs = self._steps.logs(results)
            if plan.validation is not None:
                logs |= {f"val_{k}": v for k, v in self.run_evaluate(plan.validation).items()}
            cbs.on_epoch_end(epoch, logs)
            progress.epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end({})
        return history

    def _epoch(self, batches: Batches, epoch: int) -> Iterator[D.Arrays]:
        def from_item(item: Any) -> D.Arrays:
            batch = D.from_generator_item(item, self.input_names, self.output_names)
            if batches.class_weight is None:
                return self._checked(batch, values=False)
            return self._data(batch.x, batch.y, batch.w, batches.class_weight, values=False)

        return batches.epoch(epoch, self._seed, from_item)

    def run_evaluate(self, batches: Batches) -> dict[str, float]:
        """The evaluation loop of every `evaluate` form: metric states over all batches."""
        states = None
        for batch in self._epoch(batches, 0):
            steps = self._ready([v.shape for v in batch.y])
            states = self._test_batch(steps, batch, steps.fresh if states is None else states)
        if states is None:
            raise ValueError("evaluate got no data")
        assert self._steps is not None
        return self._steps.results(states)

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = 0,
        sample_weight: Any = None,
        steps: int | None = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics over the data: a scalar, `[loss, *metrics]`, or a dict."""
        shown = verbosity(verbose)
        data = x if is_iterator(x) else self._data(x, y, sample_weight)
        logs = self.run_evaluate(self._batches(data, check_batch_size(batch_size), steps))
        if shown:
            Progress(2, 1, None).line("evaluate", logs)
        return keras_result(logs, return_dict)
