"""Everything a custom layer is written with: its schema base class, the lowering contract and
the helpers built-in lowerings use, and the registration calls.

    from typing import Literal
    from kspec.extend import LayerSpec, Lowering, register_layer

    class Scale(LayerSpec):
        '''y = x * factor'''
        type: Literal["Scale"] = "Scale"
        factor: float = 2.0

    register_layer(Scale, Lowering(Scale, infer_shape=..., apply=...))

See docs/composition.md ("Custom layers and plugins"). Importing this module imports JAX.
"""

from kspec.compiler.activations import activation as activation
from kspec.compiler.initializers import initialize as initialize
from kspec.compiler.lowering import Array as Array
from kspec.compiler.lowering import BuildEnv as BuildEnv
from kspec.compiler.lowering import LayerCall as LayerCall
from kspec.compiler.lowering import LayerWeights as LayerWeights
from kspec.compiler.lowering import Lowering as Lowering
from kspec.compiler.lowering import Shape as Shape
from kspec.compiler.lowering import Weights as Weights
from kspec.compiler.lowering import add_bias as add_bias
from kspec.compiler.lowering import drop_mask as drop_mask
from kspec.compiler.lowering import expect_inputs as expect_inputs
from kspec.compiler.lowering import expect_rank as expect_rank
from kspec.compiler.lowering import format_shape as format_shape
from kspec.compiler.lowering import keep_mask as keep_mask
from kspec.compiler.lowering import no_weights as no_weights
from kspec.errors import PluginWarning as PluginWarning
from kspec.errors import ShapeError as ShapeError
from kspec.runtime.plugins import load_plugins as load_plugins
from kspec.runtime.plugins import register_layer as register_layer
from kspec.runtime.plugins import unregister_layer as unregister_layer
from kspec.schemas.base import LayerSpec as LayerSpec
from kspec.schemas.fields import ActivationFunction as ActivationFunction
from kspec.schemas.fields import ActivityRegularizer as ActivityRegularizer
from kspec.schemas.fields import Constraint as Constraint
from kspec.schemas.fields import Initializer as Initializer
from kspec.schemas.fields import Regularizer as Regularizer
