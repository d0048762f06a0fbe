"""Stage 2 of the pipeline: plain spec tree -> typed, validated `ModelSpec` (pydantic v2).

Never imports JAX: editors, linters and JSON-Schema tooling can use it anywhere.
"""

from kspec.schemas.base import LayerSpec as LayerSpec
from kspec.schemas.model import InputSpec as InputSpec
from kspec.schemas.model import ModelSpec as ModelSpec
from kspec.schemas.registry import layer_class as layer_class
from kspec.schemas.registry import layer_types as layer_types
from kspec.schemas.validate import validate_document as validate_document
