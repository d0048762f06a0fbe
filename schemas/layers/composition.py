"""A whole model used as one layer (Keras' "models are callable, just like layers").

The nested `spec:` is a `GraphSpec` (a model without a training recipe), which is defined in
`schemas/model.py` from the full catalogue, which includes this class; that module resolves the
forward reference with `model_rebuild` once it exists. A file `include:` is resolved into an
inline `spec:` in `spec/`, so this schema only ever sees the inline form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from kspec.schemas.base import LayerSpec

if TYPE_CHECKING:
    from kspec.schemas.model import GraphSpec


class Model(LayerSpec):
    """A sub-model applied as one layer: its inputs are this node's inputs (in order), its
    outputs this node's outputs; its weights live under this node's name."""

    type: Literal["Model"] = "Model"
    spec: GraphSpec = Field(
        description="The sub-model: `inputs`, `layers`, `outputs` as in a top-level spec "
        "(or `include: path.yaml` instead, resolved relative to the including file)."
    )
