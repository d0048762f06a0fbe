"""Wrapper layers: TimeDistributed and Bidirectional take another layer as a nested `layer:`.

The nested field's type, `InnerLayer` (any layer type, not a shared node), is defined in
`schemas/nodes.py`: a wrapped layer is validated by the schema its `type` names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from kspec.schemas.base import LayerSpec
from kspec.schemas.nodes import InnerLayer


def _check_inner(layer: LayerSpec, field: str) -> None:
    if layer.inputs is not None:
        raise ValueError(f"`{field}` is wrapped, so it takes no `inputs`; give them to the wrapper")


class TimeDistributed(LayerSpec):
    """`y[:, t] = layer(x[:, t])` for every timestep t, with one set of weights."""

    type: Literal["TimeDistributed"] = "TimeDistributed"
    layer: InnerLayer = Field(
        description="The layer applied to every timestep (its weights appear under the "
        "wrapper's name)."
    )

    @model_validator(mode="after")
    def _check(self) -> TimeDistributed:
        _check_inner(self.layer, "layer")
        return self


class Bidirectional(LayerSpec):
    """`merge(forward(x), reverse_time(backward(x)))` over a recurrent layer."""

    type: Literal["Bidirectional"] = "Bidirectional"
    layer: InnerLayer = Field(
        description="The recurrent layer run forwards; a copy with `go_backwards` flipped runs "
        "backwards unless `backward_layer` is given."
    )
    merge_mode: Literal["concat", "sum", "mul", "ave"] | None = Field(
        "concat",
        description="How the two directions' outputs combine; null: both as separate outputs "
        "(`node:0` forward, `node:1` backward).",
    )
    backward_layer: InnerLayer | None = Field(
        None,
        description="The layer run backwards (its own weights); must have the opposite "
        "`go_backwards` and the same `return_sequences`, `return_state`, `stateful`.",
    )

    @model_validator(mode="after")
    def _check(self) -> Bidirectional:
        _check_inner(self.layer, "layer")
        if not hasattr(self.layer, "go_backwards"):
            raise ValueError(
                f"Bidirectional wraps a recurrent layer. Received: {type(self.layer).__name__}"
            )
        back = self.backward_layer
        if back is None:
            return self
        _check_inner(back, "backward_layer")
        if not hasattr(back, "go_backwards"):
            raise ValueError(
                f"backward_layer must be a recurrent layer. Received: {type(back).__name__}"
            )
        if back.go_backwards == self.layer.go_backwards:  # type: ignore[attr-defined]
            raise ValueError(
                "`layer` and `backward_layer` need different `go_backwards` values. Received: "
                f"{back.go_backwards} for both"  # type: ignore[attr-defined]
            )
        for name in ("return_sequences", "return_state", "stateful"):
            if getattr(back, name) != getattr(self.layer, name):
                raise ValueError(
                    f"`layer` and `backward_layer` need the same `{name}`. Received: "
                    f"{getattr(self.layer, name)} and {getattr(back, name)}"
                )
        return self

    def directions(self) -> tuple[LayerSpec, LayerSpec]:
        """(forward layer, backward layer): the backward one defaults to a copy of `layer`
        with `go_backwards` flipped."""
        if self.backward_layer is not None:
            return self.layer, self.backward_layer
        flipped = not self.layer.go_backwards  # type: ignore[attr-defined]
        return self.layer, self.layer.model_copy(update={"go_backwards": flipped})
