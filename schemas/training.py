"""The `compile:` section of a spec: optimizer, loss, metrics and loss weights (a training
recipe). Pydantic only; the runtime turns it into optax and loss functions."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, PositiveFloat, PositiveInt, Tag, model_validator

from kspec.schemas.base import SpecModel
from kspec.schemas.schedules import Schedule


def _kind(value: Any) -> str:
    return "Mapping" if isinstance(value, dict | SpecModel) else "Plain"


def by_kind(plain: Any, mapping: Any) -> Any:
    """`plain | mapping`, validated only by the branch the value's kind picks, so that a
    mistake inside a mapping is not also reported as "should be a number" or "unknown name".
    The tags are capitalised so error locations never read them as parameter names."""
    return Annotated[
        Union[Annotated[plain, Tag("Plain")], Annotated[mapping, Tag("Mapping")]],  # noqa: UP007
        Discriminator(_kind),
    ]


OptimizerName = Literal[
    "sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion",
    "adafactor", "ftrl", "lamb",
]  # fmt: skip
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
    "adafactor": ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step"),
    "ftrl": (
        "learning_rate_power",
        "initial_accumulator_value",
        "l1_regularization_strength",
        "l2_regularization_strength",
        "l2_shrinkage_regularization_strength",
        "beta",
    ),
    "lamb": _ADAM,
}
"""Parameters each optimizer takes besides learning_rate, weight_decay and the clipping ones."""

LossName = Literal[
    "mean_squared_error", "mse", "mean_absolute_error", "mae",
    "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error", "msle",
    "huber", "huber_loss", "log_cosh", "logcosh", "hinge", "squared_hinge", "categorical_hinge",
    "kl_divergence", "kld", "kullback_leibler_divergence", "poisson", "cosine_similarity",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "tversky", "circle",
    "ctc", "categorical_generalized_cross_entropy",
]  # fmt: skip
LOSS_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "huber_loss": "huber",
    "logcosh": "log_cosh",
}
"""Short and old loss names, and the loss each stands for."""
_FOCAL = ("alpha", "gamma", "from_logits", "label_smoothing", "axis")
LOSS_OPTIONS: dict[str, tuple[str, ...]] = {
    "categorical_crossentropy": ("from_logits", "label_smoothing"),
    "binary_crossentropy": ("from_logits", "label_smoothing"),
    "sparse_categorical_crossentropy": ("from_logits",),
    "huber": ("delta",),
    "binary_focal_crossentropy": ("apply_class_balancing", *_FOCAL),
    "categorical_focal_crossentropy": _FOCAL,
    "dice": ("axis",),
    "tversky": ("alpha", "beta", "axis"),
    "circle": ("gamma", "margin", "remove_diagonal"),
    "categorical_generalized_cross_entropy": ("q",),
}
"""The options each loss takes (by its function name); the others take none."""


LearningRate = by_kind(PositiveFloat, Schedule)
"""A number, or a schedule `{schedule: exponential_decay, ...}`."""


class OptimizerSpec(SpecModel):
    """An optimizer with parameters; unset ones take Keras 3's defaults."""

    type: OptimizerName = Field(description="Optimizer name (Keras 3, lower case).")
    learning_rate: LearningRate | None = Field(
        None, description="Step size: a number, or a schedule `{schedule: cosine_decay, ...}`."
    )
    momentum: float | None = Field(None, ge=0, description="sgd / rmsprop momentum.")
    nesterov: bool | None = Field(None, description="sgd: Nesterov momentum.")
    beta_1: float | None = Field(None, ge=0, lt=1, description="First-moment decay.")
    beta_2: float | None = Field(None, ge=0, lt=1, description="Second-moment decay.")
    epsilon: PositiveFloat | None = Field(None, description="Numerical stability term.")
    amsgrad: bool | None = Field(None, description="adam / adamw: AMSGrad variant.")
    rho: float | None = Field(None, ge=0, lt=1, description="rmsprop / adadelta decay.")
    centered: bool | None = Field(None, description="rmsprop: centered variant.")
    initial_accumulator_value: float | None = Field(None, ge=0, description="adagrad/ftrl start.")
    beta_2_decay: float | None = Field(None, lt=0, description="adafactor: decay exponent.")
    epsilon_1: PositiveFloat | None = Field(None, description="adafactor: added to g².")
    epsilon_2: PositiveFloat | None = Field(None, description="adafactor: least weight RMS.")
    clip_threshold: PositiveFloat | None = Field(None, description="adafactor: update RMS clip.")
    relative_step: bool | None = Field(None, description="adafactor: lr <= 1/sqrt(step).")
    learning_rate_power: float | None = Field(None, le=0, description="ftrl: lr decay power.")
    l1_regularization_strength: float | None = Field(None, ge=0, description="ftrl: L1.")
    l2_regularization_strength: float | None = Field(None, ge=0, description="ftrl: L2.")
    l2_shrinkage_regularization_strength: float | None = Field(
        None, ge=0, description="ftrl: L2 shrinkage (a penalty on the weights in the gradient)."
    )
    beta: float | None = Field(None, ge=0, description="ftrl: the beta of the FTRL paper.")
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
    apply_class_balancing: bool | None = Field(None, description="binary focal: weigh by alpha.")
    alpha: float | None = Field(None, ge=0, description="focal: class weight; tversky: FP weight.")
    beta: float | None = Field(None, ge=0, description="tversky: false-negative weight.")
    gamma: float | None = Field(None, ge=0, description="focal: focusing power; circle: scale.")
    axis: int | list[int] | None = Field(None, description="Axes reduced (dice/tversky: all).")
    margin: float | None = Field(None, description="circle: relaxation margin.")
    remove_diagonal: bool | None = Field(None, description="circle: no self pairs.")
    q: float | None = Field(None, gt=0, le=1, description="generalized crossentropy exponent.")

    @model_validator(mode="after")
    def _options_fit_type(self) -> LossSpec:
        options = LOSS_OPTIONS.get(LOSS_ALIASES.get(self.type, self.type), ())
        wrong = sorted({k for k, v in self if v is not None} - {"type", *options})
        if wrong:
            takes = f"it takes {', '.join(options)}" if options else "it takes none"
            raise ValueError(f"loss '{self.type}' has no option {', '.join(wrong)}; {takes}")
        return self


