"""Advanced activation layers: ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax. Fields,
names and defaults are Keras 3's (ThresholdedReLU: Keras 2's, gone from Keras 3)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, NonNegativeFloat, PositiveInt

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import Constraint, Initializer, Regularizer


def _as_list(value: object) -> object:
    """Keras accepts one axis or a list of axes."""
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


class ReLU(LayerSpec):
    """`y = min(x, max_value)` for `x > threshold`, else `negative_slope * (x - threshold)`."""

    type: Literal["ReLU"] = "ReLU"
    max_value: NonNegativeFloat | None = Field(None, description="Upper bound; null: none.")
    negative_slope: NonNegativeFloat = Field(0.0, description="Slope below the threshold.")
    threshold: NonNegativeFloat = Field(0.0, description="Values up to this are not passed.")


class LeakyReLU(LayerSpec):
    """`y = x` for `x >= 0`, else `negative_slope * x` (default slope 0.3, unlike the
    `leaky_relu` activation's 0.2)."""

    type: Literal["LeakyReLU"] = "LeakyReLU"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"alpha": "negative_slope"}

    negative_slope: NonNegativeFloat = Field(0.3, description="Slope for negative inputs.")


class PReLU(LayerSpec):
    """`y = x` for `x >= 0`, else `alpha * x` with a learned `alpha` shaped like the input
    without the batch axis (1 on `shared_axes`)."""

    type: Literal["PReLU"] = "PReLU"
    keras1_aliases: ClassVar[dict[str, Alias]] = {"init": "alpha_initializer"}

    alpha_initializer: Initializer = Field("zeros", validate_default=True)
    alpha_regularizer: Regularizer | None = None
    alpha_constraint: Constraint | None = None
    shared_axes: Annotated[list[PositiveInt] | None, BeforeValidator(_as_list)] = Field(
        None,
        description="Axes (1-based, batch excluded) along which one alpha is shared, e.g. "
        "`[1, 2]` for one alpha per channel of an image.",
    )


class ELU(LayerSpec):
    """`y = x` for `x > 0`, else `alpha * (exp(x) - 1)`."""

    type: Literal["ELU"] = "ELU"
    alpha: float = Field(1.0, description="Scale of the negative part.")


class ThresholdedReLU(LayerSpec):
    """`y = x` for `x > theta`, else 0 (Keras 2; gone from Keras 3)."""

    type: Literal["ThresholdedReLU"] = "ThresholdedReLU"
    theta: NonNegativeFloat = Field(1.0, description="Threshold location.")


class Softmax(LayerSpec):
    """`y = exp(x) / sum(exp(x), axis)`; masked positions get probability 0. The mask is the
    incoming Keras mask, or a second input (true or > 0.5 = keep) broadcast to `x`."""

    type: Literal["Softmax"] = "Softmax"
    axis: int | list[int] = Field(-1, description="Axis, or axes, to normalise over.")
