"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization, RMSNormalization. Fields, names and defaults are Keras 3's."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveFloat, field_validator

from kspec.schemas.base import Alias, LayerSpec
from kspec.schemas.fields import Constraint, Initializer, Regularizer

AxisList = int | list[int]


def _check_axes(axis: AxisList) -> AxisList:
    axes = [axis] if isinstance(axis, int) else axis
    if not axes:
        raise ValueError("give at least one axis. Received: axis=[]")
    if len(set(axes)) != len(axes):
        raise ValueError(f"axes must be distinct. Received: axis={axis}")
    return axis


def _keras1_mode(mode: Any) -> None:
    """Keras 1 BatchNormalization `mode`: 0 is Keras 3's only behaviour; 1 and 2 are gone."""
    meanings = {
        1: "sample-wise statistics (use LayerNormalization)",
        2: "batch statistics at inference too",
    }
    if mode != 0:
        meaning = f" ({meanings[mode]})" if mode in meanings else ""
        raise ValueError(
            f"Keras 1 BatchNormalization mode={mode!r}{meaning} is not supported: only mode=0 "
            "(feature-wise, with moving statistics at inference) exists in Keras 3"
        )


class AffineNormalization(LayerSpec):
    """The learned `gamma * y + beta` after normalizing, shared by Batch/Layer/Group."""

    center: bool = Field(True, description="Whether to add the learned offset `beta`.")
    scale: bool = Field(True, description="Whether to multiply by the learned scale `gamma`.")
    beta_initializer: Initializer = Field("zeros", validate_default=True)
    gamma_initializer: Initializer = Field("ones", validate_default=True)
    beta_regularizer: Regularizer | None = None
    gamma_regularizer: Regularizer | None = None
    beta_constraint: Constraint | None = None
    gamma_constraint: Constraint | None = None


class BatchNormalization(AffineNormalization):
    """`y = gamma * (x - mean) / sqrt(var + epsilon) + beta` per feature on `axis`. Training:
    the batch's mean and (biased) variance, and `moving = moving * momentum + batch * (1 -
    momentum)` in state; inference (or `trainable: false`): the moving statistics."""

    type: Literal["BatchNormalization"] = "BatchNormalization"
    keras1_aliases: ClassVar[dict[str, Alias]] = {
        "beta_init": "beta_initializer",
        "gamma_init": "gamma_initializer",
        "mode": (None, _keras1_mode),
    }

    axis: int = Field(-1, description="The feature axis (1 after channels_first layers).")
    momentum: float = Field(0.99, ge=0.0, le=1.0, description="Momentum of the moving stats.")
    epsilon: PositiveFloat = Field(1e-3, description="Added to the variance.")
    moving_mean_initializer: Initializer = Field("zeros", validate_default=True)
    moving_variance_initializer: Initializer = Field("ones", validate_default=True)
    synchronized: bool = Field(
        False,
        description="Global batch statistics across devices. Under `jax.jit` with a sharded "
        "batch the statistics are always global, so this changes nothing in kspec.",
    )


class LayerNormalization(AffineNormalization):
    """`y = gamma * (x - mean) / sqrt(var + epsilon) + beta`, statistics per sample over
    `axis`; gamma and beta are shaped like those axes."""

    type: Literal["LayerNormalization"] = "LayerNormalization"

    axis: AxisList = Field(-1, description="Axis or axes to normalize over.")
    epsilon: PositiveFloat = Field(1e-3, description="Added to the variance.")
    rms_scaling: bool = Field(
        False,
        description="Deprecated in Keras 3: `y = gamma * x / sqrt(var + epsilon)` without "
        "centering or beta (prefer RMSNormalization).",
    )

    @field_validator("axis")
    @classmethod
    def _distinct_axes(cls, axis: AxisList) -> AxisList:
        return _check_axes(axis)


class GroupNormalization(AffineNormalization):
    """Channels on `axis` split into `groups`; each group normalized per sample over its
    channels and all other non-batch axes, then `gamma * y + beta` per channel."""

    type: Literal["GroupNormalization"] = "GroupNormalization"

    groups: int = Field(
        32, description="Number of groups; -1 for one group per channel (instance norm)."
    )
    axis: int = Field(-1, description="The channel axis.")
    epsilon: PositiveFloat = Field(1e-3, description="Added to the variance.")

    @field_validator("groups")
    @classmethod
    def _positive_or_instance(cls, groups: int) -> int:
        if groups <= 0 and groups != -1:
            raise ValueError(
                "expected a positive integer (or -1 for instance normalization). "
                f"Received: groups={groups}"
            )
        return groups


class UnitNormalization(LayerSpec):
    """`y = x / max(||x||_2, 1e-12)`, the L2 norm taken over `axis` per sample."""

    type: Literal["UnitNormalization"] = "UnitNormalization"
    axis: AxisList = Field(-1, description="Axis or axes of the norm.")

    @field_validator("axis")
    @classmethod
    def _distinct_axes(cls, axis: AxisList) -> AxisList:
        return _check_axes(axis)


class RMSNormalization(LayerSpec):
    """`y = scale * x / sqrt(mean(x^2) + epsilon)`, the mean taken over `axis` per sample."""

    type: Literal["RMSNormalization"] = "RMSNormalization"
    axis: AxisList = Field(-1, description="Axis or axes to normalize over.")
    epsilon: PositiveFloat = Field(1e-6, description="Added to the mean square.")

    @field_validator("axis")
    @classmethod
    def _distinct_axes(cls, axis: AxisList) -> AxisList:
        return _check_axes(axis)