AnyLoss = LossName | LossSpec
AnyOptimizer = by_kind(OptimizerName, OptimizerSpec)


_AT = ("num_thresholds", "class_id")
_IOU = ("ignore_class", "sparse_y_true", "sparse_y_pred", "axis")
METRIC_OPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "auc": ((), ("curve", "num_thresholds")),
    "true_positives": ((), ("thresholds",)),
    "false_positives": ((), ("thresholds",)),
    "true_negatives": ((), ("thresholds",)),
    "false_negatives": ((), ("thresholds",)),
    "sensitivity_at_specificity": (("specificity",), _AT),
    "specificity_at_sensitivity": (("sensitivity",), _AT),
    "precision_at_recall": (("recall",), _AT),
    "recall_at_precision": (("precision",), _AT),
    "f1_score": (("average",), ("threshold",)),
    "fbeta_score": (("average",), ("beta", "threshold")),
    "iou": (("num_classes", "target_class_ids"), _IOU),
    "mean_iou": (("num_classes",), _IOU),
    "one_hot_iou": (("num_classes", "target_class_ids"), ("ignore_class", "sparse_y_pred", "axis")),
    "one_hot_mean_iou": (("num_classes",), ("ignore_class", "sparse_y_pred", "axis")),
    "binary_iou": ((), ("target_class_ids", "threshold")),
    "r2_score": ((), ("class_aggregation", "num_regressors")),
    "pearson_correlation": ((), ("axis",)),
    "concordance_correlation": ((), ("axis",)),
}
"""Metrics that take options: (required, optional) besides `name`, as Keras' classes. A
required option has no Keras default, or a default (F1Score's `average=None`: one value per
class) that kspec's scalar logs cannot hold."""


ConfigurableMetric = Literal[tuple(METRIC_OPTIONS)]  # type: ignore[valid-type]


