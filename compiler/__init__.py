"""Stage 3 of the pipeline: canonical spec -> node graph -> shapes -> pure JAX `init` / `apply`.

This module is the compiler's public surface: runtime/ imports only what it names (an
import-linter contract checks it).
"""

from kspec.compiler.compile import compile_model as compile_model
from kspec.compiler.compile import lowering_of as lowering_of
from kspec.compiler.compile import weight_shapes as weight_shapes
from kspec.compiler.custom import CUSTOM_LOWERINGS as CUSTOM_LOWERINGS
from kspec.compiler.graph import Node as Node
from kspec.compiler.lowering import BuildEnv as BuildEnv
from kspec.compiler.lowering import Lowering as Lowering
from kspec.compiler.lowering import Shape as Shape
from kspec.compiler.lowering import abstract_key as abstract_key
from kspec.compiler.lowering import format_shape as format_shape
from kspec.compiler.memory import MemoryEstimate as MemoryEstimate
from kspec.compiler.memory import check_memory as check_memory
from kspec.compiler.memory import estimate_memory as estimate_memory
from kspec.compiler.model import Aux as Aux
from kspec.compiler.model import CompiledModel as CompiledModel
from kspec.compiler.model import Variables as Variables
from kspec.compiler.options import LoweringOptions as LoweringOptions
