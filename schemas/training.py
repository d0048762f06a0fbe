"""The `compile:` section of a spec: optimizer, loss, metrics and loss weights (a training
recipe). Pydantic only; the runtime turns it into optax and loss functions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from kspec.schemas.base import SpecModel

OptimizerName = Literal[
    "sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion"
]
_ADAM = ("beta_1", "beta_2", "epsilon")
OPTIMIZER_PARAMS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum", "nesterov"),
    "adam": (*_ADAM, "amsgrad"),
    "adamw": (*_ADAM, "amsgrad"),
    "rmsprop": ("rho", "momentum", "epsilon", "centered"),
    "adagrad": ("initial_accumulator_value", "epsilon"),
    "adadelta": ("rho", "epsilon"),
    "adamax": _ADAM,
    "nadam": _ADAM,
    "lion": ("beta_1", "beta_2"),
}
"""Parameters each optimizer takes besides learning_rate, weight_decay and the clipping ones."""

LossName = Literal[
    "mean_squared_error", "mse", "mean_absolute_error", "mae",
    "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error", "msle",
    "huber", "huber_loss", "log_cosh", "logcosh", "hinge", "squared_hinge", "categorical_hinge",
    "kl_divergence", "kld", "kullback_leibler_divergence", "poisson", "cosine_similarity",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
]  # fmt: skip


class OptimizerSpec(SpecModel):
    """An optimizer with parameters; unset ones take Keras 3's defaults."""

    type: OptimizerName = Field(description="Optimizer name (Keras 3, lower case).")
    learning_rate: PositiveFloat | None = Field(None, description="Step size.")
    momentum: float | None = Field(None, ge=0, description="sgd / rmsprop momentum.")
    nesterov: bool | None = Field(None, description="sgd: Nesterov momentum.")
    beta_1: float | None = Field(None, ge=0, lt=1, description="First-moment decay.")
    beta_2: float | None = Field(None, ge=0, lt=1, description="Second-moment decay.")
    epsilon: PositiveFloat | None = Field(None, description="Numerical stability term.")
    amsgrad: bool | None = Field(None, description="adam / adamw: AMSGrad variant.")
    rho: float | None = Field(None, ge=0, lt=1, description="rmsprop / adadelta decay.")
    centered: bool | None = Field(None, description="rmsprop: centered variant.")
    initial_accumulator_value: float | None = Field(None, ge=0, description="adagrad start.")
    weight_decay: float | None = Field(None, ge=0, description="Decoupled weight decay.")
    clipnorm: PositiveFloat | None = Field(None, description="Clip each gradient's norm.")
    clipvalue: PositiveFloat | None = Field(None, description="Clip gradient values.")
    global_clipnorm: PositiveFloat | None = Field(None, description="Clip the global norm.")

    @model_validator(mode="after")
    def _parameters_fit_type(self) -> OptimizerSpec:
        common = {"type", "learning_rate", "weight_decay", "clipnorm", "clipvalue"}
        allowed = common | {"global_clipnorm", *OPTIMIZER_PARAMS[self.type]}
        given = {k for k, v in self if v is not None}
        wrong = sorted(given - allowed)
        if wrong:
            raise ValueError(
                f"optimizer '{self.type}' has no parameter {', '.join(wrong)}; "
                f"it takes {', '.join(sorted(allowed - {'type'}))}"
            )
        clips = sorted(given & {"clipnorm", "clipvalue", "global_clipnorm"})
        if len(clips) > 1:
            raise ValueError(f"give only one of {', '.join(clips)}")
        return self


class LossSpec(SpecModel):
    """A loss with options, e.g. `{type: categorical_crossentropy, from_logits: true}`."""

    type: LossName = Field(description="Loss name (Keras 3).")
    from_logits: bool | None = Field(None, description="Crossentropies: y_pred are logits.")
    label_smoothing: float | None = Field(None, ge=0, le=1, description="Crossentropies.")
    delta: PositiveFloat | None = Field(None, description="huber: where it turns linear.")


AnyLoss = LossName | LossSpec


class CompileSpec(SpecModel):
    """How to train the model: Keras' `model.compile(optimizer, loss, metrics, loss_weights)`."""

    optimizer: OptimizerName | OptimizerSpec = Field(
        "rmsprop", description="Optimizer name or `{type: adam, learning_rate: 0.001}`."
    )
    loss: AnyLoss | list[AnyLoss] | dict[str, AnyLoss] = Field(
        description="One loss, one per output (list), or by output name (mapping)."
    )
    metrics: list[str] | dict[str, list[str]] = Field(
        default_factory=list, description="Metric names, for all outputs or by output name."
    )
    loss_weights: list[float] | dict[str, float] | None = Field(
        None, description="Weight of each output's loss in the total (default 1 each)."
    )