class MetricSpec(SpecModel):
    """A metric with options, e.g. `{type: auc, curve: PR}` or `{type: MeanIoU, num_classes:
    3}` (Keras' metric classes and their arguments); unset options take Keras' defaults."""

    type: ConfigurableMetric = Field(description="The metric (Keras 3 name).")
    name: str | None = Field(None, description="History key (default: the type).")
    curve: Literal["ROC", "PR"] | None = Field(None, description="auc: ROC or precision-recall.")
    num_thresholds: int | None = Field(None, ge=2, description="Evenly spaced thresholds.")
    thresholds: float | None = Field(None, ge=0, le=1, description="Counts: the threshold.")
    specificity: float | None = Field(None, ge=0, le=1, description="The specificity to reach.")
    sensitivity: float | None = Field(None, ge=0, le=1, description="The sensitivity to reach.")
    recall: float | None = Field(None, ge=0, le=1, description="The recall to reach.")
    precision: float | None = Field(None, ge=0, le=1, description="The precision to reach.")
    class_id: int | None = Field(None, ge=0, description="Score only this class's column.")
    average: Literal["micro", "macro", "weighted"] | None = Field(
        None, description="F-scores: over all entries (micro) or per class, then averaged."
    )
    beta: PositiveFloat | None = Field(None, description="fbeta_score: recall's weight.")
    threshold: float | None = Field(None, gt=0, le=1, description="Prediction > it is positive.")
    num_classes: int | None = Field(None, ge=2, description="IoU: the number of classes.")
    target_class_ids: list[int] | None = Field(None, description="IoU: the classes averaged.")
    ignore_class: int | None = Field(None, description="IoU: a label left out.")
    sparse_y_true: bool | None = Field(None, description="IoU: labels are class ids.")
    sparse_y_pred: bool | None = Field(None, description="IoU: predictions are class ids.")
    axis: int | None = Field(None, description="Class axis (IoU), or the reduced axis.")
    class_aggregation: Literal["uniform_average", "variance_weighted_average"] | None = Field(
        None, description="r2_score: how the outputs' scores are averaged."
    )
    num_regressors: int | None = Field(None, ge=0, description="r2_score: adjusted R².")

    @model_validator(mode="after")
    def _options_fit_type(self) -> MetricSpec:
        required, optional = METRIC_OPTIONS[self.type]
        given = {k for k, v in self if v is not None} - {"type", "name"}
        wrong, missing = sorted(given - {*required, *optional}), sorted(set(required) - given)
        if wrong:
            takes = ", ".join([*required, *optional, "name"])
            raise ValueError(
                f"metric '{self.type}' has no option {', '.join(wrong)}; it takes {takes}"
            )
        if missing:
            raise ValueError(f"metric '{self.type}' needs {', '.join(missing)}")
        return self


AnyMetric = by_kind(str, MetricSpec)
Metrics = by_kind(list[AnyMetric], dict[str, list[AnyMetric]])
"""Metrics for every output (a list) or by output name (a mapping of lists)."""


class ShardingSpec(SpecModel):
    """Model parallelism for big layers: devices form a `batch` by `model` mesh, and the named
    weights are split over `model` (everything else stays replicated)."""

    model_axis: PositiveInt = Field(
        description="Devices along the `model` axis; it must divide the device count."
    )
    params: dict[str, list[Literal["model"] | None]] = Field(
        description="`layer/weight` glob (e.g. `dense_1/kernel`) -> one entry per weight axis: "
        "`model` splits that axis over the model devices, null keeps it whole."
    )


class CompileSpec(SpecModel):
    """How to train the model: Keras' `model.compile(optimizer, loss, metrics, loss_weights)`."""

    optimizer: AnyOptimizer = Field(
        "rmsprop", description="Optimizer name or `{type: adam, learning_rate: 0.001}`."
    )
    loss: AnyLoss | list[AnyLoss] | dict[str, AnyLoss] = Field(
        description="One loss, one per output (list), or by output name (mapping)."
    )
    metrics: Metrics = Field(
        default_factory=list, description="Metric names, for all outputs or by output name."
    )
    weighted_metrics: Metrics = Field(
        default_factory=list,
        description="Metrics weighted by sample_weight / class_weight (Keras' weighted_metrics).",
    )
    loss_weights: list[float] | dict[str, float] | None = Field(
        None, description="Weight of each output's loss in the total (default 1 each)."
    )
    sharding: ShardingSpec | None = Field(
        None, description="Split big layers' weights over devices (default: all replicated)."
    )
