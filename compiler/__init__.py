"""Stage 3 of the pipeline: `ModelSpec` -> node graph -> shapes -> pure JAX `init` / `apply`."""

from kspec.compiler.compile import Aux as Aux
from kspec.compiler.compile import CompiledModel as CompiledModel
from kspec.compiler.compile import Variables as Variables
from kspec.compiler.compile import compile_model as compile_model
from kspec.compiler.registry import LOWERINGS as LOWERINGS
