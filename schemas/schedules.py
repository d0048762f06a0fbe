"""Learning-rate schedules a spec may give as an optimizer's `learning_rate`: Keras 3's
`keras.optimizers.schedules`, with Keras' parameter names and defaults, chosen by `schedule:`.

```yaml
optimizer: {type: adam, learning_rate: {schedule: exponential_decay,
            initial_learning_rate: 1.0e-3, decay_steps: 1000, decay_rate: 0.9}}
```

The step a schedule sees is the optimizer's step count, starting at 0 for the first update.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    Discriminator,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Tag,
    model_validator,
)

from kspec.schemas.base import SpecModel

_INITIAL = "Learning rate at step 0."
_STAIRCASE = "Decay in whole steps of `decay_steps` (floor(step / decay_steps))."


class ExponentialDecay(SpecModel):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`."""

    schedule: Literal["exponential_decay"]
    initial_learning_rate: PositiveFloat = Field(description=_INITIAL)
    decay_steps: PositiveInt = Field(description="Steps over which the rate is multiplied once.")
    decay_rate: PositiveFloat = Field(description="Factor applied every `decay_steps`.")
    staircase: bool = Field(False, description=_STAIRCASE)


class PiecewiseConstantDecay(SpecModel):
    """`values[i]` while `boundaries[i-1] < step <= boundaries[i]`."""

    schedule: Literal["piecewise_constant_decay"]
    boundaries: list[int] = Field(description="Increasing steps where the rate changes.")
    values: list[PositiveFloat] = Field(description="One rate per interval: len(boundaries) + 1.")

    @model_validator(mode="after")
    def _one_value_per_interval(self) -> PiecewiseConstantDecay:
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"values needs one entry more than boundaries. Received: {len(self.boundaries)} "
                f"boundaries and {len(self.values)} values"
            )
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:], strict=False)):
            raise ValueError(f"boundaries must increase. Received: {self.boundaries}")
        return self


class PolynomialDecay(SpecModel):
    """`(initial - end) * (1 - step / decay_steps) ** power + end`, step capped at decay_steps."""

    schedule: Literal["polynomial_decay"]
    initial_learning_rate: PositiveFloat = Field(description=_INITIAL)
    decay_steps: PositiveInt = Field(description="Steps to go from the initial to the end rate.")
    end_learning_rate: NonNegativeFloat = Field(1e-4, description="Rate after decay_steps.")
    power: PositiveFloat = Field(1.0, description="Exponent of the polynomial (1: linear).")
    cycle: bool = Field(
        False, description="Restart past decay_steps (decay over the next multiple of it)."
    )


class InverseTimeDecay(SpecModel):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`."""

    schedule: Literal["inverse_time_decay"]
    initial_learning_rate: PositiveFloat = Field(description=_INITIAL)
    decay_steps: PositiveInt = Field(description="Steps per unit of decay.")
    decay_rate: NonNegativeFloat = Field(description="Decay per `decay_steps`.")
    staircase: bool = Field(False, description=_STAIRCASE)


class CosineDecay(SpecModel):
    """Optional linear warmup to `warmup_target`, then a half cosine down to
    `alpha` times the rate it started from, over `decay_steps`."""

    schedule: Literal["cosine_decay"]
    initial_learning_rate: NonNegativeFloat = Field(description=_INITIAL)
    decay_steps: PositiveInt = Field(description="Steps of the cosine decay (after warmup).")
    alpha: NonNegativeFloat = Field(0.0, description="Final rate as a fraction of the start.")
    warmup_target: PositiveFloat | None = Field(
        None, description="Rate reached after warmup; null: no warmup."
    )
    warmup_steps: int = Field(0, ge=0, description="Steps of linear warmup.")


class CosineDecayRestarts(SpecModel):
    """SGDR: cosine decay that restarts, each period `t_mul` times longer and its peak
    `m_mul` times the previous one."""

    schedule: Literal["cosine_decay_restarts"]
    initial_learning_rate: PositiveFloat = Field(description=_INITIAL)
    first_decay_steps: PositiveInt = Field(description="Length of the first period.")
    t_mul: PositiveFloat = Field(2.0, description="Growth of each period's length.")
    m_mul: PositiveFloat = Field(1.0, description="Factor on each period's initial rate.")
    alpha: NonNegativeFloat = Field(0.0, description="Minimum rate as a fraction of the peak.")


SCHEDULES: dict[str, type[SpecModel]] = {
    "exponential_decay": ExponentialDecay,
    "piecewise_constant_decay": PiecewiseConstantDecay,
    "polynomial_decay": PolynomialDecay,
    "inverse_time_decay": InverseTimeDecay,
    "cosine_decay": CosineDecay,
    "cosine_decay_restarts": CosineDecayRestarts,
}


def _tag(value: Any) -> str | None:
    """The class name for a `schedule:` value. Tags are class names, not the snake_case
    values, so that error locations never mistake the tag for a missing parameter."""
    name = value.get("schedule") if isinstance(value, dict) else getattr(value, "schedule", None)
    cls = SCHEDULES.get(name) if isinstance(name, str) else None
    return cls.__name__ if cls else None


Schedule = Annotated[
    Union[tuple(Annotated[cls, Tag(cls.__name__)] for cls in SCHEDULES.values())],  # noqa: UP007
    Discriminator(
        _tag,
        custom_error_type="unknown_schedule",
        custom_error_message=f"`schedule` must be one of: {', '.join(SCHEDULES)}",
    ),
]
"""Any learning-rate schedule, chosen by its `schedule:` name."""
